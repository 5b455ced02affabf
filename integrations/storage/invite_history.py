"""What the plan reads of a user's invites and bookings: each invite's state, the times open
invites hold and the coffees booked. Read-only; the invite and booking stores do the writes.

The plan reads every invite of the user on each request, so these are Core selects over the
caller's connection, not ORM rows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from integrations.storage import models
from scheduler.model import Interval

_INV = cast(Table, models.Invite.__table__)
_TIMES = cast(Table, models.InviteTime.__table__)
_BOOK = cast(Table, models.Booking.__table__)


@dataclass(frozen=True)
class InviteState:
    """One invite as the rules on ignored and declined invites read it."""

    id: int
    contact_id: int
    status: str
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None


class InviteHistoryStore:
    """The invites and bookings of one user, on the Session of the caller's unit of work."""

    def __init__(self, session: Session, user_id: int) -> None:
        self.session = session
        self.user_id = user_id

    def invites(self) -> list[InviteState]:
        """Every invite of the user, oldest first."""
        rows = self.session.connection().execute(
            select(
                _INV.c.id,
                _INV.c.contact_id,
                _INV.c.status,
                _INV.c.created_at,
                _INV.c.expires_at,
                _INV.c.answered_at,
            )
            .where(_INV.c.user_id == self.user_id)
            .order_by(_INV.c.created_at, _INV.c.id)
        )
        return [InviteState(*row) for row in rows]

    def offered(self, invite_ids: Collection[int]) -> dict[int, list[Interval]]:
        """The times still offered by these invites (withdrawn ones left out), per invite id;
        an invite with none left is not in it."""
        if not invite_ids:
            return {}
        rows = self.session.connection().execute(
            select(_TIMES.c.invite_id, _TIMES.c.start, _TIMES.c.end).where(
                _TIMES.c.user_id == self.user_id,
                _TIMES.c.invite_id.in_(list(invite_ids)),
                _TIMES.c.withdrawn.is_(False),
            )
        )
        found: dict[int, list[Interval]] = {}
        for invite_id, start, end in rows:
            found.setdefault(invite_id, []).append(Interval(start, end))
        return found

    def times_by_invite(self, invite_ids: Collection[int]) -> dict[int, list[Interval]]:
        """Every time these invites offered (withdrawn ones too), per invite id, by start."""
        if not invite_ids:
            return {}
        rows = self.session.connection().execute(
            select(_TIMES.c.invite_id, _TIMES.c.start, _TIMES.c.end)
            .where(_TIMES.c.user_id == self.user_id, _TIMES.c.invite_id.in_(list(invite_ids)))
            .order_by(_TIMES.c.invite_id, _TIMES.c.start)
        )
        found: dict[int, list[Interval]] = {}
        for invite_id, start, end in rows:
            found.setdefault(invite_id, []).append(Interval(start, end))
        return found

    def booked_starts_since(self, since: datetime) -> list[datetime]:
        """The starts of active bookings starting at or after `since` (the weekly limits)."""
        rows = self.session.connection().execute(
            select(_BOOK.c.start).where(
                _BOOK.c.user_id == self.user_id,
                _BOOK.c.status == "active",
                _BOOK.c.start >= since,
            )
        )
        return [start for (start,) in rows]
