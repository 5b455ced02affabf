"""Read models the pages and the dashboard show: created invites, bookings, upcoming coffees."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from integrations.storage.invites import BookedCoffee
from scheduler.invites import OfferedTime
from scheduler.model import ProposedTime


@dataclass(frozen=True)
class CreatedInvite:
    url: str
    invite_id: int
    times: tuple[ProposedTime, ...]


# A booking as the pages show it: the store's record.
BookingView = BookedCoffee


@dataclass(frozen=True)
class InviteView:
    """What the public invite page shows; nothing here identifies rows to the invitee."""

    id: int
    user_id: int
    status: str
    state: str  # open | answered | gone
    owner_name: str
    owner_email: str
    owner_timezone: str
    contact_name: str
    contact_email: str
    message: str
    invitee_timezone: str
    times: tuple[OfferedTime, ...]
    remaining: tuple[OfferedTime, ...]
    expires_at: datetime
    answer_note: str
    booking: BookingView | None = None
    windows: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class UpcomingCoffee:
    """A booked coffee for the dashboard, with what the prep card needs."""

    booking_id: int
    contact_id: int
    contact_name: str
    start: datetime
    end: datetime
    calendar_error: str
    how_met: str
    notes: str
    questions: tuple[str, ...]
    last_met: date | None


@dataclass(frozen=True)
class OpenInvite:
    invite_id: int
    contact_id: int
    contact_name: str
    status: str
    created_at: datetime
    expires_at: datetime
    times: tuple[OfferedTime, ...]
    answer_note: str
