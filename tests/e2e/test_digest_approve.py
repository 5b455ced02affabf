"""The weekly digest's "approve and send" link, opened in Chromium as the owner would from
the email: valid (confirm page, then the invite is created), expired, reused and tampered."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from email import message_from_string, policy
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from integrations.storage import models
from integrations.storage.db import transaction
from tests.e2e.conftest import LiveApp
from tests.helpers.invite_fixtures import make_contact, make_owner
from web.services import digest
from web.services.outbox_worker import queue_scheduled_mail
from web.services.planning import plan_for_user

pytestmark = pytest.mark.e2e

BERLIN = ZoneInfo("Europe/Berlin")
VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
ZONES = {"desktop": "Europe/Berlin", "phone": "America/New_York"}


def _owner_with_a_due_contact(live: LiveApp) -> int:
    owner = make_owner(live.runtime)
    ana = make_contact(live.runtime, owner)
    with transaction(live.runtime.sessions) as session:
        session.add(
            models.Interaction(
                user_id=owner,
                contact_id=ana,
                occurred_on=datetime.now(UTC).date() - timedelta(days=5),
                kind="meeting",
                notes="",
                source="manual",
                confirmed=True,
                created_at=datetime.now(UTC),
            )
        )
    return owner


def _next_monday_seven() -> datetime:
    today = datetime.now(BERLIN).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime.combine(monday, time(7, 0), tzinfo=BERLIN)


def _digest_link(live: LiveApp) -> str:
    """The approve link of the digest the worker queues next Monday at 07:00."""
    assert queue_scheduled_mail(live.runtime, now=_next_monday_seven()) == 1
    with transaction(live.runtime.sessions, read_only=True) as session:
        [payload] = [
            r.payload
            for r in session.scalars(select(models.OutboxMessage))
            if r.payload.get("purpose") == "digest"
        ]
    message = message_from_string(payload["message"], policy=policy.default)
    text = str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    return next(
        line.split(": ", 1)[1].strip() for line in text.splitlines() if "Approve and send:" in line
    )


def _invites(live: LiveApp) -> int:
    with transaction(live.runtime.sessions, read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(models.Invite)) or 0)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_digest_link_confirms_then_creates_the_invite_once(
    live: LiveApp, chromium: Any, viewport: str
) -> None:
    from playwright.sync_api import expect

    _owner_with_a_due_contact(live)
    link = _digest_link(live)
    context = chromium.new_context(viewport=VIEWPORTS[viewport], timezone_id=ZONES[viewport])
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        response = page.goto(link)
        assert response is not None and response.status == 200
        expect(page.get_by_role("heading", name="Send this invite?")).to_be_visible()
        expect(page.get_by_text("Ana Souza").first).to_be_visible()
        live.shot(page, f"digest-confirm-{viewport}")
        assert _invites(live) == 0  # opening the link does nothing by itself
        page.get_by_role("button", name="Send the invite to Ana Souza").click()
        expect(page.get_by_role("heading", name="Invite sent")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("Your invite to Ana Souza is on its way")
        live.shot(page, f"digest-sent-{viewport}")
        assert _invites(live) == 1

        response = page.goto(link)  # the same link again
        assert response is not None and response.status == 410
        expect(page.get_by_role("heading", name="Already approved")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("Each approve link works once")
        assert _invites(live) == 1
        live.publish("digest", ("digest-confirm-phone", "digest-sent-phone"))
    finally:
        context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_expired_and_tampered_digest_links_say_why(
    live: LiveApp, chromium: Any, viewport: str
) -> None:
    from playwright.sync_api import expect

    owner = _owner_with_a_due_contact(live)
    now = datetime.now(UTC)
    [proposal, *_] = plan_for_user(live.runtime, owner, now=now).proposals
    expired, _ = digest.approve_link(live.runtime, owner, proposal, now=now - timedelta(days=8))
    valid = _digest_link(live)
    prefix, token = valid.rsplit("/", 1)
    middle = len(token) // 2
    tampered = (
        f"{prefix}/{token[:middle]}{'A' if token[middle] != 'A' else 'B'}{token[middle + 1 :]}"
    )
    context = chromium.new_context(viewport=VIEWPORTS[viewport], timezone_id=ZONES[viewport])
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        response = page.goto(expired)
        assert response is not None and response.status == 410
        expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text(
            "The times proposed for Ana Souza are out of date (the link expired on "
        )
        live.shot(page, f"digest-expired-{viewport}")

        response = page.goto(tampered)
        assert response is not None and response.status == 400
        expect(page.get_by_role("heading", name="This link is not valid")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("damaged or was changed")
        live.shot(page, f"digest-tampered-{viewport}")
        assert _invites(live) == 0
        live.publish("digest", ("digest-expired-phone",))
    finally:
        context.close()
