"""The public invite pages and the invite services, through Flask's test client."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import func, select

from integrations.storage import models
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.invites import format_span, utc_iso
from scheduler.model import Contact
from tests.helpers.invite_fixtures import (
    create_sharing_invite,
    make_contact,
    make_owner,
    next_weekday_at,
    times_at,
)
from tests.web.support import sign_in_as
from web.composition import Runtime
from web.services import invites as svc
from web.services.invites import moving
from web.services.outbox_worker import message_of

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def owner(sqlite_runtime: Runtime) -> int:
    return make_owner(sqlite_runtime)


@pytest.fixture
def ana(sqlite_runtime: Runtime, owner: int) -> int:
    return make_contact(sqlite_runtime, owner)


def _now() -> datetime:
    return datetime.now(UTC)


def _invite(
    runtime: Runtime,
    owner: int,
    contact: int,
    *starts: datetime,
    send_email: bool = True,
    share_times: bool = False,  # another open invite offers these times too
) -> svc.CreatedInvite:
    if not starts:
        now = _now()
        starts = (
            next_weekday_at(now, 3, 12, 0, BERLIN),
            next_weekday_at(now, 4, 8, 0, BERLIN),
        )
    create = create_sharing_invite if share_times else svc.create_invite
    return create(  # type: ignore[no-any-return]
        runtime,
        owner,
        contact,
        times_at(*starts),
        send_email=send_email,
        now=_now(),
    )


def _path(url: str) -> str:
    return urlsplit(url).path


def _outbox(runtime: Runtime) -> list[models.OutboxMessage]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))


def _emails(runtime: Runtime) -> list[Any]:
    """Every queued email as the worker would send it, in queue order."""
    found = []
    for row in _outbox(runtime):
        if row.kind in ("email", "email_render"):
            raw, _, _ = message_of(runtime, row.kind, row.payload, row.message_id)
            found.append(message_from_bytes(raw, policy=policy.default))
    return found


def test_creating_an_invite_queues_its_email_in_the_same_transaction(
    sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    [mail] = _emails(sqlite_runtime)
    assert mail["To"].addresses[0].addr_spec == "ana@example.org"
    assert mail["Reply-To"].addresses[0].addr_spec == "olivia@example.com"
    assert mail["Message-ID"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    for t in created.times:
        link = f"{created.url}?pick={utc_iso(t.start)}"
        assert link in text and link in html
        # Unknown invitee zone: each time names its zone.
        assert format_span(t.start, t.end, "Europe/Berlin") in text
    assert f"{created.url}?action=suggest" in text and f"{created.url}?action=decline" in text
    assert "PyData Berlin" in text  # the editable message mentions how they met


def test_the_token_is_long_random_and_stored_only_as_its_hash(
    sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    token = created.url.rsplit("/", 1)[1]
    assert len(token) >= 32  # 24 random bytes, base64url
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.Invite, created.invite_id)
        assert row is not None
        assert row.token_hash == svc.hash_token(token) and token not in row.token_hash
    # Opaque: the URL is the base URL, /i/ and 24 random bytes, nothing else.
    assert created.url == f"http://127.0.0.1:5000/i/{token}"
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == 24


def test_the_invite_page_shows_times_with_zone_names_and_a_zone_picker(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    page = client.get(_path(created.url))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for t in created.times:
        assert format_span(t.start, t.end, "Europe/Berlin") in html
    assert 'id="tz" name="tz" type="text" list="tz-list"' in html
    assert '<option value="America/New_York" label="New York">' in html
    assert "<script src=" in html and "<script>" not in html  # no inline script (CSP)

    converted = client.get(_path(created.url) + "?tz=America/New_York").get_data(as_text=True)
    for t in created.times:
        assert format_span(t.start, t.end, "America/New_York") in converted


def test_a_known_invitee_zone_is_used_for_the_email_and_the_page(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    bob = make_contact(sqlite_runtime, owner, "Bob Stone", "bob@example.com", "America/New_York")
    created = _invite(sqlite_runtime, owner, bob)
    [mail] = _emails(sqlite_runtime)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = client.get(_path(created.url)).get_data(as_text=True)
    for t in created.times:
        assert format_span(t.start, t.end, "America/New_York") in text
        assert format_span(t.start, t.end, "America/New_York") in html


def test_accepting_a_time_books_it_and_redirects_to_the_confirmation(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    chosen = created.times[1]
    resp = client.post(
        _path(created.url),
        data={"action": "accept", "start": utc_iso(chosen.start), "tz": "America/New_York"},
    )
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith(_path(created.url) + "/booking")
    with transaction(sqlite_runtime.sessions) as session:
        [booking] = session.scalars(select(models.Booking)).all()
        assert booking.start == chosen.start and booking.status == "active"
        invite = session.get(models.Invite, created.invite_id)
        assert invite is not None and invite.status == "accepted"
        assert invite.invitee_timezone == "America/New_York"

    confirmation = client.get(resp.headers["Location"])
    assert confirmation.status_code == 200
    assert format_span(chosen.start, chosen.end, "America/New_York") in confirmation.get_data(
        as_text=True
    )
    ics = client.get(_path(created.url) + "/event.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    [event] = Calendar.from_ical(ics.data).walk("VEVENT")
    assert event.decoded("dtstart") == chosen.start

    # Without Google: an iCalendar REQUEST to the owner and to the invitee.
    mails = _emails(sqlite_runtime)[1:]
    requests = {}
    for mail in mails:
        for part in mail.walk():
            if part.get_content_type() == "text/calendar":
                requests[mail["To"].addresses[0].addr_spec] = part
    assert set(requests) == {"olivia@example.com", "ana@example.org"}
    for part in requests.values():
        assert part.get_param("method") == "REQUEST"
        cal = Calendar.from_ical(part.get_content())
        [ev] = cal.walk("VEVENT")
        assert str(ev["organizer"]) == "mailto:olivia@example.com"
        assert str(ev["attendee"]) == "mailto:ana@example.org"
        assert ev.decoded("dtstart") == chosen.start
    owner_mail = next(m for m in mails if m["To"].addresses[0].addr_spec == "olivia@example.com")
    assert "accepted" in owner_mail["Subject"]
    # Every calendar was read: no warning about an unchecked one.
    assert "could not be checked" not in owner_mail.get_body(("plain",)).get_content()


def test_accepting_a_time_that_is_not_offered_answers_409_with_the_remaining_times(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    wrong = created.times[0].start + timedelta(minutes=15)
    resp = client.post(_path(created.url), data={"action": "accept", "start": utc_iso(wrong)})
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    assert "no longer available" in html
    for t in created.times:
        assert utc_iso(t.start) in html


def test_a_booked_time_is_withdrawn_from_every_other_open_invite(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    bob = make_contact(sqlite_runtime, owner, "Bob Stone", "bob@example.com")
    now = _now()
    shared = next_weekday_at(now, 3, 12, 0, BERLIN)
    other = next_weekday_at(now, 5, 12, 0, BERLIN)
    first = _invite(sqlite_runtime, owner, ana, shared)
    second = _invite(sqlite_runtime, owner, bob, shared, other, share_times=True)
    ok = client.post(_path(first.url), data={"action": "accept", "start": utc_iso(shared)})
    assert ok.status_code == 303
    late = client.post(_path(second.url), data={"action": "accept", "start": utc_iso(shared)})
    assert late.status_code == 409
    html = late.get_data(as_text=True)
    assert utc_iso(other) in html and f'value="{utc_iso(shared)}"' not in html
    page = client.get(_path(second.url)).get_data(as_text=True)
    assert utc_iso(shared) not in page and utc_iso(other) in page
    ok2 = client.post(_path(second.url), data={"action": "accept", "start": utc_iso(other)})
    assert ok2.status_code == 303


def test_a_time_that_became_busy_on_the_owners_calendar_is_refused_live(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int, tmp_path: Path
) -> None:
    now = _now()
    start = next_weekday_at(now, 3, 12, 0, BERLIN)
    ics = tmp_path / "work.ics"
    ics.write_text(_calendar())
    with transaction(sqlite_runtime.sessions) as session:
        session.add(
            models.Calendar(
                user_id=owner,
                name="Work",
                kind="ics",
                location=str(ics),
                counts_as_busy=True,
                receives_events=False,
                last_error="",
                created_at=now,
            )
        )
    created = _invite(sqlite_runtime, owner, ana, start)
    # After the invite went out, a meeting lands on that time.
    ics.write_text(_calendar((start - timedelta(minutes=15), start + timedelta(minutes=30))))
    resp = client.post(_path(created.url), data={"action": "accept", "start": utc_iso(start)})
    assert resp.status_code == 409
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(models.Booking)) == 0


def _calendar(*events: tuple[datetime, datetime]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for n, (a, b) in enumerate(events):
        lines += [
            "BEGIN:VEVENT",
            f"UID:busy-{n}@test",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{a.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"DTEND:{b.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            "SUMMARY:Busy",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def test_declining_with_a_note_closes_the_invite_and_tells_the_owner(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    resp = client.post(_path(created.url), data={"action": "decline", "note": "Busy quarter!"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/thanks")
    assert client.get(resp.headers["Location"]).status_code == 200
    owner_mail = _emails(sqlite_runtime)[-1]
    assert owner_mail["To"].addresses[0].addr_spec == "olivia@example.com"
    assert "Busy quarter!" in owner_mail.get_body(preferencelist=("plain",)).get_content()
    assert client.get(_path(created.url)).status_code == 410


def test_suggesting_with_a_note_records_it_and_tells_the_owner(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    resp = client.post(
        _path(created.url), data={"action": "suggest", "note": "Any morning next month"}
    )
    assert resp.status_code == 303
    with transaction(sqlite_runtime.sessions) as session:
        invite = session.get(models.Invite, created.invite_id)
        assert invite is not None
        assert invite.status == "suggested" and invite.answer_note == "Any morning next month"
    assert (
        "Any morning next month"
        in _emails(sqlite_runtime)[-1].get_body(preferencelist=("plain",)).get_content()
    )


def test_asking_for_other_times_adds_free_times_in_the_same_windows(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    resp = client.post(_path(created.url), data={"action": "suggest"})
    assert resp.status_code == 303 and "more=1" in resp.headers["Location"]
    view = svc.load_invite(sqlite_runtime, created.url.rsplit("/", 1)[1], now=_now())
    added = [t for t in view.times if t.start not in {p.start for p in created.times}]
    assert added
    for t in added:
        local = t.start.astimezone(BERLIN)
        assert t.window == "lunch" and 12 <= local.hour < 14 and local.weekday() < 5
        assert t.start > _now() + timedelta(hours=24)  # the notice rule holds
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert utc_iso(added[0].start) in html


def test_the_invitee_can_cancel_and_the_owner_gets_a_cancel_ics(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    start = created.times[0].start
    client.post(_path(created.url), data={"action": "accept", "start": utc_iso(start)})
    resp = client.post(_path(created.url) + "/booking", data={"action": "cancel"})
    assert resp.status_code == 200
    with transaction(sqlite_runtime.sessions) as session:
        [booking] = session.scalars(select(models.Booking)).all()
        assert booking.status == "cancelled" and booking.sequence == 1
    cancels = [m for m in _emails(sqlite_runtime) if m["Subject"].startswith("Cancelled")]
    assert {m["To"].addresses[0].addr_spec for m in cancels} == {
        "olivia@example.com",
        "ana@example.org",
    }
    part = next(p for p in cancels[0].walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "CANCEL"
    [ev] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert int(ev["sequence"]) == 1


def test_rescheduling_keeps_the_booking_and_offers_fresh_times(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    start = created.times[0].start
    client.post(_path(created.url), data={"action": "accept", "start": utc_iso(start)})
    resp = client.post(_path(created.url) + "/booking", data={"action": "reschedule"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/move")
    # Still booked until a new time is picked (tests/web/test_move_booking.py picks one).
    assert client.get(_path(created.url) + "/booking").status_code == 200
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    assert utc_iso(created.times[1].start) in page.get_data(as_text=True)


def test_the_cli_creates_an_invite_and_prints_json(
    sqlite_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from click.testing import CliRunner

    from web.cli import cli

    owner_id = make_owner(sqlite_runtime, email="owner@example.com")
    make_contact(sqlite_runtime, owner_id)
    # A weekday lunch: the CLI refuses times outside the meal windows without --force.
    days = next(d for d in range(3, 10) if (_now() + timedelta(days=d)).weekday() < 5)
    when = next_weekday_at(_now(), days, 12, 30, BERLIN)
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            sqlite_runtime.config.database_url,
            "invites",
            "create",
            "--contact",
            "ana@example.org",
            "--at",
            when.replace(tzinfo=None).isoformat(),
            "--no-email",
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stderr may warn that no calendar is connected
    assert data["url"].startswith("http://127.0.0.1:5000/i/")
    assert [datetime.fromisoformat(t) for t in data["times"]] == [when]
    assert _emails(sqlite_runtime) == []


def test_did_you_meet_yes_logs_the_coffee_and_no_does_not(
    sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    token = created.url.rsplit("/", 1)[1]
    booking = svc.accept_invite(sqlite_runtime, token, created.times[0].start, now=_now())
    assert svc.to_confirm(sqlite_runtime, owner, now=_now()) == []
    later = booking.end + timedelta(minutes=5)
    [coffee] = svc.to_confirm(sqlite_runtime, owner, now=later)
    assert coffee.contact_name == "Ana Souza"
    questions = svc.record_meeting(
        sqlite_runtime, owner, booking.id, met=True, notes="Talked dbt", now=later
    )
    assert questions == ("How did the dbt migration go?",)
    assert svc.to_confirm(sqlite_runtime, owner, now=later) == []
    with transaction(sqlite_runtime.sessions) as session:
        [logged] = session.scalars(
            select(models.Interaction).where(models.Interaction.external_id == booking.ical_uid)
        ).all()
        assert logged.kind == "coffee" and logged.notes == "Talked dbt"
        assert logged.occurred_on == booking.start.astimezone(BERLIN).date()


def test_did_you_meet_refuses_notes_longer_than_a_contacts_notes(
    sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    token = created.url.rsplit("/", 1)[1]
    booking = svc.accept_invite(sqlite_runtime, token, created.times[0].start, now=_now())
    later = booking.end + timedelta(minutes=5)
    with pytest.raises(svc.UserError, match="20000 characters or fewer, got 20001"):
        svc.record_meeting(
            sqlite_runtime, owner, booking.id, met=True, notes="x" * 20001, now=later
        )
    # Nothing was logged: the coffee still waits for its answer.
    assert [c.booking_id for c in svc.to_confirm(sqlite_runtime, owner, now=later)] == [booking.id]


def test_withdrawing_with_an_overlong_note_withdraws_nothing(
    sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    created = _invite(sqlite_runtime, owner, ana)
    with pytest.raises(svc.UserError, match="2000 characters or fewer"):
        moving.withdraw_invite(
            sqlite_runtime, owner, created.invite_id, now=_now(), note="x" * 2001
        )
    view = svc.load_invite(sqlite_runtime, created.url.rsplit("/", 1)[1], now=_now())
    assert view.state == "open"


def test_the_did_you_meet_form_logs_the_coffee_for_its_owner(
    app: Flask, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    long_ago = _now() - timedelta(days=10)
    start = long_ago + timedelta(days=2)
    created = svc.create_invite(
        sqlite_runtime, owner, ana, times_at(start), send_email=False, now=long_ago
    )
    token = created.url.rsplit("/", 1)[1]
    booking = svc.accept_invite(sqlite_runtime, token, start, now=long_ago + timedelta(hours=1))
    [coffee] = svc.to_confirm(sqlite_runtime, owner, now=_now())
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    sign_in_as(client, sqlite_runtime, owner)
    with app.test_request_context("/"):
        from flask import render_template

        html = render_template("invites/_did_you_meet.html", coffee=coffee, csrf_token=lambda: "t")
    assert f'action="/invites/bookings/{booking.id}/met"' in html and "Did you meet Ana?" in html
    resp = client.post(f"/invites/bookings/{booking.id}/met", data={"met": "yes", "notes": "Good"})
    assert resp.status_code == 303
    assert svc.to_confirm(sqlite_runtime, owner, now=_now()) == []
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.Booking, booking.id)
        assert row is not None and row.met == "yes"


def test_the_cli_takes_the_times_from_this_weeks_plan_when_none_are_given(
    sqlite_runtime: Runtime,
) -> None:
    import json

    from click.testing import CliRunner

    from web.cli import cli
    from web.services.demo import load_demo

    owner_id = sqlite_runtime.owner_id(create=True)
    load_demo(sqlite_runtime, owner_id)
    db = ["--db", sqlite_runtime.config.database_url]
    plan = CliRunner().invoke(cli, [*db, "plan", "--format", "json"], catch_exceptions=False)
    assert plan.exit_code == 0, plan.output
    proposals = json.loads(plan.output)["proposals"]
    first = proposals[0]
    result = CliRunner().invoke(
        cli,
        [*db, "invites", "create", "--contact", first["email"], "--format", "json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    planned = [datetime.fromisoformat(t["start"]) for t in first["times"]]
    assert [datetime.fromisoformat(t) for t in data["times"]] == planned
    assert len(_emails(sqlite_runtime)) == 1  # the invite email is queued


def test_the_cli_explains_an_unknown_contact(sqlite_runtime: Runtime) -> None:
    from web.cli import main

    sqlite_runtime.owner_id(create=True)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "--db",
                sqlite_runtime.config.database_url,
                "invites",
                "create",
                "--contact",
                "nobody@example.org",
                "--at",
                "2030-01-01T12:00",
            ]
        )
    assert exit_info.value.code == 2


def test_the_worker_command_sends_queued_mail_to_the_file_outbox(
    sqlite_runtime: Runtime, owner: int, ana: int, capsys: pytest.CaptureFixture[str]
) -> None:
    from web.cli import main

    _invite(sqlite_runtime, owner, ana)
    with pytest.raises(SystemExit) as done:
        main(["--db", sqlite_runtime.config.database_url, "worker", "--once"])
    assert done.value.code == 0
    assert "sent 1, retrying 0, failed 0" in capsys.readouterr().out
    [eml] = (sqlite_runtime.config.instance_dir / "outbox").glob("*.eml")
    assert b"Subject: Coffee, Ana?" in eml.read_bytes()


def test_the_worker_command_refuses_a_database_that_is_not_set_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from web.cli import main

    with pytest.raises(SystemExit) as failed:
        main(["--db", f"sqlite:///{tmp_path / 'empty.db'}", "worker", "--once"])
    assert failed.value.code == 2
    assert "run `meetagain init`" in capsys.readouterr().err


def test_cancelling_a_coffee_offers_its_time_again_on_other_open_invites(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    bob = make_contact(sqlite_runtime, owner, "Bob Stone", "bob@example.com")
    shared = next_weekday_at(_now(), 3, 12, 0, BERLIN)
    first = _invite(sqlite_runtime, owner, ana, shared)
    second = _invite(sqlite_runtime, owner, bob, shared, share_times=True)
    booking = svc.accept_invite(sqlite_runtime, first.url.rsplit("/", 1)[1], shared, now=_now())
    assert svc.load_invite(sqlite_runtime, second.url.rsplit("/", 1)[1], now=_now()).remaining == ()

    svc.cancel_booking(sqlite_runtime, owner, booking.id, now=_now())
    [again] = svc.load_invite(sqlite_runtime, second.url.rsplit("/", 1)[1], now=_now()).remaining
    assert again.start == shared
    resp = client.post(_path(second.url), data={"action": "accept", "start": utc_iso(shared)})
    assert resp.status_code == 303


def test_the_invite_email_of_a_contact_in_the_owners_city_shows_that_zone_alone(
    sqlite_runtime: Runtime, owner: int, ana: int
) -> None:
    """Marcus lives in Berlin (no zone of his own): his email reads Berlin times, without the
    UTC line a reader whose zone is unknown gets."""
    with transaction(sqlite_runtime.sessions) as session:
        repo = ContactRepository(session, owner)
        marcus = repo.add(Contact("Marcus Lee", ("marcus@example.org",), city="Berlin")).id
    assert marcus is not None
    _invite(sqlite_runtime, owner, marcus)
    now = _now()
    _invite(sqlite_runtime, owner, ana, next_weekday_at(now, 5, 12, 0, BERLIN))
    berlin, unknown = (m.get_body(("plain",)).get_content() for m in _emails(sqlite_runtime))
    assert "(Europe/Berlin)" in berlin and "(UTC)" not in berlin
    assert "(Europe/Berlin)" in unknown and "(UTC)" in unknown
