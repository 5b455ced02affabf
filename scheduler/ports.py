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


class EventWriter(Protocol):
    """Somewhere a booked coffee can be written as a calendar event."""

    def create_event(
        self, *, summary: str, interval: Interval, attendee: str, description: str, uid: str
    ) -> str:
        """Create the event and return its identifier in the calendar."""
        ...

    def delete_event(self, event_id: str) -> None:
        """Cancel the event, notifying attendees."""
        ...


class Mailer(Protocol):
    """Delivers one already-built email message."""

    def send(self, message: bytes, *, sender: str, recipients: list[str]) -> None:
        """Deliver or raise; raising means the outbox retries later."""
        ...
