"""What an invite is to the services: its token and link, the read models the pages and the
dashboard show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from integrations.config import Config
from integrations.storage.invites import LONGEST_MEETING as LONGEST_MEETING  # re-exported
from integrations.storage.invites import Booking
from scheduler.invites import OfferedTime
from scheduler.model import ProposedTime
from scheduler.text import plain_text
from web.errors import Invalid
from web.services.accounts import user_config as user_config  # re-exported for the package

TOKEN_BYTES = 24  # 192 random bits
# The notes people add to an answer, a move, a cancel or a withdrawal (the forms' maxlength).
LONGEST_NOTE = 2000


def checked_note(note: str) -> str:
    """A note as kept (plain text: no control characters but line breaks), or Invalid when it
    is longer than LONGEST_NOTE: a note is never cut short."""
    note = plain_text(note)
    if len(note) > LONGEST_NOTE:
        raise Invalid(f"the note must be {LONGEST_NOTE} characters or fewer, got {len(note)}")
    return note


@dataclass(frozen=True)
class CreatedInvite:
    url: str
    invite_id: int
    times: tuple[ProposedTime, ...]


# A booking as the pages show it: the store's record.
BookingView = Booking


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


def invite_url(config: Config, token: str) -> str:
    return f"{config.web.base_url}/i/{token}"


class _HasZone(Protocol):
    @property
    def timezone(self) -> str | None: ...


def zone_name(user: _HasZone, config: Config) -> str:
    """The owner's zone: their saved one (user_config folds it into the config); `user` is a
    user row or the booking store's Owner."""
    return config.owner.timezone or user.timezone or "UTC"


@lru_cache(maxsize=512)
def check_zone(name: str) -> str:
    # Cached: it runs on every page view, and whether a name is a zone does not change.
    if not name:
        return ""
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ""
    return name


def display_zones(view_zone: str, owner_zone: str) -> list[str]:
    return [view_zone] if view_zone else [owner_zone, "UTC"] if owner_zone != "UTC" else ["UTC"]
