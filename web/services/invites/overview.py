"""Read models of the owner's invites and coffees: upcoming, to confirm, open, problems."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, selectinload

from integrations.storage import models
from integrations.storage.bookings import BookingStore, booking_record, offered_record
from integrations.storage.db import transaction
from scheduler import invites as rules
from web.composition import Runtime
from web.errors import NotFound
from web.services.invites.model import (
    BookingView,
    OpenInvite,
    UpcomingCoffee,
)


def upcoming(runtime: Runtime, user_id: int, *, now: datetime) -> list[UpcomingCoffee]:
    """Booked coffees not yet over, soonest first, with their prep card."""
    return _active_coffees(runtime, user_id, models.Booking.end > now)


def to_confirm(runtime: Runtime, user_id: int, *, now: datetime) -> list[UpcomingCoffee]:
    """Coffees whose time has passed and that nobody said "we met" or "we did not" about."""
    return _active_coffees(
        runtime, user_id, models.Booking.end <= now, models.Booking.met.is_(None)
    )


def _active_coffees(
    runtime: Runtime, user_id: int, *conditions: ColumnElement[bool]
) -> list[UpcomingCoffee]:
    """The user's active bookings that meet `conditions`, soonest first, as coffees."""
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(models.Booking)
            .where(
                models.Booking.user_id == user_id,
                models.Booking.status == "active",
                *conditions,
            )
            .order_by(models.Booking.start)
        ).all()
        return [_coffee(session, b) for b in rows]


def _coffee(session: Session, booking: models.Booking) -> UpcomingCoffee:
    contact = session.get(models.Contact, booking.contact_id)
    assert contact is not None
    met = [i.occurred_on for i in contact.interactions if i.confirmed]
    return UpcomingCoffee(
        booking_id=booking.id,
        contact_id=contact.id,
        contact_name=contact.name,
        start=booking.start,
        end=booking.end,
        calendar_error=booking.calendar_error,
        how_met=contact.how_met,
        notes=contact.notes,
        questions=tuple(contact.questions or ()),
        last_met=max(met, default=None),
    )


def open_invites(runtime: Runtime, user_id: int, *, now: datetime) -> list[OpenInvite]:
    """The user's invites that are waiting or were answered without a booking, newest first."""
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(models.Invite)
            .where(
                models.Invite.user_id == user_id,
                models.Invite.status.in_(("open", "declined", "suggested")),
                models.Invite.dismissed_at.is_(None),
            )
            .options(selectinload(models.Invite.times))
            .order_by(models.Invite.created_at.desc())
            .limit(50)
        ).all()
        result = []
        later = BookingStore(session).moved_on(user_id, (inv.contact_id for inv in rows))
        for inv in rows:
            state = rules.link_state(inv.status, inv.expires_at, now=now)
            if rules.archived(
                "expired" if state == "gone" else inv.status,
                dismissed=inv.dismissed_at is not None,
                answered_at=inv.answered_at,
                created_at=inv.created_at,
                contact_moved_on=later.get(inv.contact_id),
                all_withdrawn=bool(inv.times) and all(t.withdrawn for t in inv.times),
            ):
                continue  # dismissed, or dealt with since (a newer invite, a booking)
            contact = session.get(models.Contact, inv.contact_id)
            assert contact is not None
            result.append(
                OpenInvite(
                    invite_id=inv.id,
                    contact_id=inv.contact_id,
                    contact_name=contact.name,
                    status="expired" if state == "gone" else inv.status,
                    created_at=inv.created_at,
                    expires_at=inv.expires_at,
                    times=tuple(offered_record(t) for t in inv.times),
                    answer_note=inv.answer_note,
                )
            )
        return result


def booking_for_user(runtime: Runtime, user_id: int, booking_id: int) -> UpcomingCoffee:
    """One of the user's bookings (NotFound when it is not theirs)."""
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.user_id != user_id:
            raise NotFound(f"no booking {booking_id}")
        return _coffee(session, booking)


def booking_status(runtime: Runtime, user_id: int, booking_id: int) -> BookingView:
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.user_id != user_id:
            raise NotFound(f"no booking {booking_id}")
        return booking_record(booking)


@dataclass(frozen=True)
class DeliveryProblem:
    """An email or calendar write that failed at least once, with the server's reason."""

    id: int
    what: str
    status: str  # pending (will retry) | failed (gave up)
    attempts: int
    last_error: str
    next_attempt_at: datetime
    to: str = ""  # the recipients of an email, comma-separated
    subject: str = ""


def delivery_problems(runtime: Runtime, user_id: int) -> list[DeliveryProblem]:
    """For the dashboard: this user's outbox rows that failed and are not delivered yet."""
    from integrations.storage.outbox import problems

    labels = {
        "email": "Email",
        "email_render": "Email",
        "calendar_insert": "Google Calendar event",
        "calendar_delete": "Google Calendar cancellation",
        "calendar_update": "Google Calendar move",
    }
    with transaction(runtime.sessions) as session:
        return [
            DeliveryProblem(
                id=row.id,
                what=labels.get(row.kind, row.kind),
                status=row.status,
                attempts=row.attempts,
                last_error=row.last_error,
                next_attempt_at=row.next_attempt_at,
                to=", ".join(str(r) for r in row.payload.get("recipients", None) or ()),
                subject=str(row.payload.get("subject") or ""),
            )
            for row in problems(session, user_id)
        ]
