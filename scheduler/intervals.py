"""Interval arithmetic on half-open [start, end) spans.

Results are in UTC: comparing datetimes that share a tzinfo compares wall-clock times and
ignores the offset, which is wrong inside a DST fold, so everything is normalised first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from scheduler.model import Interval


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping, non-touching intervals covering the same instants (in UTC).

    Empty intervals cover nothing and are dropped; touching intervals are joined.
    """
    spans = sorted(
        (start, end)
        for start, end in ((i.start.astimezone(UTC), i.end.astimezone(UTC)) for i in intervals)
        if end > start
    )
    merged: list[list[datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return [Interval(start, end) for start, end in merged]


def subtract(base: Interval, busy: Sequence[Interval]) -> list[Interval]:
    """The parts of `base` not covered by any of `busy`, in order (in UTC)."""
    start = base.start.astimezone(UTC)
    end = base.end.astimezone(UTC)
    free: list[Interval] = []
    cursor = start
    for b in merge(b for b in busy if b.overlaps(base)):
        if b.start > cursor:
            free.append(Interval(cursor, min(b.start, end)))
        cursor = max(cursor, b.end)
        if cursor >= end:
            break
    if cursor < end:
        free.append(Interval(cursor, end))
    return [f for f in free if f.end > f.start]


def widen(intervals: Iterable[Interval], by: timedelta) -> list[Interval]:
    """Each interval grown by `by` on both sides (in UTC); empty ones stay out."""
    spans = ((i.start.astimezone(UTC), i.end.astimezone(UTC)) for i in intervals)
    return [Interval(start - by, end + by) for start, end in spans if end > start]
