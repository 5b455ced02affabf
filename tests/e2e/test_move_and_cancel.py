"""Rescheduling keeps the booking, and cancel asks first with a reason, in a real browser: the
invitee on a phone in New York, the owner on a desktop in Berlin (and the other way round)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import format_span
from tests.e2e import test_invite_flow as flow
from tests.e2e.test_invite_flow import PASSWORD, World, _wait
from tests.helpers.invite_fixtures import next_weekday_at, times_at
from web.services import invites as svc

pytestmark = pytest.mark.e2e
world = flow.world  # the app with aiosmtpd, FakeGoogle (connected) and Ana, as a fixture here

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


def _weekdays(count: int) -> list[int]:
    now = datetime.now(UTC)
    return [d for d in range(3, 14) if (now + timedelta(days=d)).weekday() < 5][:count]


def _invite(world: World) -> tuple[str, list[datetime]]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(BERLIN)
    now = datetime.now(UTC)
    days = _weekdays(3)
    starts = [
        next_weekday_at(now, days[0], 12, 0, zone),
        next_weekday_at(now, days[1], 12, 30, zone),
        next_weekday_at(now, days[2], 13, 0, zone),
    ]
    with transaction(world.runtime.sessions) as session:
        contact = session.scalar(
            select(models.Contact.id).where(models.Contact.name == "Ana Souza")
        )
    assert contact is not None
    created = svc.create_invite(
        world.runtime, world.owner_id, contact, times_at(*starts), send_email=True, now=now
    )
    return created.url, starts


def _booking(world: World) -> models.Booking:
    with transaction(world.runtime.sessions) as session:
        [row] = session.scalars(select(models.Booking)).all()
        session.expunge(row)
        return row


def _sign_in(world: World, context: Any) -> Any:
    page = context.new_page()
    page.goto(world.base_url + "/login")
    page.fill("#f-email", "olivia@example.com")
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(world.base_url + "/")
    return page


def _mail_to(world: World, address: str, subject: str) -> Any:
    return _wait(
        f"{subject!r} to {address}",
        lambda: next(
            (
                r.message
                for r in world.smtp.received
                if r.recipients == [address] and subject in str(r.message["Subject"])
            ),
            None,
        ),
    )


def _text(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


@pytest.mark.parametrize(
    ("invitee_view", "owner_view"), [(PHONE, DESKTOP), (DESKTOP, PHONE)], ids=["phone", "desktop"]
)
def test_reschedule_keeps_the_booking_until_a_new_time_is_picked(
    world: World, chromium: Any, invitee_view: dict[str, int], owner_view: dict[str, int]
) -> None:
    url, starts = _invite(world)
    invitee = chromium.new_context(timezone_id=NEW_YORK, viewport=invitee_view)
    ana = invitee.new_page()
    ana.goto(url)
    ana.locator("ul.times a.choose").first.click()
    ana.get_by_role("button", name="Confirm this time").click()
    ana.wait_for_url(url + "/booking")
    event = _wait("events.insert", lambda: next(iter(world.google.live_events()), None))
    event_id = event.id
    _wait("the event id on the booking", lambda: _booking(world).calendar_event_id or None)

    # "Pick another time": the booking stays while Ana looks at other times, in her zone.
    ana.get_by_role("button", name="Pick another time").click()
    ana.wait_for_url(url + "/move")
    assert (
        format_span(starts[0], starts[0] + timedelta(minutes=45), NEW_YORK, hour12=True)
        in ana.locator("#current-time").inner_text()
    )
    booking = _booking(world)
    assert (booking.status, booking.start, booking.sequence) == ("active", starts[0], 0)
    labels = ana.locator("ul.move-times time").all_inner_texts()
    new_label = format_span(starts[1], starts[1] + timedelta(minutes=45), NEW_YORK, hour12=True)
    assert new_label in labels
    assert (
        format_span(starts[0], starts[0] + timedelta(minutes=45), NEW_YORK, hour12=True)
        not in labels
    )
    ana.screenshot(path=str(world.screens / f"move-{invitee_view['width']}.png"), full_page=True)
    ana.locator("ul.move-times label", has_text=new_label).click()
    ana.fill("#move-note", "A work trip came up")
    ana.get_by_role("button", name="Move the coffee").click()
    ana.wait_for_url(url + "/booking")
    assert ana.locator("#booked-time").inner_text() == new_label
    assert "Moved to" in ana.locator("#moved-note").inner_text()
    ana.screenshot(path=str(world.screens / f"moved-{invitee_view['width']}.png"), full_page=True)

    # The same booking moved: same UID, next sequence; the Google event moved in place.
    moved = _booking(world)
    assert (moved.id, moved.ical_uid, moved.sequence) == (booking.id, booking.ical_uid, 1)
    assert moved.start == starts[1] and moved.status == "active"
    _wait(
        "the Google event to move",
        lambda: next(
            (e for e in world.google.live_events() if e.id == event_id and e.start == starts[1]),
            None,
        ),
    )
    assert [e.id for e in world.google.live_events()] == [event_id]

    # Both sides hear "moved to", nobody "Cancelled"; the reason reaches the owner.
    to_owner = _mail_to(world, "olivia@example.com", "Moved to")
    assert 'Ana Souza\'s note: "A work trip came up"' in _text(to_owner)
    to_ana = _mail_to(world, "ana@example.org", "Moved to")
    # Emails keep the 24-hour clock; the pages follow the reader's (en-US here: 12-hour).
    assert format_span(starts[1], starts[1] + timedelta(minutes=45), NEW_YORK) in _text(to_ana)
    assert not any("Cancel" in str(r.message["Subject"]) for r in world.smtp.received)
    # The old invite link says where the coffee went.
    ana.goto(url)
    assert "moved to" in ana.content().lower()

    # The owner, in Berlin, sees it moved and moves it again from their booking page.
    owner = chromium.new_context(timezone_id=BERLIN, viewport=owner_view)
    page = _sign_in(world, owner)
    page.goto(f"{world.base_url}/invites/bookings/{booking.id}")
    # The owner's pages keep the 24-hour clock of the dashboard, whatever the browser's language.
    berlin_label = format_span(starts[1], starts[1] + timedelta(minutes=45), BERLIN)
    assert "Moved to " + berlin_label in page.locator("#moved-note").inner_text()
    page.get_by_role("button", name="Pick another time").click()
    page.wait_for_url(re.compile(r".*/move$"))
    third = format_span(starts[2], starts[2] + timedelta(minutes=45), BERLIN)
    page.locator("ul.move-times label", has_text=third).click()
    page.get_by_role("button", name="Move the coffee").click()
    page.wait_for_url(f"{world.base_url}/invites/bookings/{booking.id}")
    again = _booking(world)
    assert (again.id, again.start, again.sequence) == (booking.id, starts[2], 2)
    page.screenshot(path=str(world.screens / f"moved-owner-{owner_view['width']}.png"))
    _publish(world.screens)
    invitee.close()
    owner.close()


@pytest.mark.parametrize("who", ["invitee", "owner"])
def test_cancel_asks_first_and_the_reason_reaches_the_other_side(
    world: World, chromium: Any, who: str
) -> None:
    url, starts = _invite(world)
    invitee = chromium.new_context(timezone_id=NEW_YORK, viewport=PHONE)
    ana = invitee.new_page()
    ana.goto(url)
    ana.locator("ul.times a.choose").first.click()
    ana.get_by_role("button", name="Confirm this time").click()
    ana.wait_for_url(url + "/booking")
    booking = _booking(world)
    if who == "invitee":
        ana.get_by_role("link", name="Cancel the coffee…").click()
        ana.wait_for_url(url + "/cancel")
        assert _booking(world).status == "active"  # asking changes nothing
        assert ana.locator("#cancel-time").inner_text() == format_span(
            starts[0], starts[0] + timedelta(minutes=45), NEW_YORK, hour12=True
        )
        ana.fill("#cancel-note", "I am ill, sorry")
        ana.screenshot(path=str(world.screens / "cancel-invitee.png"), full_page=True)
        ana.get_by_role("button", name="Yes, cancel the coffee").click()
        ana.wait_for_load_state()
        assert "Cancelled" in ana.content()
        mail = _mail_to(world, "olivia@example.com", "Cancelled")
        assert 'Ana Souza\'s note: "I am ill, sorry"' in _text(mail)
        assert "Ana Souza cancelled your coffee" in _text(mail)
    else:
        owner = chromium.new_context(timezone_id=BERLIN, viewport=DESKTOP)
        page = _sign_in(world, owner)
        page.goto(f"{world.base_url}/invites/bookings/{booking.id}")
        page.get_by_role("link", name="Cancel the coffee…").click()
        page.wait_for_url(re.compile(r".*/cancel$"))
        assert _booking(world).status == "active"
        page.fill("#cancel-note", "My flight moved")
        page.screenshot(path=str(world.screens / "cancel-owner.png"), full_page=True)
        page.get_by_role("button", name="Yes, cancel the coffee").click()
        page.wait_for_load_state()
        owner.close()
        # Google tells Ana of the cancellation (sendUpdates=all); the reason comes by email.
        to_ana = _mail_to(world, "ana@example.org", "Cancelled")
        assert 'Olivia Owner\'s note: "My flight moved"' in _text(to_ana)
        assert "Olivia Owner cancelled your coffee" in _text(to_ana)
        mail = _mail_to(world, "olivia@example.com", "Cancelled")
        assert "You cancelled your coffee with Ana Souza" in _text(mail)
        assert 'Your note to Ana Souza: "My flight moved"' in _text(mail)
    assert _booking(world).status == "cancelled"
    invitee.close()
    _publish(world.screens)


def _publish(screens: Any) -> None:
    """Copy the screenshots to the team folder for people to look at (best effort)."""
    import shutil
    from pathlib import Path

    team = Path("/work/team/screens")
    try:
        team.mkdir(parents=True, exist_ok=True)
        for shot in sorted(screens.glob("*.png")):
            shutil.copy(shot, team / f"reschedule-{shot.name}")
    except OSError:
        return


def test_withdraw_asks_first_and_can_be_undone_within_the_minute(
    world: World, chromium: Any
) -> None:
    url, _ = _invite(world)
    owner = chromium.new_context(timezone_id=BERLIN, viewport=PHONE)
    page = _sign_in(world, owner)
    page.get_by_role("link", name="Withdraw…").first.click()
    page.wait_for_url(re.compile(r".*/withdraw$"))
    assert "Withdraw the invite to Ana Souza?" in page.content()
    page.fill("#withdraw-note", "Plans changed")
    page.get_by_role("button", name="Yes, withdraw").click()
    page.wait_for_url(re.compile(r".*/withdrawn$"))
    page.screenshot(path=str(world.screens / "withdrawn-undo.png"), full_page=True)
    with transaction(world.runtime.sessions) as session:
        [invite] = session.scalars(select(models.Invite)).all()
        assert invite.status == "cancelled"
    page.get_by_role("button", name="Undo").click()
    page.wait_for_url(world.base_url + "/")
    assert "nobody was told" in page.content()
    with transaction(world.runtime.sessions) as session:
        [invite] = session.scalars(select(models.Invite)).all()
        assert invite.status == "open"
    # Only the invite itself ever reached Ana: no note about a withdraw.
    assert not any(
        "withdraw" in str(r.message["Subject"]).lower()
        for r in world.smtp.received
        if r.recipients == ["ana@example.org"]
    )
    owner.close()
    _publish(world.screens)
