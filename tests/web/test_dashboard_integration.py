"""Where the parts meet on the dashboard: delivery problems, past meetings found in calendars,
busy time in the week picture, the "did you meet?" redirect and the optional Meet link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from integrations.config import ConfigError, parse_config
from integrations.google import SCOPES
from integrations.mail import SmtpMailer
from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from scheduler.text import date_text
from tests.conftest import make_config
from tests.helpers.fake_google import FakeGoogle
from tests.helpers.invite_fixtures import (
    make_contact,
    make_owner,
    next_weekday_at,
    smtp_server,
    times_at,
)
from tests.web.support import Web, text
from web.composition import Runtime
from web.http.app import create_app
from web.instance import create_secret, ensure_instance
from web.services import invites as svc
from web.services.calendar_sync import sync_user
from web.services.google import save_connection
from web.services.outbox_worker import drain

BERLIN = ZoneInfo("Europe/Berlin")


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def add_ics_calendar(runtime: Runtime, owner: int, path: Path, body: str) -> None:
    """An ICS file registered as the owner's busy calendar, like an upload in the web app."""
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + body + "END:VCALENDAR\r\n",
        encoding="utf-8",
    )
    with transaction(runtime.sessions) as session:
        session.add(
            models.Calendar(
                user_id=owner,
                name="Work",
                kind="ics",
                location=str(path),
                counts_as_busy=True,
                receives_events=False,
                last_error="",
                created_at=_now(),
            )
        )
    sync_user(runtime, owner)  # what the worker does in the background


def vevent(uid: str, start: datetime, end: datetime, summary: str, *extra: str) -> str:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART:{_stamp(start)}",
        f"DTEND:{_stamp(end)}",
        f"SUMMARY:{summary}",
        *extra,
        "END:VEVENT",
    ]
    return "\r\n".join(lines) + "\r\n"


# --- delivery problems ------------------------------------------------------------------------


def test_an_email_the_smtp_server_refused_shows_on_the_dashboard_with_a_try_again_button(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    now = _now()
    svc.create_invite(
        sqlite_runtime, owner, ana, times_at(next_weekday_at(now, 3, 12, 0, BERLIN)), now=now
    )
    with smtp_server() as server:
        server.reject("ana@example.org", "550 5.1.1 <ana@example.org>: Recipient address rejected")
        mailer = SmtpMailer("127.0.0.1", server.port, security="none", timeout=5)
        assert drain(sqlite_runtime, mailer, now=now).failed == 1

    page = text(site.get("/"))
    section = page.split('id="h-delivery"', 1)[1].split("</section>", 1)[0]
    assert "Delivery problems" in page
    assert "to ana@example.org" in section and "gave up after 1 attempt" in section
    assert "The server said: SMTP server 127.0.0.1" in section
    assert "550 5.1.1" in section and "Recipient address rejected" in section
    [job_id] = re.findall(r'action="/outbox/(\d+)/retry"', section)
    assert "Try again now" in section

    with smtp_server() as server:  # the address works again
        assert site.post(f"/outbox/{job_id}/retry").status_code == 303
        mailer = SmtpMailer("127.0.0.1", server.port, security="none", timeout=5)
        assert drain(sqlite_runtime, mailer, now=_now()).sent == 1
        assert [r.message["To"].addresses[0].addr_spec for r in server.received] == [
            "ana@example.org"
        ]
    assert "Delivery problems" not in text(site.get("/"))


# --- "did you meet?" redirect ---------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["https://evil.example.com/phish", "//evil.example.com/", "/\\evil.example.com"]
)
def test_the_did_you_meet_form_does_not_redirect_to_another_site(
    site: Web, owner: int, sqlite_runtime: Runtime, target: str
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    long_ago = _now() - timedelta(days=10)
    start = long_ago + timedelta(days=2)
    created = svc.create_invite(
        sqlite_runtime, owner, ana, times_at(start), send_email=False, now=long_ago
    )
    token = created.url.rsplit("/", 1)[1]
    booking = svc.accept_invite(sqlite_runtime, token, start, now=long_ago + timedelta(hours=1))
    assert "Did you meet?" in text(site.get("/"))

    response = site.post(f"/invites/bookings/{booking.id}/met", {"met": "yes", "next": target})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).netloc in ("", "localhost")
    assert response.headers["Location"].endswith("/")
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.Booking, booking.id)
        assert row is not None and row.met == "yes"  # the answer still counts


