"""The small Protocols the domain depends on; adapters in integrations/ implement them."""

from __future__ import annotations

from typing import Protocol

from scheduler.model import Interval


class CalendarSource(Protocol):
    """Something that knows when the owner is busy."""

    name: str

    def busy(self, interval: Interval) -> list[Interval]:
        """Busy intervals overlapping `interval`, in any order, not necessarily merged."""
        ...


class Mailer(Protocol):
    """Delivers one already-built email message."""

    def send(self, message: bytes, *, sender: str, recipients: list[str]) -> None:
        """Deliver or raise; raising means the outbox retries later."""
        ...
