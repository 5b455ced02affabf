"""Errors the web layer maps to status codes (404, 410, 409)."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.invites import OfferedTime


class InviteNotFound(Exception):
    """No invite has this token (404): forged, mistyped or deleted."""


class InviteGone(Exception):
    """The invite expired, was cancelled or already answered (410)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TimeUnavailable(Exception):
    """The chosen time is no longer offered or no longer free (409)."""

    def __init__(self, reason: str, remaining: Sequence[OfferedTime] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remaining = list(remaining)
