"""Reminders before a booked coffee, queued in the outbox by the worker at the reader's local
time (`scheduler.reminders`): the owner gets a prep card (how they met, last notes, questions
to ask next time), the invitee a short note with time, place and the cancel/reschedule link.

Each (booking, reader) is marked in `mail_marks` in the transaction that queues its email, so
a reminder goes out once however many workers run; cancelled bookings get none.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from integrations.config import Config, EmailsConfig
from integrations.emails import reminder
from integrations.invite_email import Party, build_email
from integrations.storage import mail_marks, outbox
from integrations.storage.accounts import AccountStore
from integrations.storage.db import transaction
from integrations.storage.scheduled_mail import BookingToRemind, Note, ScheduledMailStore
from scheduler.invites import format_span
from scheduler.places import video_where
from scheduler.reminders import reminder_due
from scheduler.text import date_text
from web.composition import Runtime
from web.services.accounts import user_config

# The longest `reminder_days_before` allowed, plus a day: bookings further out are not read.
LOOK_AHEAD = timedelta(days=15)
LAST_NOTES = 3


class _Coffee(Protocol):
    """What decides when a booking's reminders are due."""

    @property
    def start(self) -> datetime: ...

    @property
    def created_at(self) -> datetime: ...


def send_due_reminders(runtime: Runtime, *, now: datetime, limit: int = 100) -> int:
    """Queue every reminder due at `now`; returns how many were queued. A plain read finds
    the bookings with a reminder due and not yet sent, so an idle pass takes no write lock."""
    with transaction(runtime.sessions, read_only=True) as session:
        accounts = AccountStore(session)
        configs: dict[int, Config | None] = {}
        candidates = []
        for row in ScheduledMailStore(session).upcoming_bookings(now, now + LOOK_AHEAD):
            if row.user_id not in configs:
                user = accounts.account(row.user_id)
                configs[row.user_id] = user_config(runtime, user) if user is not None else None
            config = configs[row.user_id]
            if config is None:
                continue
            owner_zone = ZoneInfo(config.owner.timezone or "UTC")
            zones = (("owner", owner_zone), ("invitee", _zone(row.invitee_timezone) or owner_zone))
            if any(
                _due(row, zone, config.emails, now=now)
                and not mail_marks.is_marked(session, kind="reminder", key=f"{row.id}:{reader}")
                for reader, zone in zones
            ):
                candidates.append(row.id)
    queued = 0
    for booking_id in candidates[:limit]:
        with transaction(runtime.sessions) as session:
            queued += _remind(runtime, session, booking_id, now=now)
    return queued


def _due(booking: _Coffee, zone: ZoneInfo, emails: EmailsConfig, *, now: datetime) -> bool:
    return reminder_due(
        booking.start,
        booking.created_at,
        zone,
        now=now,
        days_before=emails.reminder_days_before,
        at=emails.reminder_time,
    )


def _remind(runtime: Runtime, session: Session, booking_id: int, *, now: datetime) -> int:
    booking = ScheduledMailStore(session).booking_to_remind(booking_id, notes=LAST_NOTES)
    if booking is None:
        return 0
    user, contact = booking.owner, booking.contact
    config = user_config(runtime, user)
    emails = config.emails
    owner_zone = ZoneInfo(config.owner.timezone or user.timezone or "UTC")
    invitee_zone = _zone(booking.invitee_timezone) or owner_zone
    owner = Party(user.name or user.email, user.email)
    invitee = Party(contact.name, booking.invitee_email)
    where = _where(*booking.where.as_tuple(), owner.name)
    queued = 0
    for reader, zone in (("owner", owner_zone), ("invitee", invitee_zone)):
        to = owner if reader == "owner" else invitee
        if not to.email:
            continue
        if not _due(booking, zone, emails, now=now):
            continue
        if not mail_marks.mark_once(
            session, user_id=user.id, kind="reminder", key=f"{booking.id}:{reader}", now=now
        ):
            continue  # another worker (or an earlier pass) queued it
        when = format_span(booking.start, booking.end, zone.key)
        base = runtime.config.web.base_url
        if reader == "owner":
            email = reminder.for_owner(
                invitee=invitee.name or invitee.email,
                when=when,
                where=where,
                how_met=contact.how_met,
                first_met=date_text(contact.first_met) if contact.first_met else "",
                last_notes=_last_notes(contact.notes),
                questions=[q for q in contact.questions if q],
                manage_url=f"{base}/invites/bookings/{booking.id}",
                contact_url=f"{base}/contacts/{contact.id}",
            )
            sender = invitee
        else:
            email = reminder.for_invitee(
                owner=owner.name,
                invitee=invitee.name,
                when=when,
                where=where,
                cancel_url=_cancel_link(session, booking),
            )
            sender = owner
        msg = build_email(
            from_address=runtime.config.mail.from_address,
            on_behalf_of=sender,
            to=to,
            email=email,
            when=now,
        )
        outbox.enqueue_email(
            session,
            user_id=user.id,
            message=msg,
            now=now,
            purpose=f"reminder_{reader}",
            booking_id=booking.id,
        )
        queued += 1
    return queued


def _cancel_link(session: Session, booking: BookingToRemind) -> str:
    url = outbox.booking_manage_url(session, booking.user_id, booking.id, booking.created_at)
    return f"{url}/booking" if url else ""


def _where(mode: str, place: str, place_url: str, owner: str) -> str:
    if mode == "video":
        return f"Video call: {video_where(place, place_url, owner)}."
    if place:
        return f"At {place}." + (f" Map: {place_url}" if place_url else "")
    return ""


def _last_notes(notes: tuple[Note, ...]) -> list[str]:
    return [f"{date_text(n.on)}: {n.text.strip()}" for n in notes]


def _zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None
