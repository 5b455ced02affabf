"""An in-memory CalendarSource: the fake the contract suite holds every real adapter to."""

from __future__ import annotations

from collections.abc import Iterable

from scheduler.model import Interval


class MemoryCalendar:
    """Busy intervals held in a list; `busy` returns those overlapping the asked interval."""

    def __init__(self, intervals: Iterable[Interval] = (), *, name: str = "memory") -> None:
        self.name = name
        self.intervals: list[Interval] = list(intervals)

    def add(self, start_or_interval: Interval) -> None:
        """Mark an interval busy."""
        self.intervals.append(start_or_interval)

    def busy(self, interval: Interval) -> list[Interval]:
        """Stored intervals overlapping `interval`; empty intervals block nothing."""
        # Interval's own methods compare instants; `<` on two datetimes sharing a zone compares
        # wall clocks, which is wrong inside a DST fold.
        return [i for i in self.intervals if i.duration and i.overlaps(interval)]
