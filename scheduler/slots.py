"""Free meal slots: window occurrences minus (buffered) busy time.

Windows are wall-clock times in the user's zone, expanded per calendar date with
`datetime.combine(day, time, tzinfo=zone)`, never by adding 24 hours, so every occurrence keeps
its local time across DST. A wall time that does not exist on a spring-forward day is read with
zoneinfo's fold=0 rule, which moves it forward by the gap (02:30 in a 02:00-03:00 gap is 03:30);
an ambiguous wall time on a fall-back day is its first occurrence (fold=0). A date the zone
skipped altogether (Pacific/Apia, 30 December 2011) has no occurrences.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.intervals import merge, subtract, widen
from scheduler.model import Interval, SchedulingPolicy, Slot, Window, require_aware


def local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant of wall-clock time `wall` on `day` in `zone`, normalised (see module doc)."""
    moment = datetime.combine(day, wall, tzinfo=zone)
    # The UTC round trip turns a non-existent wall time into the real instant fold=0 denotes.
    return moment.astimezone(UTC).astimezone(zone)


def window_occurrences(
    windows: Sequence[Window], *, start: date, days: int, zone: ZoneInfo
) -> list[tuple[str, Interval]]:
    """Each window on each of `days` dates from `start` whose weekday it allows, in order."""
    result: list[tuple[str, Interval]] = []
    for offset in range(max(days, 0)):
        day = start + timedelta(days=offset)
        for window in windows:
            if day.weekday() not in window.weekdays:
                continue
            begin = local(day, window.start, zone)
            end = local(day, window.end, zone)
            if begin.date() != day:
                continue  # the zone skipped this date (Samoa, 30 December 2011)
            if end.astimezone(UTC) > begin.astimezone(UTC):
                result.append((window.name, Interval(begin, end)))
    result.sort(key=lambda item: (item[1].start.astimezone(UTC), item[0]))
    return result


def free_slots(
    busy: Sequence[Interval],
    windows: Sequence[Window],
    *,
    zone: ZoneInfo,
    start: date,
    days: int,
    now: datetime,
    policy: SchedulingPolicy,
) -> list[Slot]:
    """Maximal free parts of each window occurrence, at least the window's meeting length
    (`policy.length_for(window)`) long.

    Busy time is widened by `policy.buffer` on both sides; nothing starts before
    `now + policy.notice` (pieces are clipped there, rounded up to a whole minute so that a
    real `now` does not give times like 12:07:33.482913). Slots are in the user's zone,
    sorted by (start, window name).
    """
    require_aware(now, "now")
    # Notice is elapsed time: added in UTC, since wall-clock addition in a zone-aware `now`
    # would make 24 h of notice 23 h (or 25 h) across a clock change.
    earliest = now.astimezone(UTC) + policy.notice
    if earliest.second or earliest.microsecond:
        earliest = earliest.replace(second=0, microsecond=0) + timedelta(minutes=1)
    blocked = merge(widen(busy, policy.buffer))
    starts = [b.start for b in blocked]
    slots: list[tuple[datetime, str, datetime]] = []
    for name, occurrence in window_occurrences(windows, start=start, days=days, zone=zone):
        occ_start = occurrence.start.astimezone(UTC)
        occ_end = occurrence.end.astimezone(UTC)
        if occ_end <= earliest:
            continue
        base = Interval(max(occ_start, earliest), occ_end)
        # Only busy intervals that can touch this occurrence: merged ones are sorted and disjoint.
        first = max(bisect_left(starts, base.start) - 1, 0)
        last = bisect_left(starts, base.end)
        for piece in subtract(base, blocked[first:last]):
            if piece.duration >= policy.length_for(name):
                slots.append((piece.start, name, piece.end))
    slots.sort()
    return [Slot(s.astimezone(zone), e.astimezone(zone), name) for s, name, e in slots]
