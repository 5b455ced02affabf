"""The invitee's page without JavaScript: choose then confirm, the email's section links, a time
taken meanwhile, the searchable zone picker, the clock of the reader's language, calendar links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import format_span, uses_12_hour_clock, utc_iso
from tests.helpers.invite_fixtures import (
    create_sharing_invite,
    make_contact,
    make_owner,
    next_weekday_at,
    times_at,
)
from web.composition import Runtime
from web.services import invites as svc

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def owner(sqlite_runtime: Runtime) -> int:
    return make_owner(sqlite_runtime)


# A time on a 12-hour clock ("8:00 AM"): the page's links hold random tokens, which may
# contain the letters "PM" themselves.
TWELVE_HOUR_TIME = re.compile(r"\d:\d\d\s?[AP]M\b")


def _now() -> datetime:
    return datetime.now(UTC)


def _starts() -> tuple[datetime, datetime]:
    now = _now()
    return next_weekday_at(now, 3, 12, 0, BERLIN), next_weekday_at(now, 4, 8, 0, BERLIN)


def _invite(
    runtime: Runtime, owner: int, contact: int, *, share_times: bool = False
) -> tuple[str, svc.CreatedInvite]:
    create = create_sharing_invite if share_times else svc.create_invite
    created = create(
        runtime,
        owner,
        contact,
        times_at(*_starts()),
        send_email=False,
        now=_now(),
    )
    return urlsplit(created.url).path, created


def _bookings(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(models.Booking)) or 0


def test_choosing_a_time_without_javascript_asks_for_one_confirmation_and_books_only_on_post(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    path, created = _invite(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    first = created.times[0]
    html = client.get(path).get_data(as_text=True)
    # Each time is a "Choose" link (a GET), its confirm form closed.
    choose = f'href="?pick={utc_iso(first.start).replace(":", "%3A")}#times"'
    assert choose in html
    assert html.count(f'<form method="post" action="{path}" class="confirm" hidden>') == 2

    picked = client.get(f"{path}?pick={utc_iso(first.start)}")
    page = picked.get_data(as_text=True)
    assert picked.status_code == 200 and _bookings(sqlite_runtime) == 0  # a GET never books
    assert page.count(f'<form method="post" action="{path}" class="confirm">') == 1
    assert "Confirm this time</button>" in page and "autofocus" in page
    assert "Back to all times" in page

    booked = client.post(path, data={"action": "accept", "start": utc_iso(first.start)})
    assert booked.status_code == 303 and _bookings(sqlite_runtime) == 1


@pytest.mark.parametrize("section", ["decline", "suggest"])
def test_the_emails_decline_and_suggest_links_focus_their_section(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, section: str
) -> None:
    path, _ = _invite(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    html = client.get(f"{path}?action={section}").get_data(as_text=True)
    assert f'<section id="{section}" aria-labelledby="{section}-h" class="focus"' in html
    textarea = html[html.index(f'id="{section}-note"') :].split(">", 1)[0]
    assert "autofocus" in textarea
    other = "suggest" if section == "decline" else "decline"
    assert "autofocus" not in html[html.index(f'id="{other}-note"') :].split(">", 1)[0]


def test_a_time_taken_meanwhile_says_so_and_shows_the_rest(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    ben = make_contact(sqlite_runtime, owner, "Ben Ito", "ben@example.org")
    ana_path, ana_invite = _invite(sqlite_runtime, owner, ana)
    ben_path, _ = _invite(sqlite_runtime, owner, ben, share_times=True)
    taken, rest = ana_invite.times
    # Ben takes the first time; Ana then follows her email's link to that same time.
    svc.accept_invite(sqlite_runtime, ben_path.rsplit("/", 1)[1], taken.start, now=_now())
    page = client.get(f"{ana_path}?pick={utc_iso(taken.start)}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    label = format_span(taken.start, taken.end, "Europe/Berlin")
    assert label in html and "</time> is no longer available." in html
    assert "Here are the times still open" in html
    assert format_span(rest.start, rest.end, "Europe/Berlin") in html
    assert f'name="start" value="{utc_iso(taken.start)}"' not in html


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("America/Los_Angeles", "America/Los_Angeles"),
        ("berlin", "Europe/Berlin"),
        ("Los Angeles", "America/Los_Angeles"),
        ("europe/lisbon", "Europe/Lisbon"),
        ("São Paulo", "America/Sao_Paulo"),
        ("  ho chi   minh ", "Asia/Ho_Chi_Minh"),
        ("Kathmandu", "Asia/Kathmandu"),
    ],
)
def test_the_zone_picker_finds_a_zone_by_its_name_or_city(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, typed: str, zone: str
) -> None:
    path, created = _invite(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    html = client.get(path, query_string={"tz": typed}).get_data(as_text=True)
    t = created.times[0]
    assert format_span(t.start, t.end, zone) in html
    assert f'id="tz" name="tz" type="text" list="tz-list" value="{zone}"' in html


def test_a_zone_nobody_knows_is_named_and_the_times_stay_readable(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    path, created = _invite(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    page = client.get(path, query_string={"tz": "Atlantis"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "We know no time zone called “Atlantis”" in html
    t = created.times[0]
    assert format_span(t.start, t.end, "Europe/Berlin") in html


@pytest.mark.parametrize(
    ("language", "hour12"),
    [
        ("en-US,en;q=0.9", True),
        ("en-GB,en;q=0.9", False),
        ("de-DE,de;q=0.9,en;q=0.5", False),
        ("fr;q=0.4, en-US;q=0.8", True),
        ("es-MX", True),
        ("es-ES", False),
        ("", False),
        ("*", False),
        ("ko-KR", True),
        ("zh-CN", False),
    ],
)
def test_the_clock_follows_the_readers_language(language: str, hour12: bool) -> None:
    assert uses_12_hour_clock(language) is hour12


def test_the_invite_page_shows_a_12_hour_clock_to_an_american_reader(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    path, created = _invite(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    us = client.get(path, headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    de = client.get(path, headers={"Accept-Language": "de-DE"}).get_data(as_text=True)
    assert "12:00 PM–12:45 PM (Europe/Berlin)" in us
    assert "8:00 AM–8:45 AM (Europe/Berlin)" in us
    assert "12:00–12:45 (Europe/Berlin)" in de and "08:00–08:45 (Europe/Berlin)" in de
    assert not TWELVE_HOUR_TIME.search(de)


def test_the_booking_page_offers_google_outlook_and_ics(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    path, created = _invite(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    t = created.times[0]
    client.post(path, data={"action": "accept", "start": utc_iso(t.start)})
    html = client.get(f"{path}/booking").get_data(as_text=True)
    assert "Add to Google Calendar" in html and "Add to Outlook" in html
    assert f'href="{path}/event.ics"' in html
    google = _href(html, "add-google")
    outlook = _href(html, "add-outlook")
    g = parse_qs(urlsplit(google).query)
    assert google.startswith("https://calendar.google.com/calendar/render?")
    assert g["action"] == ["TEMPLATE"] and g["text"] == ["Coffee with Olivia Owner"]
    assert g["dates"] == [
        f"{t.start.astimezone(UTC):%Y%m%dT%H%M%SZ}/{t.end.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    ]
    o = parse_qs(urlsplit(outlook).query)
    assert outlook.startswith("https://outlook.live.com/calendar/0/deeplink/compose?")
    assert o["subject"] == ["Coffee with Olivia Owner"]
    assert o["startdt"] == [utc_iso(t.start)] and o["enddt"] == [utc_iso(t.end)]


def _href(html: str, element_id: str) -> str:
    from html import unescape

    tag = html[html.index(f'id="{element_id}"') :].split(">", 1)[0]
    return unescape(tag.split('href="', 1)[1].split('"', 1)[0])


def test_the_page_cache_serves_each_reader_the_page_of_their_own_clock(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    path, _ = _invite(sqlite_runtime, owner, make_contact(sqlite_runtime, owner))
    # The first visit of each language renders (and caches) its page; the second is served
    # from the page cache: neither gets the other's clock.
    for _ in range(2):
        us = client.get(path, headers={"Accept-Language": "en-US"}).get_data(as_text=True)
        gb = client.get(path, headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
        assert "12:00 PM–12:45 PM" in us and "12:00–12:45" in gb
        assert not TWELVE_HOUR_TIME.search(gb)


def test_a_link_to_a_time_that_has_started_says_so(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    now = _now()
    soon = now + timedelta(hours=1)
    later = next_weekday_at(now, 4, 8, 0, BERLIN)
    created = svc.create_invite(
        sqlite_runtime, owner, ana, times_at(soon, later), send_email=False, now=now, force=True
    )
    path = urlsplit(created.url).path
    # The first time has begun (moved to five minutes ago); the email's link to it explains.
    with transaction(sqlite_runtime.sessions) as session:
        for t in session.scalars(select(models.InviteTime)):
            if t.start == soon:
                t.start = now - timedelta(minutes=5)
                t.end = now + timedelta(minutes=40)
                moved = t.start
    html = client.get(f"{path}?pick={utc_iso(moved)}").get_data(as_text=True)
    assert "has already started." in html and "no longer available" not in html
    assert format_span(later, later + timedelta(minutes=45), "Europe/Berlin") in html