def test_the_did_you_meet_form_goes_back_to_the_page_it_came_from(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    long_ago = _now() - timedelta(days=10)
    start = long_ago + timedelta(days=2)
    created = svc.create_invite(
        sqlite_runtime, owner, ana, times_at(start), send_email=False, now=long_ago
    )
    token = created.url.rsplit("/", 1)[1]
    booking = svc.accept_invite(sqlite_runtime, token, start, now=long_ago + timedelta(hours=1))
    response = site.post(
        f"/invites/bookings/{booking.id}/met", {"met": "no", "next": f"/contacts/{ana}"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/contacts/{ana}")


# --- past meetings from the calendars ---------------------------------------------------------


def test_a_past_meeting_with_a_contact_in_a_calendar_is_confirmed_in_bulk_on_the_dashboard(
    site: Web, owner: int, sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    jonas = make_contact(sqlite_runtime, owner, "Jonas Weber", "jonas@example.com")
    today = _now().astimezone(BERLIN).date()
    last_week = datetime.combine(today - timedelta(days=7), datetime.min.time(), BERLIN)
    coffee = last_week.replace(hour=8)
    lunch = last_week.replace(hour=12) - timedelta(days=3)
    add_ics_calendar(
        sqlite_runtime,
        owner,
        tmp_path / "work.ics",
        vevent(
            "coffee-ana@example.com",
            coffee,
            coffee + timedelta(minutes=45),
            "Coffee with Ana",
            "ORGANIZER:mailto:owner@example.com",
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:owner@example.com",
            "ATTENDEE;CN=Ana Souza;PARTSTAT=ACCEPTED:mailto:Ana@Example.org",
        )
        + vevent(
            "lunch-jonas@example.com",
            lunch,
            lunch + timedelta(hours=1),
            "Lunch with Jonas",
            "ATTENDEE:mailto:jonas@example.com",
        )
        + vevent(
            "future@example.com",
            coffee + timedelta(days=14),
            coffee + timedelta(days=14, hours=1),
            "Not yet happened",
            "ATTENDEE:mailto:ana@example.org",
        ),
    )

    page = text(site.get("/"))  # the sync found them
    section = page.split('id="h-pending"', 1)[1].split("</section>", 1)[0]
    assert "Meetings found in your calendars" in page
    assert "Coffee with Ana" in section and "Lunch with Jonas" in section
    assert "Not yet happened" not in section
    ids = re.findall(r'name="id" value="(\d+)" id="meeting-\d+" checked', section)
    assert len(ids) == 2
    with transaction(sqlite_runtime.sessions) as session:
        by_note = {
            row.notes: row.id
            for row in session.scalars(
                select(models.Interaction).where(models.Interaction.source == "calendar")
            )
        }

    # Untick Jonas's lunch (it did not happen) and confirm the rest in one go.
    response = site.post(
        "/meetings/confirm", {"id": [str(by_note["Coffee with Ana"])], "action": "confirm"}
    )
    assert response.status_code == 303
    after = text(site.get("/"))
    assert "1 meeting confirmed" in after
    assert "Lunch with Jonas" in after and "Coffee with Ana" not in after
    contact_page = text(site.get(f"/contacts/{ana}"))
    assert date_text(coffee) in contact_page  # last met is now that coffee

    assert (
        site.post(
            "/meetings/confirm", {"id": [str(by_note["Lunch with Jonas"])], "action": "reject"}
        ).status_code
        == 303
    )
    final = text(site.get("/"))
    assert "Meetings found in your calendars" not in final and "Past meetings" in final
    with transaction(sqlite_runtime.sessions) as session:
        rows = {
            r.notes: (r.confirmed, r.source, r.occurred_on)
            for r in session.scalars(select(models.Interaction))
            if r.contact_id in (ana, jonas) and r.external_id
        }
    assert rows == {
        "Coffee with Ana": (True, "calendar", coffee.date()),
        "Lunch with Jonas": (False, "rejected", lunch.date()),
    }
    # Reading the calendar again brings back neither.
    assert site.post("/meetings/scan").status_code == 303
    again = text(site.get("/"))
    assert "No new past meetings" in again and "Meetings found in your calendars" not in again


def test_look_for_past_meetings_reads_a_calendar_changed_since_the_last_look(
    site: Web, owner: int, sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    make_contact(sqlite_runtime, owner)
    path = tmp_path / "work.ics"
    add_ics_calendar(sqlite_runtime, owner, path, "")
    page = text(site.get("/"))
    assert "Past meetings" in page and "Look for past meetings now" in page

    yesterday = _now().astimezone(BERLIN).replace(hour=9, minute=0, second=0, microsecond=0)
    yesterday -= timedelta(days=1)
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        + vevent(
            "breakfast@example.com",
            yesterday,
            yesterday + timedelta(hours=1),
            "Breakfast with Ana",
            "ATTENDEE:mailto:ana@example.org",
        )
        + "END:VCALENDAR\r\n",
        encoding="utf-8",
    )
    # The dashboard never reads the calendars itself ...
    assert "Breakfast with Ana" not in text(site.get("/"))
    # ... the button does it at once.
    assert site.post("/meetings/scan").status_code == 303
    page = text(site.get("/"))
    assert "Found 1 new past meeting with your contacts" in page
    assert "Breakfast with Ana" in page


def test_another_users_found_meetings_cannot_be_confirmed_in_bulk(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    stranger = make_owner(sqlite_runtime, email="bob@example.com")
    bob_contact = make_contact(sqlite_runtime, stranger)
    with transaction(sqlite_runtime.sessions) as session:
        row = models.Interaction(
            user_id=stranger,
            contact_id=bob_contact,
            occurred_on=_now().date(),
            kind="meeting",
            notes="Bob's meeting",
            source="calendar",
            confirmed=False,
            external_id="x/2026-01-01",
            created_at=_now(),
        )
        session.add(row)
        session.flush()
        row_id = row.id
    response = site.post("/meetings/confirm", {"id": [str(row_id)], "action": "confirm"})
    assert response.status_code == 303
    assert "0 meetings confirmed" in text(site.get("/"))
    with transaction(sqlite_runtime.sessions) as session:
        kept = session.get(models.Interaction, row_id)
        assert kept is not None and not kept.confirmed


# --- busy time in the week picture -----------------------------------------------------------


def test_busy_time_outside_the_meal_windows_is_drawn_in_the_week_picture(
    site: Web, owner: int, sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    tomorrow = _now().astimezone(BERLIN).date() + timedelta(days=1)
    ten = datetime.combine(tomorrow, datetime.min.time(), BERLIN).replace(hour=10)
    evening = ten.replace(hour=22)
    add_ics_calendar(
        sqlite_runtime,
        owner,
        tmp_path / "work.ics",
        vevent("standup@example.com", ten, ten + timedelta(hours=1), "Design review")
        + vevent("late@example.com", evening, evening + timedelta(hours=1), "Late call"),
    )
    page = text(site.get("/"))
    week = page.split('class="week"', 1)[1].split("</figure>", 1)[0]
    day = f"{tomorrow:%a} {tomorrow.day}"
    assert f"{day} 10:00–11:00 busy" in week
    assert "22:00" not in week  # the axis stops at 20:00, so the late call is off the picture
    legend = week.split('class="legend"', 1)[1]
    assert "busy in your calendars" in legend and "meal window" in legend
    assert "free for a coffee" in legend
    # The hour axis reaches 10:00 to 11:00 and the block sits between the two labels.
    tops = {
        label: float(top)
        for top, label in re.findall(r'<span style="top: ([\d.]+)%">(\d\d:00)</span>', week)
    }
    assert max(tops) == "15:00"  # lunch ends 13:30; the late call does not stretch the axis
    block = re.search(
        r'class="block busy [^"]*" style="top: ([\d.]+)%; height: ([\d.]+)%"\s+title="10:00–11:00',
        week,
    )
    assert block is not None
    top, height = float(block.group(1)), float(block.group(2))
    assert top == pytest.approx(tops["10:00"]) and top + height == pytest.approx(tops["11:00"])


# --- optional Meet link -----------------------------------------------------------------------


def test_meet_link_is_off_by_default_and_must_be_true_or_false() -> None:
    assert parse_config("", "config.toml").google.meet_link is False
    assert parse_config("[google]\nmeet_link = true\n", "config.toml").google.meet_link is True
    with pytest.raises(ConfigError, match="meet_link"):
        parse_config('[google]\nmeet_link = "yes"\n', "config.toml")


@pytest.fixture
def google_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[tuple[Runtime, FakeGoogle]]:
    """A runtime with Google connected to a FakeGoogle; `meet_link` from the test's parameter."""
    with FakeGoogle(account_email="olivia@example.com") as fake:
        monkeypatch.setenv("MEETAGAIN_GOOGLE_CLIENT_SECRET", fake.client_secret)
        monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
        monkeypatch.chdir(tmp_path)
        section = {**fake.google_config_section(), "meet_link": request.param}
        config = make_config(tmp_path, f"sqlite:///{tmp_path / 'g.db'}", google=section)
        create_secret(ensure_instance(config.instance_dir))
        runtime = Runtime(config)
        runtime.upgrade_database()
        yield runtime, fake
        runtime.engine.dispose()


def _book_on_google(runtime: Runtime, fake: FakeGoogle, **where: str) -> None:
    owner = make_owner(runtime)
    save_connection(runtime, owner, fake.credentials(), tuple(SCOPES), "olivia@example.com")
    with transaction(runtime.sessions) as session:
        session.add(
            models.Calendar(
                user_id=owner,
                name="Google: olivia",
                kind="google",
                location="",
                external_id="olivia@example.com",
                counts_as_busy=True,
                receives_events=True,
                last_error="",
                created_at=_now(),
            )
        )
    now = _now()
    created = svc.create_invite(
        runtime,
        owner,
        make_contact(runtime, owner),
        [replace(t, **where) for t in times_at(next_weekday_at(now, 3, 12, 0, BERLIN))],
        send_email=False,
        now=now,
    )
    app = create_app(runtime=runtime, invite_rate_limit=None)
    response = app.test_client().post(
        urlsplit(created.url).path,
        data={"action": "accept", "start": utc_iso(created.times[0].start)},
    )
    assert response.status_code == 303
    drain(runtime, now=_now())


@pytest.mark.parametrize("google_runtime", [True], indirect=True)
def test_with_meet_link_on_the_booked_coffee_on_google_gets_a_meet_link(
    google_runtime: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google_runtime
    _book_on_google(runtime, fake)
    [event] = fake.live_events()
    assert event.attendees == ["ana@example.org"]
    assert event.query.get("conferenceDataVersion") == ["1"]
    create = event.body["conferenceData"]["createRequest"]
    assert create["requestId"] and create["conferenceSolutionKey"] == {"type": "hangoutsMeet"}
    assert event.meet_link and event.meet_link.startswith("https://meet.google.com/")


@pytest.mark.parametrize("google_runtime", [False], indirect=True)
def test_without_meet_link_the_booked_coffee_on_google_has_no_conference(
    google_runtime: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google_runtime
    _book_on_google(runtime, fake)
    [event] = fake.live_events()
    assert "conferenceData" not in event.body and "conferenceDataVersion" not in event.query
    assert event.meet_link is None


@pytest.mark.parametrize("google_runtime", [True], indirect=True)
def test_an_in_person_coffee_on_google_has_its_place_and_no_meet_link(
    google_runtime: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google_runtime
    place = "Café Einstein, Unter den Linden 42"
    _book_on_google(runtime, fake, mode="in_person", place=place, city="Berlin")
    [event] = fake.live_events()
    assert event.body["location"] == place
    assert f"Where: {place}" in event.body["description"]
    assert "conferenceData" not in event.body and event.meet_link is None


@pytest.mark.parametrize("google_runtime", [True], indirect=True)
def test_a_video_call_on_google_gets_a_meet_link(
    google_runtime: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google_runtime
    _book_on_google(runtime, fake, mode="video", place="Video call", city="Berlin")
    [event] = fake.live_events()
    assert event.meet_link and event.meet_link.startswith("https://meet.google.com/")
