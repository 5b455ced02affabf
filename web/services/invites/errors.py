"""The invites' errors, in the services' hierarchy (web.errors); the public invite pages
answer them with their own pages (404, 410, 409)."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.invites import OfferedTime
from web.errors import Conflict, NotFound


class InviteNotFound(NotFound):
    """No invite has this token (404): forged, mistyped or deleted."""


class InviteGone(Conflict):
    """The invite expired, was cancelled or already answered (410 on the invite's pages)."""

    status = 410

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TimeUnavailable(Conflict):
    """The chosen time is no longer offered or no longer free (409)."""

    def __init__(self, reason: str, remaining: Sequence[OfferedTime] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remaining = list(remaining)
