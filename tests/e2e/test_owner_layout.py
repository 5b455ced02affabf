"""Owner pages laid out as a newcomer sees them on a desktop (1280 wide) and a phone (390 wide):
nothing cut off at a card's edge, nothing squeezed one word a line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import LiveApp, create_first_account
from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from web.services import invites as svc
from web.services.demo import load_demo

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}


def _signed_in_with_demo(live: LiveApp, chromium: Any, viewport: str) -> tuple[Any, Any, int]:
    owner = live.runtime.owner_id(create=True)
    load_demo(live.runtime, owner)
    context = chromium.new_context(viewport=VIEWPORTS[viewport], locale="en-US")
    context.set_default_timeout(15000)
    page = context.new_page()
    create_first_account(page, live, PASSWORD)
    page.get_by_role("link", name="Dashboard").wait_for()
    return context, page, owner


def _invite_ana(live: LiveApp, owner: int, now: datetime, *, send_email: bool) -> Any:
    """An invite to Ana for a weekday lunch 9 to 15 days ahead."""
    day = next(d for d in range(9, 16) if (now + timedelta(days=d)).weekday() < 5)
    start = next_weekday_at(now, day, 12, 15, live.runtime.config.zone)
    ana = make_contact(live.runtime, owner, "Ana Souza", "ana@example.org")
    return svc.create_invite(
        live.runtime, owner, ana, times_at(start), send_email=send_email, now=now, force=True
    )


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
    )


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_where_you_are_signed_in_fits_its_card(live: LiveApp, chromium: Any, viewport: str) -> None:
    context, page, _ = _signed_in_with_demo(live, chromium, viewport)
    try:
        page.goto(live.url("/settings"))
        card = page.locator(
            "section", has=page.get_by_role("heading", name="Where you are signed in")
        )
        box = card.bounding_box()
        assert box is not None
        live.shot(page, f"settings-sessions-{viewport}")
        for cell in (
            card.get_by_text("This browser"),
            card.locator("td[data-label='Last seen']").first,
            card.locator("table"),
        ):
            cell.scroll_into_view_if_needed()
            inner = cell.bounding_box()
            assert inner is not None and _inside(inner, card.bounding_box() or box), (
                f"{cell} sticks out of its card on the {viewport}"
            )
    finally:
        context.close()


def test_an_ask_for_other_times_reads_line_by_line_on_a_phone(live: LiveApp, chromium: Any) -> None:
    context, page, owner = _signed_in_with_demo(live, chromium, "phone")
    try:
        now = datetime.now(UTC)
        created = _invite_ana(live, owner, now, send_email=False)
        token = created.url.rsplit("/", 1)[1]
        svc.suggest_other_times(
            live.runtime, token, note="Mornings suit me better, any day next week", now=now
        )
        page.goto(live.url("/"))
        row = page.locator("tr.invite-row[data-status='suggested']")
        state = row.locator("td[data-label='State']")
        state.scroll_into_view_if_needed()
        live.shot(page, "dashboard-asked-for-other-times-phone")
        assert state.inner_text().startswith("asked for other times")
        note = state.get_by_text("Mornings suit me better")
        reply = state.get_by_role("link", name="Reply with times")
        boxes = [b for b in (x.bounding_box() for x in (note, reply)) if b is not None]
        assert len(boxes) == 2
        note_box, reply_box = boxes
        line = reply_box["height"]
        one_line = page.evaluate(
            "el => parseFloat(getComputedStyle(el).lineHeight)", reply.element_handle()
        )
        assert line < 1.5 * one_line, "'Reply with times' wraps: its column is too narrow"
        # One above the other, each as wide as the cell allows, not three narrow columns.
        assert note_box["y"] + note_box["height"] <= reply_box["y"] + 0.5
        assert note_box["width"] >= 180, f"the note is squeezed into {note_box['width']}px"
        cell = state.bounding_box()
        assert cell is not None and cell["x"] + cell["width"] <= 390
    finally:
        context.close()


def test_the_demo_outbox_fits_a_phone_however_long_an_emails_lines(
    live: LiveApp, chromium: Any
) -> None:
    from web.services.outbox_worker import drain

    context, page, owner = _signed_in_with_demo(live, chromium, "phone")
    try:
        now = datetime.now(UTC)
        _invite_ana(live, owner, now, send_email=True)
        drain(live.runtime, now=now)
        page.goto(live.url("/dev/outbox"))
        page.locator("article.mail pre").first.wait_for()
        live.shot(page, "dev-outbox-phone")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the outbox is {width}px wide on a 390px phone"
    finally:
        context.close()
