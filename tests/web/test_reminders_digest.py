"""Reminders with a prep card and the weekly digest, queued by the worker's scheduled-mail
job at an explicit `now` and delivered by the outbox to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from integrations.mail import SmtpMailer
from integrations.storage import models
from integrations.storage.db import transaction
from tests.helpers.invite_fixtures import (
    SmtpServer,
    make_contact,
    make_owner,
    smtp_server,
    times_at,
)
from web.composition import Runtime
from web.services import digest
from web.services import invites as svc
from web.services.accounts import save_email_settings
from web.services.outbox_worker import drain, queue_scheduled_mail

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
BOOKED_AT = datetime(2027, 3, 20, 10, 0, tzinfo=UTC)
# Monday 29 March 2027, 14:00 in Berlin (summer time since Sunday 02:00), 08:00 in New York.
COFFEE = datetime(2027, 3, 29, 14, 0, tzinfo=BERLIN)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def _tick(runtime: Runtime, smtp: SmtpServer, now: datetime) -> list[str]:
    """One worker pass at `now`: queue what is due, send the outbox; the subjects delivered."""
    before = len(smtp.received)
    queue_scheduled_mail(runtime, now=now)
    drain(runtime, SmtpMailer("127.0.0.1", smtp.port, security="none"), now=now)
    return [str(r.message["Subject"]) for r in smtp.received[before:]]


def _seed(runtime: Runtime) -> tuple[int, int]:
    owner = make_owner(runtime)
    ana = make_contact(runtime, owner, timezone="America/New_York")
    with transaction(runtime.sessions) as session:
        session.add(
            models.Interaction(
                user_id=owner,
                contact_id=ana,
                occurred_on=date(2027, 3, 10),
                kind="meeting",
                notes="Talked about her dbt migration",
                source="manual",
                confirmed=True,
                created_at=BOOKED_AT,
            )
        )
    return owner, ana


def _book(runtime: Runtime, owner: int, contact: int, start: datetime) -> tuple[int, str]:
    created = svc.create_invite(runtime, owner, contact, times_at(start), now=BOOKED_AT)
    token = created.url.rsplit("/", 1)[1]
    booking = svc.accept_invite(runtime, token, start, now=BOOKED_AT + timedelta(hours=1))
    return booking.id, created.url


def _body(message: object) -> str:
    part = message.get_body(("plain",))  # type: ignore[attr-defined]
    return str(part.get_content()).replace("\r\n", "\n")


def test_reminders_reach_each_reader_at_their_local_time_across_the_dst_change(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    owner, ana = _seed(runtime)
    booking_id, url = _book(runtime, owner, ana, COFFEE)
    assert len(_tick(runtime, smtp, BOOKED_AT + timedelta(hours=1))) == 3  # invite, confirmations

    # The day before, 17:00 in Berlin is 15:00 UTC (CEST since that morning), not 16:00.
    assert _tick(runtime, smtp, datetime(2027, 3, 28, 14, 59, tzinfo=UTC)) == []
    [owner_subject] = _tick(runtime, smtp, datetime(2027, 3, 28, 15, 0, tzinfo=UTC))
    assert owner_subject.startswith("Prep card: coffee with Ana Souza")
    card = smtp.received[-1]
    assert card.recipients == ["olivia@example.com"]
    text = _body(card.message)
    assert "How you met\n  - PyData Berlin" in text
    assert "Your last notes\n  - 10 Mar 2027: Talked about her dbt migration" in text
    assert "Questions to ask next time\n  - How did the dbt migration go?" in text
    assert "Mon 29 Mar, 14:00–14:45 (Europe/Berlin)" in text

    # Ana lives in New York: her reminder is at 17:00 there, 21:00 UTC.
    assert _tick(runtime, smtp, datetime(2027, 3, 28, 20, 59, tzinfo=UTC)) == []
    [invitee_subject] = _tick(runtime, smtp, datetime(2027, 3, 28, 21, 0, tzinfo=UTC))
    assert invitee_subject == (
        "Reminder: coffee with Olivia Owner, Mon 29 Mar, 08:00–08:45 (America/New_York)"
    )
    note = smtp.received[-1]
    assert note.recipients == ["ana@example.org"]
    assert f"Cancel or reschedule: {url}/booking" in _body(note.message)
    assert "dbt" not in _body(note.message)  # the prep card is the owner's alone

    # Exactly once: later passes send nothing more.
    assert _tick(runtime, smtp, datetime(2027, 3, 28, 22, 0, tzinfo=UTC)) == []
    # (Monday morning brings the weekly digest, and no reminder again.)
    assert _tick(runtime, smtp, datetime(2027, 3, 29, 9, 0, tzinfo=UTC)) == [
        "Your week of 29 Mar: 0 due"
    ]
    with transaction(runtime.sessions, read_only=True) as session:
        marks = session.scalar(select(func.count()).select_from(models.MailMark))
    assert marks == 3  # two reminders and the digest
    assert booking_id


def test_a_cancelled_coffee_gets_no_reminder(runtime: Runtime, smtp: SmtpServer) -> None:
    owner, ana = _seed(runtime)
    booking_id, _ = _book(runtime, owner, ana, COFFEE)
    svc.cancel_booking(runtime, owner, booking_id, now=BOOKED_AT + timedelta(hours=2))
    _tick(runtime, smtp, BOOKED_AT + timedelta(hours=2))
    assert _tick(runtime, smtp, datetime(2027, 3, 28, 21, 30, tzinfo=UTC)) == []


def test_reminder_day_and_time_follow_the_users_settings(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    owner, ana = _seed(runtime)
    save_email_settings(
        runtime, owner, digest=False, reminder_days_before="2", reminder_time="09:00"
    )
    _book(runtime, owner, ana, COFFEE)
    _tick(runtime, smtp, BOOKED_AT + timedelta(hours=1))
    # Saturday 27 March, 09:00 in Berlin is still winter time: 08:00 UTC.
    assert _tick(runtime, smtp, datetime(2027, 3, 27, 7, 59, tzinfo=UTC)) == []
    [subject] = _tick(runtime, smtp, datetime(2027, 3, 27, 8, 0, tzinfo=UTC))
    assert subject.startswith("Prep card")


def test_two_workers_send_one_weekly_digest_with_approve_links(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    owner, ana = _seed(runtime)
    monday = datetime(2027, 3, 15, 7, 0, tzinfo=BERLIN)
    assert _tick(runtime, smtp, monday - timedelta(minutes=1)) == []
    counts: list[int] = []
    gate = threading.Barrier(2)

    def worker() -> None:
        gate.wait()
        counts.append(queue_scheduled_mail(runtime, now=monday))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(counts) == [0, 1]
    [subject] = _tick(runtime, smtp, monday)
    assert subject == "Your week of 15 Mar: 1 due"
    text = _body(smtp.received[-1].message)
    assert "Ana Souza" in text and "Why: " in text
    link = next(
        line.split(": ", 1)[1] for line in text.splitlines() if "Approve and send: " in line
    )
    assert _tick(runtime, smtp, monday + timedelta(hours=1)) == []  # once a week

    token = link.rsplit("/", 1)[1]
    approval = digest.check_link(runtime, token, now=monday)
    assert approval.contact_name == "Ana Souza" and approval.labels
    with pytest.raises(digest.DigestLinkError, match="expired"):
        digest.approve(runtime, token, now=monday + timedelta(days=8))
    with pytest.raises(digest.DigestLinkError, match="damaged"):
        digest.approve(runtime, token[:-3] + "abc", now=monday)
    _, invite_url = digest.approve(runtime, token, now=monday)
    assert invite_url.startswith(runtime.config.web.base_url + "/i/")
    with pytest.raises(digest.DigestLinkError, match="already used"):
        digest.approve(runtime, token, now=monday)
    with transaction(runtime.sessions, read_only=True) as session:
        invites = session.scalar(select(func.count()).select_from(models.Invite))
    assert invites == 1


def test_a_user_who_opted_out_gets_no_digest(runtime: Runtime, smtp: SmtpServer) -> None:
    owner, _ = _seed(runtime)
    save_email_settings(
        runtime, owner, digest=False, reminder_days_before="1", reminder_time="17:00"
    )
    assert _tick(runtime, smtp, datetime(2027, 3, 15, 7, 0, tzinfo=BERLIN)) == []


def test_bad_email_settings_name_the_field_and_change_nothing(runtime: Runtime) -> None:
    from web.services.accounts import AccountError

    owner = make_owner(runtime)
    with pytest.raises(AccountError) as bad_time:
        save_email_settings(
            runtime, owner, digest=True, reminder_days_before="1", reminder_time="25:00"
        )
    assert bad_time.value.field == "reminder_time" and "25:00" in str(bad_time.value)
    with pytest.raises(AccountError) as bad_days:
        save_email_settings(
            runtime, owner, digest=True, reminder_days_before="99", reminder_time="17:00"
        )
    assert bad_days.value.field == "reminder_days_before"
    with transaction(runtime.sessions, read_only=True) as session:
        user = session.get(models.User, owner)
        assert user is not None and "emails" not in (user.settings or {})
