"""Read models of the owner's invites and coffees: upcoming, to confirm, open, problems."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from integrations.storage.bookings import BookingStore
from integrations.storage.contacts import load_contacts
from integrations.storage.db import transaction
from integrations.storage.invites import Booking
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
    with transaction(runtime.sessions) as session:
        return _coffees(session, user_id, BookingStore(session).coming_coffees(user_id, now))


def to_confirm(runtime: Runtime, user_id: int, *, now: datetime) -> list[UpcomingCoffee]:
    """Coffees whose time has passed and that nobody said "we met" or "we did not" about."""
    with transaction(runtime.sessions) as session:
        return _coffees(session, user_id, BookingStore(session).coffees_to_confirm(user_id, now))


def _coffees(session: Session, user_id: int, bookings: list[Booking]) -> list[UpcomingCoffee]:
    """The bookings as coffees, with what the prep card needs of their contacts."""
    wanted = sorted({b.contact_id for b in bookings})
    contacts = {c.id: c for c in load_contacts(session, user_id, ids=wanted)}
    result = []
    for booking in bookings:
        contact = contacts.get(booking.contact_id)
        assert contact is not None
        result.append(
            UpcomingCoffee(
                booking_id=booking.id,
                contact_id=booking.contact_id,
                contact_name=contact.name,
                start=booking.start,
                end=booking.end,
                calendar_error=booking.calendar_error,
                how_met=contact.how_met,
                notes=contact.notes,
                questions=contact.questions,
                last_met=contact.last_met,  # the record's interactions are the confirmed ones
            )
        )
    return result


def open_invites(runtime: Runtime, user_id: int, *, now: datetime) -> list[OpenInvite]:
    """The user's invites that are waiting or were answered without a booking, newest first."""
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        rows = store.listed_invites(user_id)
        result = []
        later = store.moved_on(user_id, (inv.contact_id for inv in rows))
        for inv in rows:
            state = rules.link_state(inv.status, inv.expires_at, now=now)
            if rules.archived(
                "expired" if state == "gone" else inv.status,
                dismissed=False,  # the store lists undismissed invites only
                answered_at=inv.answered_at,
                created_at=inv.created_at,
                contact_moved_on=later.get(inv.contact_id),
                all_withdrawn=bool(inv.times) and all(t.withdrawn for t in inv.times),
            ):
                continue  # dealt with since (a newer invite, a booking)
            result.append(
                OpenInvite(
                    invite_id=inv.id,
                    contact_id=inv.contact_id,
                    contact_name=inv.contact_name,
                    status="expired" if state == "gone" else inv.status,
                    created_at=inv.created_at,
                    expires_at=inv.expires_at,
                    times=inv.times,
                    answer_note=inv.answer_note,
                )
            )
        return result


def booking_for_user(runtime: Runtime, user_id: int, booking_id: int) -> UpcomingCoffee:
    """One of the user's bookings (NotFound when it is not theirs)."""
    with transaction(runtime.sessions) as session:
        booking = _own_booking(BookingStore(session), user_id, booking_id)
        return _coffees(session, user_id, [booking])[0]


def booking_status(runtime: Runtime, user_id: int, booking_id: int) -> BookingView:
    with transaction(runtime.sessions) as session:
        return _own_booking(BookingStore(session), user_id, booking_id)


@dataclass(frozen=True)
class BookingPlace:
    """How and where a booked coffee meets, and the zone the invitee booked it in."""

    mode: str
    place: str
    place_url: str
    invitee_zone: str


def booking_with_place(
    runtime: Runtime, user_id: int, booking_id: int
) -> tuple[BookingView, BookingPlace]:
    """The booking as `booking_status` gives it, with how and where it meets, in one read
    (for the owner's booking page; NotFound when the booking is not theirs)."""
    with transaction(runtime.sessions, read_only=True) as session:
        store = BookingStore(session)
        booking = _own_booking(store, user_id, booking_id)
        where = store.where(booking)
        invite = store.invite(booking.invite_id)
        zone = invite.invitee_timezone if invite is not None else ""
        return booking, BookingPlace(where.mode, where.place, where.place_url, zone or "")


def _own_booking(store: BookingStore, user_id: int, booking_id: int) -> Booking:
    booking = store.booking(booking_id)
    if booking is None or booking.user_id != user_id:
        raise NotFound(f"no booking {booking_id}")
    return booking


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
