"""When the outside world fails: SMTP down or refusing, Google erroring or revoked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import render_template
from icalendar import Calendar
from sqlalchemy import select

from integrations.google import SCOPES
from integrations.mail import SmtpMailer
from integrations.storage import models, outbox
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from scheduler.model import Interval
from tests.conftest import make_config
from tests.helpers.fake_google import FakeGoogle
from tests.helpers.http_server import LoopbackHttpServer
from tests.helpers.invite_fixtures import (
    create_sharing_invite,
    make_contact,
    make_owner,
    next_weekday_at,
    smtp_server,
    times_at,
)
from tests.web.support import sign_in_as
from web.composition import Runtime
from web.http.app import create_app
from web.instance import create_secret, ensure_instance
from web.services import invites as svc
from web.services.google import connection, save_connection
from web.services.invites import busy
from web.services.outbox_worker import drain, message_of

BERLIN = ZoneInfo("Europe/Berlin")


def _now() -> datetime:
    return datetime.now(UTC)


def _invite(runtime: Runtime, owner: int, contact: int) -> svc.CreatedInvite:
    now = _now()
    starts = (next_weekday_at(now, 3, 12, 0, BERLIN), next_weekday_at(now, 4, 12, 0, BERLIN))
    # Several contacts get the same times here: what matters is the mail, not the slots.
    return create_sharing_invite(runtime, owner, contact, times_at(*starts), now=now)


def _rows(runtime: Runtime) -> list[models.OutboxMessage]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))


def test_mail_queued_while_smtp_is_down_is_delivered_once_it_is_back(
    sqlite_runtime: Runtime,
) -> None:
    owner = make_owner(sqlite_runtime)
    contacts = [
        make_contact(sqlite_runtime, owner, f"Guest {n}", f"g{n}@example.org") for n in range(3)
    ]
    with smtp_server() as server:
        port = server.port
        server.stop()  # the SMTP server goes down before anything is sent
        for contact in contacts:
            _invite(sqlite_runtime, owner, contact)
        mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=2)
        now = _now()
        first = drain(sqlite_runtime, mailer, now=now)
        assert (first.sent, first.retrying, first.failed) == (0, 3, 0)
        assert all("cannot connect" in r.last_error for r in _rows(sqlite_runtime))
        # Before the backoff runs out nothing is tried again.
        assert drain(sqlite_runtime, mailer, now=now + timedelta(seconds=5)).handled == 0

        server.start()  # back, on the same port
        second = drain(sqlite_runtime, mailer, now=now + timedelta(minutes=5))
        assert (second.sent, second.retrying, second.failed) == (3, 0, 0)
        ids = sorted(str(r.message["Message-ID"]) for r in server.received)
        assert ids == sorted(r.message_id for r in _rows(sqlite_runtime))  # all, once each
        assert all(r.status == "sent" and r.last_error == "" for r in _rows(sqlite_runtime))
        assert drain(sqlite_runtime, mailer, now=now + timedelta(hours=5)).handled == 0
        assert len(server.received) == 3


def test_a_recipient_the_smtp_server_refuses_is_a_visible_failure(
    sqlite_runtime: Runtime,
) -> None:
    owner = make_owner(sqlite_runtime, password="correct horse battery")
    ana = make_contact(sqlite_runtime, owner)
    _invite(sqlite_runtime, owner, ana)
    with smtp_server() as server:
        server.reject("ana@example.org", "550 5.1.1 <ana@example.org>: Recipient address rejected")
        mailer = SmtpMailer("127.0.0.1", server.port, security="none", timeout=5)
        result = drain(sqlite_runtime, mailer, now=_now())
        assert (result.sent, result.failed) == (0, 1)
    with transaction(sqlite_runtime.sessions) as session:
        [problem] = outbox.problems(session, owner)
        assert problem.status == "failed"
        assert "550" in problem.last_error and "Recipient address rejected" in problem.last_error

    [shown] = svc.delivery_problems(sqlite_runtime, owner)
    assert shown.status == "failed" and "Recipient address rejected" in shown.last_error
    app = create_app(runtime=sqlite_runtime, mailer=mailer)
    with app.test_request_context("/"):
        html = render_template("invites/_delivery_problems.html", delivery_problems=[shown])
    assert "Recipient address rejected" in html and "gave up after 1 attempt" in html
    client = app.test_client()
    sign_in_as(client, sqlite_runtime, owner)
    page = client.get("/dev/outbox").get_data(as_text=True)
    assert "Recipient address rejected" in page


@pytest.fixture
def google(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, FakeGoogle]]:
    """A runtime whose [google] section points at a FakeGoogle, with mail to a file outbox."""
    with FakeGoogle(account_email="olivia@example.com") as fake:
        monkeypatch.chdir(tmp_path)
        yield _google_runtime(tmp_path, monkeypatch, fake), fake


def _google_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeGoogle, **google: Any
) -> Runtime:
    """A migrated SQLite runtime whose [google] section (plus `google`) points at `fake`."""
    monkeypatch.setenv("MEETAGAIN_GOOGLE_CLIENT_SECRET", fake.client_secret)
    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    section = {**fake.google_config_section(), **google}
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'g.db'}", google=section)
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    return runtime


def _connect_google(runtime: Runtime, fake: FakeGoogle, owner: int) -> None:
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


def _accept(runtime: Runtime, created: svc.CreatedInvite) -> int:
    app = create_app(runtime=runtime, invite_rate_limit=None)
    resp = app.test_client().post(
        urlsplit(created.url).path,
        data={"action": "accept", "start": utc_iso(created.times[0].start)},
    )
    assert resp.status_code == 303
    with transaction(runtime.sessions) as session:
        [booking] = session.scalars(select(models.Booking)).all()
        return booking.id


def _booking(runtime: Runtime, booking_id: int) -> models.Booking:
    with transaction(runtime.sessions) as session:
        row = session.get(models.Booking, booking_id)
        assert row is not None
        return row


def _calendar_mails(runtime: Runtime) -> dict[str, Any]:
    """Recipient -> the text/calendar part of each queued email that carries one."""
    found = {}
    for row in _rows(runtime):
        if row.kind not in ("email", "email_render"):
            continue
        raw, _, _ = message_of(runtime, row.kind, row.payload, row.message_id)
        msg = message_from_bytes(raw, policy=policy.default)
        for part in msg.walk():
            if part.get_content_type() == "text/calendar":
                found[msg["To"].addresses[0].addr_spec] = part
    return found


def test_a_google_503_keeps_the_booking_tells_the_owner_and_succeeds_on_retry(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google
    owner = make_owner(runtime)
    _connect_google(runtime, fake, owner)
    created = _invite(runtime, owner, make_contact(runtime, owner))
    booking_id = _accept(runtime, created)
    assert any(r.kind == "calendar_insert" for r in _rows(runtime))

    fake.fail_next("events.insert", 503, times=5)  # more than one attempt's quick retries
    now = _now()
    first = drain(runtime, now=now)
    assert first.retrying == 1
    failed = _booking(runtime, booking_id)
    assert failed.status == "active" and failed.calendar_event_id == ""
    assert "503" in failed.calendar_error  # shown on the dashboard
    # The invitee still gets the .ics right away.
    assert "ana@example.org" in _calendar_mails(runtime)

    second = drain(runtime, now=now + timedelta(minutes=5))
    assert second.failed == 0
    done = _booking(runtime, booking_id)
    assert done.calendar_event_id and done.calendar_error == ""
    [event] = fake.live_events()
    assert event.attendees == ["ana@example.org"]
    assert event.send_updates == "all"
    assert event.start == created.times[0].start


def test_the_invitation_that_falls_back_to_email_links_to_the_invitees_booking(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google
    owner = make_owner(runtime)
    _connect_google(runtime, fake, owner)
    created = _invite(runtime, owner, make_contact(runtime, owner))
    _accept(runtime, created)
    fake.fail_next("events.insert", 503, times=5)
    drain(runtime, now=_now())
    bodies = []
    for row in _rows(runtime):
        if row.kind in ("email", "email_render") and row.payload.get("purpose") == "confirmation":
            raw, _, _ = message_of(runtime, row.kind, row.payload, row.message_id)
            msg = message_from_bytes(raw, policy=policy.default)
            bodies.append(str(msg.get_body(preferencelist=("plain",)).get_content()))
    # Google's invitation, then the .ics by email: both confirmations link to the booking.
    assert len(bodies) == 2
    for body in bodies:
        assert created.url + "/booking" in body


def test_a_token_revoked_during_booking_keeps_the_booking_and_falls_back_to_email(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google
    owner = make_owner(runtime)
    _connect_google(runtime, fake, owner)
    created = _invite(runtime, owner, make_contact(runtime, owner))
    fake.revoke_refresh_tokens()  # the user revoked meetagain in their Google account
    booking_id = _accept(runtime, created)  # the live busy check cannot reach Google

    drain(runtime, now=_now())
    booking = _booking(runtime, booking_id)
    assert booking.status == "active" and booking.calendar_event_id == ""
    # The live check found the grant revoked, before booking: the invitation goes by email
    # straight away, and Google is not asked to write an event it would refuse.
    assert fake.requests_to("events.insert") == []
    conn = connection(runtime, owner)
    assert conn is not None and conn.status == "needs_reconnect"
    assert fake.live_events() == []
    parts = _calendar_mails(runtime)
    assert set(parts) == {"ana@example.org", "olivia@example.com"}
    for part in parts.values():
        assert part.get_param("method") == "REQUEST"
        [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
        assert str(event["uid"]) == booking.ical_uid


def test_cancelling_a_coffee_on_google_deletes_the_event_with_updates(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google
    owner = make_owner(runtime)
    _connect_google(runtime, fake, owner)
    created = _invite(runtime, owner, make_contact(runtime, owner))
    booking_id = _accept(runtime, created)
    drain(runtime, now=_now())
    [event] = fake.live_events()

    svc.cancel_booking(runtime, owner, booking_id, now=_now())
    drain(runtime, now=_now())
    assert fake.live_events() == []
    [deleted] = [e for e in fake.events if e.id == event.id]
    assert deleted.deleted and deleted.delete_query.get("sendUpdates") == ["all"]
    # Google tells Ana; the owner still gets a METHOD:CANCEL by email.
    cancels = {
        to: part
        for to, part in _calendar_mails(runtime).items()
        if part.get_param("method") == "CANCEL"
    }
    assert set(cancels) == {"olivia@example.com"}


def test_deleting_a_contact_with_a_coffee_on_google_removes_the_event_too(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    from web.services.contacts import delete_contact

    runtime, fake = google
    owner = make_owner(runtime)
    _connect_google(runtime, fake, owner)
    contact = make_contact(runtime, owner)
    _accept(runtime, _invite(runtime, owner, contact))
    drain(runtime, now=_now())
    [event] = fake.live_events()

    done = delete_contact(runtime, owner, contact, now=_now())
    assert (done.cancelled, done.withdrawn) == (1, 0)
    drain(runtime, now=_now())
    # The booking went with the contact; its event on Google goes too, Google telling Ana.
    assert fake.live_events() == []
    [deleted] = [e for e in fake.events if e.id == event.id]
    assert deleted.deleted and deleted.delete_query.get("sendUpdates") == ["all"]


def _accept_while_google_hangs(
    runtime: Runtime, fake: FakeGoogle, created: svc.CreatedInvite
) -> tuple[int, float]:
    """Accept while freeBusy takes 6 s to answer: the booking id and the seconds it took."""
    fake.stall_next("freeBusy", 6.0, times=3)
    began = time.monotonic()
    booking_id = _accept(runtime, created)
    return booking_id, time.monotonic() - began


@pytest.mark.parametrize(
    ("configured", "cap"),
    [(0.5, busy.LIVE_TIMEOUT), (20.0, 0.5)],
    ids=["[google] timeout", "the accept's own cap"],
)
def test_a_slow_google_does_not_hold_up_an_accept(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    configured: float,
    cap: float,
) -> None:
    # The live busy read happens inside the booking's lock, so it waits at most [google]
    # timeout, capped for the accept (5 s; shortened here to keep the test quick); what Google
    # could not answer in time becomes a warning.
    monkeypatch.setattr(busy, "LIVE_TIMEOUT", cap)
    with FakeGoogle(account_email="olivia@example.com") as fake:
        runtime = _google_runtime(tmp_path, monkeypatch, fake, timeout=configured)
        owner = make_owner(runtime)
        _connect_google(runtime, fake, owner)
        created = _invite(runtime, owner, make_contact(runtime, owner))
        booking_id, elapsed = _accept_while_google_hangs(runtime, fake, created)
        assert elapsed < 3.0, f"the accept waited {elapsed:.1f} s for Google"
        assert _booking(runtime, booking_id).status == "active"
        assert "cannot reach Google Calendar" in caplog.text
        # The owner is told the booking went ahead unchecked, so a clash can be caught.
        [notice] = [
            message_from_bytes(
                message_of(runtime, r.kind, r.payload, r.message_id)[0], policy=policy.default
            )
            for r in _rows(runtime)
            if r.kind == "email_render" and r.payload.get("render") == "booking_owner"
        ]
        body = notice.get_body(preferencelist=("plain",)).get_content()
        assert "could not be checked at the moment of booking" in body
        assert "cannot reach Google Calendar" in body


def _calendars(runtime: Runtime) -> list[models.Calendar]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(models.Calendar)))


def test_several_slow_calendars_hold_an_accept_up_once_not_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Google and a feed both hang. Each is waited for at most LIVE_TIMEOUT, but together only
    # LIVE_DEADLINE (both shortened here so the test is quick): the accept does not add them up.
    monkeypatch.setattr(busy, "LIVE_TIMEOUT", 3.0)
    monkeypatch.setattr(busy, "LIVE_DEADLINE", 1.0)
    with FakeGoogle(account_email="olivia@example.com") as fake, LoopbackHttpServer() as feeds:
        runtime = _google_runtime(tmp_path, monkeypatch, fake)
        owner = make_owner(runtime)
        _connect_google(runtime, fake, owner)
        feed = feeds.serve("/team.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", delay=6.0)
        with transaction(runtime.sessions) as session:
            session.add(
                models.Calendar(
                    user_id=owner,
                    name="Team",
                    kind="ics",
                    location=feed,
                    counts_as_busy=True,
                    receives_events=False,
                    last_error="",
                    created_at=_now(),
                )
            )
        created = _invite(runtime, owner, make_contact(runtime, owner))
        booking_id, elapsed = _accept_while_google_hangs(runtime, fake, created)
        assert elapsed < 2.5, f"the accept waited {elapsed:.1f} s for the calendars"
        assert _booking(runtime, booking_id).status == "active"
        [row] = [r for r in _rows(runtime) if r.payload.get("render") == "booking_owner"]
        unread = sorted(u["warning"] for u in row.payload["unread_calendars"])
        [google_name] = [r.name for r in _calendars(runtime) if r.kind == "google"]
        assert unread == sorted(
            [f"{google_name}: no answer within 1 s", "Team: no answer within 1 s"]
        )
        assert feed not in unread  # a feed's address may be secret: the name stands for it


# --- a Google grant revoked while its access token is still valid ------------------------------


RAW = ("RefreshError", "invalid_grant", "Traceback")


def test_a_grant_revoked_before_its_token_expires_asks_to_reconnect_at_the_first_call(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    """Google answers the still-valid access token 401 and the refresh invalid_grant: the
    first call (here the accept's busy check, a freeBusy) marks the connection at once."""
    runtime, fake = google
    owner = make_owner(runtime)
    _connect_google(runtime, fake, owner)
    fake.revoke_refresh_tokens()  # the owner removed meetagain in their Google account
    span = Interval(_now() + timedelta(days=1), _now() + timedelta(days=2))

    report = busy.read_busy(busy.owner_calendars(runtime, owner), span)

    assert [r.status for r in fake.requests_to("freeBusy")] == [401]
    conn = connection(runtime, owner)
    assert conn is not None and conn.status == "needs_reconnect"
    # Named as the owner's calendar is named (the registry's one rule for warnings).
    [warning] = map(str, report.warnings)
    assert warning.endswith(
        ": Google Calendar needs reconnecting: Google no longer accepts meetagain's access "
        "(it was revoked or expired)."
    )
    assert not any(raw in warning for raw in RAW)
    app = create_app(runtime=runtime, invite_rate_limit=None)
    with app.test_client() as client:
        sign_in_as(client, runtime, owner)
        for url in ("/contacts", "/settings", "/calendars"):
            page = client.get(url).get_data(as_text=True)
            assert "Google Calendar needs reconnecting" in page, url
            assert not [word for word in RAW if word in page], url


def test_a_grant_revoked_before_reloading_the_calendar_list_is_said_plainly(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google
    owner = make_owner(runtime, password="correct horse battery")
    _connect_google(runtime, fake, owner)
    fake.revoke_refresh_tokens()
    app = create_app(runtime=runtime, invite_rate_limit=None)
    app.config["WTF_CSRF_ENABLED"] = False
    with app.test_client() as client:
        sign_in_as(client, runtime, owner)
        answer = client.post("/calendars/google/refresh", follow_redirects=True)
    page = answer.get_data(as_text=True)
    assert "Google Calendar needs reconnecting" in page
    assert not [word for word in RAW if word in page]
    assert [r.status for r in fake.requests_to("calendarList")] == [401]
    conn = connection(runtime, owner)
    assert conn is not None and conn.status == "needs_reconnect"


def test_a_token_refreshed_after_a_401_is_saved_so_the_next_call_does_not_refresh_again(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google
    owner = make_owner(runtime)
    _connect_google(runtime, fake, owner)
    fake.expire_access_tokens()  # Google ended the token early; our stored expiry says valid
    span = Interval(_now() + timedelta(days=1), _now() + timedelta(days=2))
    before, refreshes = _stored_token(runtime, owner), len(fake.requests_to("token"))

    assert busy.read_busy(busy.owner_calendars(runtime, owner), span).warnings == ()
    assert len(fake.requests_to("token")) == refreshes + 1  # the 401, then one refresh
    saved = _stored_token(runtime, owner)
    assert saved["token"] != before["token"]
    assert saved["refresh_token"] == before["refresh_token"]

    assert busy.read_busy(busy.owner_calendars(runtime, owner), span).warnings == ()
    assert len(fake.requests_to("token")) == refreshes + 1  # the saved token was used
    assert [r.status for r in fake.requests_to("freeBusy")] == [401, 200, 200]
    assert _stored_token(runtime, owner) == saved


def _stored_token(runtime: Runtime, owner: int) -> dict[str, Any]:
    import json

    from web.services.accounts import secret_box

    row = connection(runtime, owner)
    assert row is not None
    data: dict[str, Any] = json.loads(secret_box(runtime).decrypt_text(row.token_encrypted))
    return data


def test_a_coffee_written_to_google_carries_the_owners_time_zone(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google
    owner = make_owner(runtime, timezone="America/New_York")
    _connect_google(runtime, fake, owner)
    created = _invite(runtime, owner, make_contact(runtime, owner))
    _accept(runtime, created)
    drain(runtime, now=_now())

    [event] = fake.live_events()
    start = created.times[0].start.astimezone(ZoneInfo("America/New_York"))
    assert event.body["start"] == {"dateTime": start.isoformat(), "timeZone": "America/New_York"}
    assert event.body["end"]["timeZone"] == "America/New_York"


def test_a_grant_revoked_after_the_booking_sends_the_invitation_by_email_and_asks_to_reconnect(
    google: tuple[Runtime, FakeGoogle],
) -> None:
    runtime, fake = google
    owner = make_owner(runtime)
    _connect_google(runtime, fake, owner)
    created = _invite(runtime, owner, make_contact(runtime, owner))
    booking_id = _accept(runtime, created)
    fake.revoke_refresh_tokens()  # between the booking and the calendar write

    drain(runtime, now=_now())
    booking = _booking(runtime, booking_id)
    assert booking.status == "active" and booking.calendar_event_id == ""
    assert "reconnecting" in booking.calendar_error
    assert not [word for word in RAW if word in booking.calendar_error]
    conn = connection(runtime, owner)
    assert conn is not None and conn.status == "needs_reconnect"
    assert set(_calendar_mails(runtime)) == {"ana@example.org", "olivia@example.com"}
