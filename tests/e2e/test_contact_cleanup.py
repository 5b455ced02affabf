"""Cleaning up as a person does it in the browser: delete and merge contacts, remove the demo."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from integrations.storage import models
from scheduler.text import date_text
from tests.e2e.conftest import LiveApp, create_first_account
from web.services.demo import load_demo

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
# The browser's own zone differs from the owner's (Europe/Berlin) on the phone.
ZONES = {"desktop": "Europe/Berlin", "phone": "America/Los_Angeles"}


def _signed_in_with_demo(live: LiveApp, chromium: Any, viewport: str) -> tuple[Any, Any]:
    load_demo(live.runtime, live.runtime.owner_id(create=True))
    context = chromium.new_context(viewport=VIEWPORTS[viewport], timezone_id=ZONES[viewport])
    context.set_default_timeout(15000)
    page = context.new_page()
    create_first_account(page, live, PASSWORD)
    return context, page


def _withdraw_emails(live: LiveApp) -> list[dict[str, Any]]:
    with live.runtime.sessions() as session:
        rows = session.scalars(select(models.OutboxMessage)).all()
        return [r.payload for r in rows if r.payload.get("purpose") == "withdraw"]


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_deleting_a_contact_asks_first_withdraws_their_invite_and_tells_them(
    live: LiveApp, chromium: Any, viewport: str
) -> None:
    from playwright.sync_api import expect

    context, page = _signed_in_with_demo(live, chromium, viewport)
    try:
        page.get_by_role("link", name="Dashboard").click()
        first = page.locator("li.proposal").first
        name = first.locator("h3 a").inner_text()
        first.get_by_role("button", name="Approve and invite").click()
        expect(page.locator(".flash.ok")).to_contain_text(f"Invite to {name} created")
        page.get_by_role("link", name="Contacts", exact=True).click()
        page.get_by_role("link", name=name, exact=True).click()
        page.get_by_role("link", name="Delete…").click()
        expect(page.get_by_role("heading", name=f"Delete {name}?")).to_be_visible()
        expect(page.get_by_text("1 open invite will be withdrawn")).to_be_visible()
        live.shot(page, f"delete-confirm-{viewport}")
        page.get_by_role("button", name=f"Delete {name}").click()
        expect(page.locator(".flash.ok")).to_contain_text(
            f"Deleted {name} (1 open invite withdrawn; they have been told by email)"
        )
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
        expect(page.get_by_text(re.compile(r"^24 contacts"))).to_be_visible()
        [told] = _withdraw_emails(live)
        assert told["subject"].endswith("withdrew the coffee invitation")
        assert len(told["recipients"]) == 1 and "@example" in told["recipients"][0]
        assert "no longer works" in told["message"]
    finally:
        context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_merging_a_duplicate_joins_histories_and_fills_the_empty_fields(
    live: LiveApp, chromium: Any, viewport: str
) -> None:
    from playwright.sync_api import expect

    context, page = _signed_in_with_demo(live, chromium, viewport)
    met = (datetime.now(live.runtime.config.zone).date() - timedelta(days=3)).isoformat()
    try:
        # A duplicate added by hand, without an email: flagged, and a resubmission adds nothing.
        page.goto(live.url("/contacts/new"))
        page.get_by_label("Name").fill("J. Weber")
        page.get_by_label("How you met").fill("Berlin meetup")
        page.get_by_label("Last met (optional)").fill(met)
        page.get_by_role("button", name="Add contact").click()
        expect(page.locator(".flashes .flash.warn")).to_contain_text(
            "Added J. Weber without an email: add one before you can invite them."
        )
        expect(page.locator("#no-email")).to_be_visible()
        page.go_back()
        page.get_by_role("button", name="Add contact").click()
        expect(page.locator(".flash.ok")).to_contain_text(
            "J. Weber is already in your contacts; nothing was added twice."
        )
        page.get_by_role("link", name="← Contacts").click()
        expect(page.get_by_text(re.compile(r"^26 contacts"))).to_be_visible()
        row = page.locator("tr", has_text="J. Weber")
        expect(row.get_by_text("no email")).to_be_visible()

        page.get_by_role("link", name="Jonas Weber", exact=True).click()
        before = page.locator("ol.log li").count()
        assert before >= 1
        page.get_by_role("link", name="Merge with…").click()
        page.get_by_label("Duplicate", exact=True).select_option(label="J. Weber")
        page.get_by_role("button", name="Preview").click()
        live.shot(page, f"merge-preview-{viewport}")
        page.get_by_role("button", name="Merge J. Weber into Jonas Weber").click()
        expect(page.locator(".flash.ok")).to_contain_text("Merged J. Weber into Jonas Weber")
        history = page.locator("ol.log")
        expect(history.locator("li")).to_have_count(before + 1)  # Jonas's coffees and the meetup
        expect(history).to_contain_text(date_text(date.fromisoformat(met)))
        expect(page.locator("dl.facts")).to_contain_text("jonas.weber@example.com")
        live.shot(page, f"merged-contact-{viewport}")
        page.get_by_role("link", name="← Contacts").click()
        expect(page.get_by_text(re.compile(r"^25 contacts"))).to_be_visible()
        expect(page.get_by_role("link", name="J. Weber", exact=True)).to_have_count(0)
    finally:
        context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_settings_removes_the_demo_contacts_calendar_and_invites_after_asking(
    live: LiveApp, chromium: Any, viewport: str
) -> None:
    from playwright.sync_api import expect

    context, page = _signed_in_with_demo(live, chromium, viewport)
    try:
        page.get_by_role("link", name="Dashboard").click()
        page.locator("li.proposal").first.get_by_role("button", name="Approve and invite").click()
        expect(page.locator(".flash.ok")).to_contain_text("created")
        page.get_by_role("link", name="Settings").click()
        page.get_by_role("link", name="Remove demo data…").click()
        expect(page.get_by_role("heading", name="Remove demo data?")).to_be_visible()
        live.shot(page, f"demo-remove-confirm-{viewport}")
        page.get_by_role("button", name="Remove demo data").click()
        expect(page.locator(".flash.ok")).to_contain_text(
            "Demo data removed: 25 contacts, the demo calendar, 1 invite and 0 bookings."
        )
        expect(page.get_by_role("link", name="Remove demo data…")).to_have_count(0)
        page.get_by_role("link", name="Contacts", exact=True).click()
        expect(page.get_by_text("No contacts yet.")).to_be_visible()
        page.get_by_role("link", name="Calendars").click()
        expect(page.get_by_role("link", name="Work (demo)")).to_have_count(0)
        assert not (live.runtime.config.instance_dir / "demo-calendar.ics").exists()
    finally:
        context.close()
