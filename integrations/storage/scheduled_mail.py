"""What the worker's scheduled emails read: the bookings a reminder may be due for, a booking
with everything its reminders say, and the coffees a weekly digest looks back on.

It runs on the Session of the caller's unit of work. Whether a reminder or a digest was sent
is not here but in `mail_marks`, whose unique (kind, key) makes each go out once however many
workers run; the users a digest goes to come from `AccountStore.enabled_accounts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from integrations.storage import models
from integrations.storage.accounts import Account, account
from integrations.storage.bookings import BookingStore, Where
from integrations.storage.invites import booking_record

ACTIVE = "active"


@dataclass(frozen=True)
class UpcomingBooking:
    """An active booking ahead, with what decides when its reminders are due."""

    id: int
    user_id: int
    start: datetime
    created_at: datetime
    invitee_timezone: str


@dataclass(frozen=True)
class Note:
    """A logged meeting's notes."""

    on: date
    text: str


@dataclass(frozen=True)
class ReminderContact:
    """The contact a coffee is with, as the owner's prep card shows them."""

    id: int
    name: str
    how_met: str
    first_met: date | None
    questions: tuple[str, ...]
    notes: tuple[Note, ...]  # the latest noted meetings, newest first


@dataclass(frozen=True)
class BookingToRemind:
    """An active booking with its owner, contact, invitee and where it is."""

    id: int
    user_id: int
    start: datetime
    end: datetime
    created_at: datetime
    invitee_email: str
    invitee_timezone: str
    owner: Account
    contact: ReminderContact
    where: Where  # of the offered time it took


@dataclass(frozen=True)
class PastCoffee:
    """A coffee of the week a digest looks back on."""

    contact_name: str
    start: datetime
    end: datetime
    met: str | None  # yes | no | None (not answered)


class ScheduledMailStore:
    """Reads for reminders and digests, on the Session of the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upcoming_bookings(self, after: datetime, until: datetime) -> list[UpcomingBooking]:
        """Active bookings starting in (after, until], soonest first."""
        rows = self.session.execute(_statements()["upcoming"], {"after": after, "until": until})
        return [
            UpcomingBooking(r.id, r.user_id, r.start, r.created_at, r.invitee_timezone or "")
            for r in rows
        ]

    def booking_to_remind(self, booking_id: int, *, notes: int) -> BookingToRemind | None:
        """The booking while it is active, with its parties and the contact's latest `notes`
        noted meetings; None when it is gone, cancelled or misses a part."""
        booking = self.session.get(models.Booking, booking_id)
        if booking is None or booking.status != ACTIVE:
            return None
        invite = self.session.get(models.Invite, booking.invite_id)
        user = self.session.get(models.User, booking.user_id)
        contact = self.session.get(models.Contact, booking.contact_id)
        if invite is None or user is None or contact is None:
            return None
        noted = sorted(
            (i for i in contact.interactions if i.notes.strip()),
            key=lambda i: i.occurred_on,
            reverse=True,
        )
        return BookingToRemind(
            id=booking.id,
            user_id=booking.user_id,
            start=booking.start,
            end=booking.end,
            created_at=booking.created_at,
            invitee_email=invite.email,
            invitee_timezone=invite.invitee_timezone or "",
            owner=account(user),
            contact=ReminderContact(
                id=contact.id,
                name=contact.name,
                how_met=contact.how_met,
                first_met=contact.first_met,
                questions=tuple(contact.questions or ()),
                notes=tuple(Note(i.occurred_on, i.notes) for i in noted[:notes]),
            ),
            where=BookingStore(self.session).where(booking_record(booking)),
        )

    def coffees_between(self, user_id: int, start: datetime, end: datetime) -> list[PastCoffee]:
        """The user's active bookings starting in [start, end), in start order."""
        rows = self.session.execute(
            _statements()["coffees"], {"user_id": user_id, "start": start, "end": end}
        )
        return [PastCoffee(r.name, r.start, r.end, r.met) for r in rows]


@lru_cache(maxsize=1)
def _statements() -> dict[str, Any]:
    """The store's statements, built once per process (constants with bind parameters)."""
    b, c, i = models.Booking, models.Contact, models.Invite
    return dict(
        upcoming=select(b.id, b.user_id, b.start, b.created_at, i.invitee_timezone)
        .join(i, i.id == b.invite_id)
        .where(b.status == ACTIVE, b.start > bindparam("after"), b.start <= bindparam("until"))
        .order_by(b.start),
        coffees=select(b.start, b.end, b.met, c.name)
        .join(c, c.id == b.contact_id)
        .where(
            b.user_id == bindparam("user_id"),
            b.status == ACTIVE,
            b.start >= bindparam("start"),
            b.start < bindparam("end"),
        )
        .order_by(b.start),
    )
