"""The invitee's page in Chromium, on a desktop and a 390x844 phone, in Los Angeles and Berlin:
choose then confirm, the clock of the reader's locale, the searchable zone picker, a time taken
meanwhile, the email's "Not now" link, and the booking page's calendar links."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import format_span, utc_iso
from tests.e2e.conftest import LiveApp
from tests.helpers.invite_fixtures import (
    create_sharing_invite,
    make_contact,
    next_weekday_at,
    times_at,
)
from web.services.accounts import create_first_account
from web.services.invites import accept_invite, create_invite

pytestmark = pytest.mark.e2e

BERLIN = ZoneInfo("Europe/Berlin")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Invited:
    url: str
    times: list[tuple[datetime, datetime]]
    owner: int


@pytest.fixture
def invited(live: LiveApp) -> Iterator[Invited]:
    rt = live.runtime
    owner = create_first_account(rt, "olivia@example.com", "correct horse battery", "Olivia")
    ana = make_contact(rt, owner)
    now = datetime.now(UTC)
    # A Berlin lunch and breakfast: 03:00/23:00 in Los Angeles, so the clocks differ visibly.
    starts = (next_weekday_at(now, 3, 12, 0, BERLIN), next_weekday_at(now, 4, 8, 0, BERLIN))
    created = create_invite(rt, owner, ana, times_at(*starts), None, send_email=False, now=now)
    yield Invited(
        created.url.replace(rt.config.web.base_url, live.base_url),
        [(t.start, t.end) for t in created.times],
        owner,
    )


def _bookings(live: LiveApp) -> int:
    with transaction(live.runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(models.Booking)) or 0


CASES = [
    ("desktop-la-en-us", DESKTOP, "America/Los_Angeles", "en-US", True),
    ("phone-berlin-de", PHONE, "Europe/Berlin", "de-DE", False),
    ("phone-la-en-gb", PHONE, "America/Los_Angeles", "en-GB", False),
    ("desktop-berlin-en-us", DESKTOP, "Europe/Berlin", "en-US", True),
]


@pytest.mark.parametrize(
    ("name", "viewport", "zone", "locale", "hour12"), CASES, ids=[c[0] for c in CASES]
)
def test_choosing_asks_for_one_confirmation_in_the_readers_zone_and_clock(
    live: LiveApp,
    chromium: Any,
    invited: Invited,
    name: str,
    viewport: dict[str, int],
    zone: str,
    locale: str,
    hour12: bool,
) -> None:
    context = chromium.new_context(timezone_id=zone, locale=locale, viewport=viewport)
    page = context.new_page()
    page.goto(invited.url)
    assert page.locator("#tz").input_value() == zone
    labels = page.locator("ul.times time.when").all_inner_texts()
    assert labels == [format_span(a, b, zone, hour12=hour12) for a, b in invited.times]
    assert ("AM" in labels[0] or "PM" in labels[0]) is hour12
    live.shot(page, f"{name}-times")

    # The first tap opens the confirm step in place; nothing is booked yet.
    page.locator("ul.times a.choose").first.click()
    confirm = page.get_by_role("button", name="Confirm this time")
    assert confirm.count() == 1 and confirm.is_visible()
    assert page.evaluate("document.activeElement.textContent") == "Confirm this time"
    assert page.url == invited.url  # no page load, no GET that books
    assert _bookings(live) == 0
    live.shot(page, f"{name}-confirm")
    # Changing one's mind: another time's "Choose" moves the confirm step there.
    page.locator("ul.times a.choose").nth(1).click()
    assert page.locator("ul.times li.picked time.when").inner_text() == labels[1]
    page.get_by_role("button", name="Confirm this time").click()
    page.wait_for_url(invited.url + "/booking")
    assert _bookings(live) == 1
    assert page.locator("#booked-time").inner_text() == format_span(
        *invited.times[1], zone, hour12=hour12
    )

    # The booking page: Google Calendar, Outlook and the .ics.
    google = page.get_by_role("link", name="Add to Google Calendar")
    outlook = page.get_by_role("link", name="Add to Outlook")
    start, end = invited.times[1]
    dates = f"{start.astimezone(UTC):%Y%m%dT%H%M%SZ}/{end.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    assert parse_qs(urlsplit(google.get_attribute("href")).query)["dates"] == [dates]
    assert parse_qs(urlsplit(outlook.get_attribute("href")).query)["startdt"] == [utc_iso(start)]
    ics = page.get_by_role("link", name="Download .ics (Apple Calendar and others)")
    response = page.request.get(live.base_url + ics.get_attribute("href"))
    assert response.ok and b"BEGIN:VEVENT" in response.body()
    live.shot(page, f"{name}-booked")
    context.close()
    live.publish("invitee", ("confirm", "booked"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_zone_picker_is_searchable_and_large_enough_to_read(
    live: LiveApp, chromium: Any, invited: Invited, viewport: dict[str, int]
) -> None:
    context = chromium.new_context(
        timezone_id="America/Los_Angeles", locale="en-GB", viewport=viewport
    )
    page = context.new_page()
    page.goto(invited.url)
    picker = page.get_by_label("Times shown in")
    size = page.evaluate("parseFloat(getComputedStyle(document.getElementById('tz')).fontSize)")
    assert size >= 16
    # Every zone the browser knows is offered for the search, not only the short list.
    assert page.locator("#tz-list option[value='Pacific/Chatham']").count() == 1
    picker.fill("tokyo")
    picker.press("Enter")
    assert picker.input_value() == "Asia/Tokyo"
    labels = page.locator("ul.times time.when").all_inner_texts()
    assert labels == [format_span(a, b, "Asia/Tokyo") for a, b in invited.times]
    # The zone goes with the answer.
    assert page.locator("form.confirm input.tz-field").first.input_value() == "Asia/Tokyo"
    # Names the browser's list spells otherwise (Asia/Katmandu) or with accents: the server's.
    for typed, zone in (("Kathmandu", "Asia/Kathmandu"), ("são paulo", "America/Sao_Paulo")):
        picker.fill(typed)
        picker.press("Enter")
        page.wait_for_load_state()
        labels = page.locator("ul.times time.when").all_inner_texts()
        assert labels == [format_span(a, b, zone) for a, b in invited.times], typed
    picker.fill("Atlantis")
    picker.press("Enter")
    page.wait_for_load_state()
    error = page.locator("#tz-error").inner_text()
    assert "We know no time zone called “Atlantis”" in error
    # The times stay in the zone the error names.
    shown = error.rsplit("times are shown in ", 1)[1].rstrip(".")
    labels = page.locator("ul.times time.when").all_inner_texts()
    assert labels == [format_span(a, b, shown) for a, b in invited.times]
    assert page.locator("#tz").get_attribute("aria-invalid") == "true"
    live.shot(page, "zone-search")
    context.close()


def test_a_time_taken_meanwhile_says_so_and_the_email_links_focus_their_section(
    live: LiveApp, chromium: Any, invited: Invited
) -> None:
    rt = live.runtime
    ben = make_contact(rt, invited.owner, "Ben Ito", "ben@example.org")
    taken_start, taken_end = invited.times[0]
    other = create_sharing_invite(
        rt,
        invited.owner,
        ben,
        times_at(taken_start),
        None,
        send_email=False,
        now=datetime.now(UTC),
    )
    accept_invite(rt, other.url.rsplit("/", 1)[1], taken_start, now=datetime.now(UTC))

    context = chromium.new_context(timezone_id="Europe/Berlin", locale="de-DE", viewport=PHONE)
    page = context.new_page()
    page.goto(f"{invited.url}?pick={utc_iso(taken_start)}")
    alert = page.locator("#taken")
    assert alert.is_visible()
    assert format_span(taken_start, taken_end, "Europe/Berlin") in alert.inner_text()
    assert "is no longer available" in alert.inner_text()
    rest = page.locator("ul.times time.when").all_inner_texts()
    assert rest == [format_span(*invited.times[1], "Europe/Berlin")]
    live.shot(page, "taken-meanwhile")

    # "Not now?" from the email: the decline section is scrolled to, its note focused.
    page.goto(f"{invited.url}?action=decline")
    assert page.evaluate("document.activeElement.id") == "decline-note"
    top = page.evaluate("document.getElementById('decline').getBoundingClientRect().top")
    assert 0 <= top < PHONE["height"]
    page.goto(f"{invited.url}?action=suggest")
    assert page.evaluate("document.activeElement.id") == "suggest-note"
    live.shot(page, "suggest-focused")
    context.close()


def test_without_javascript_choosing_is_a_link_to_a_confirm_form(
    live: LiveApp, chromium: Any, invited: Invited
) -> None:
    context = chromium.new_context(
        java_script_enabled=False, timezone_id="Europe/Berlin", viewport=PHONE
    )
    page = context.new_page()
    page.goto(invited.url)
    page.locator("ul.times a.choose").first.click()
    page.wait_for_load_state()
    assert "pick=" in page.url and _bookings(live) == 0
    page.get_by_role("button", name="Confirm this time").click()
    expect(page).to_have_url(invited.url + "/booking")
    assert _bookings(live) == 1
    assert "You're booked" in page.content()
    context.close()
