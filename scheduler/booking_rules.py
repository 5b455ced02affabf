"""Booking rules shared by creating, accepting and planning: buffer and daily/weekly caps.

Pure: stdlib and zoneinfo only, no clock. A coffee may not sit within `policy.buffer` of a
booked coffee or of a time offered in another open invite; a day (in the owner's zone) holds at
most `max_per_day` booked coffees and a week (Monday to Sunday, owner's zone) `max_per_week`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from scheduler.model import Interval, SchedulingPolicy
from scheduler.text import counted, day_text, moment_text


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def too_close(candidate: Interval, others: Iterable[Interval], buffer: timedelta) -> list[Interval]:
    """The intervals overlapping the candidate or less than `buffer` away from it."""
    start, end = _utc(candidate.start) - buffer, _utc(candidate.end) + buffer
    return sorted(o for o in others if _utc(o.start) < end and start < _utc(o.end))


@lru_cache(maxsize=4096)
def day_bounds(day: date, zone: tzinfo) -> Interval:
    """Local midnight to the next local midnight of `day` in `zone` (23 or 25 h across DST)."""
    # Memoised: pure, and every accept asks for the same few days several times.
    return Interval(_midnight(day, zone), _midnight(day + timedelta(days=1), zone))


@lru_cache(maxsize=4096)
def week_bounds(day: date, zone: tzinfo) -> Interval:
    """The Monday-to-Sunday week holding `day`, as local midnights in `zone`."""
    monday = day - timedelta(days=day.weekday())
    return Interval(_midnight(monday, zone), _midnight(monday + timedelta(days=7), zone))


def _midnight(day: date, zone: tzinfo) -> datetime:
    return _utc(datetime.combine(day, time(0), tzinfo=zone))


def _counted(
    start: datetime, booked: Iterable[datetime], zone: tzinfo
) -> tuple[date, Interval, Interval, int, int]:
    """The day and the week of `start` in `zone`, and how many of `booked` start in each:
    the one count both caps use (an instant belongs to the day whose local midnights hold it)."""
    day = start.astimezone(zone).date()
    day_span, week_span = day_bounds(day, zone), week_bounds(day, zone)
    day_start, day_end = day_span.start, day_span.end
    week_start, week_end = week_span.start, week_span.end
    on_day = in_week = 0
    for b in booked:
        b = _utc(b)
        if week_start <= b < week_end:  # the day lies inside its week
            in_week += 1
            if day_start <= b < day_end:
                on_day += 1
    return day, day_span, week_span, on_day, in_week


def cap_problem(
    start: datetime, booked: Iterable[datetime], *, zone: tzinfo, policy: SchedulingPolicy
) -> str | None:
    """Why a coffee starting at `start` would exceed the daily or weekly cap, or None.

    `booked` are the starts of the owner's active bookings (any range; only the day and the
    week of `start` count).
    """
    day, _, _, on_day, in_week = _counted(start, booked, zone)
    if on_day >= policy.max_per_day:
        return (
            f"{day_text(day)} already has {counted(on_day, 'coffee')} booked "
            f"(at most {policy.max_per_day} a day)"
        )
    if in_week >= policy.max_per_week:
        monday = day - timedelta(days=day.weekday())
        return (
            f"the week of {day_text(monday)} already has {counted(in_week, 'coffee')} booked "
            f"(at most {policy.max_per_week} a week)"
        )
    return None


def full_ranges(
    start: datetime, booked: Iterable[datetime], *, zone: tzinfo, policy: SchedulingPolicy
) -> list[Interval]:
    """The day and/or week of `start` that its caps leave no room in once `start` is booked,
    as cap_problem counts them: `booked` are the other active bookings' starts."""
    _, day_span, week_span, on_day, in_week = _counted(start, booked, zone)
    full = []
    if 1 + on_day >= policy.max_per_day:
        full.append(day_span)
    if 1 + in_week >= policy.max_per_week:
        full.append(week_span)
    return full


def at(value: datetime, zone: tzinfo) -> str:
    """ "Fri 27 Nov, 12:00" in `zone`: how the rules name a time in sentences."""
    local = value.astimezone(zone)
    return moment_text(local)


def time_problem(
    candidate: Interval,
    *,
    bookings: Sequence[Interval] = (),
    offered: Sequence[Interval] = (),
    busy: Sequence[Interval] = (),
    zone: tzinfo,
    policy: SchedulingPolicy,
) -> str | None:
    """Why the owner cannot offer `candidate`, in one sentence, or None when it is fine.

    Checks, in order: a booked coffee within the buffer, the daily and weekly caps, a time
    offered in another open invite within the buffer, busy calendar time within the buffer.
    """
    near = too_close(candidate, bookings, policy.buffer)
    if near:
        booked = at(near[0].start, zone)
        return f"{_near(candidate, near[0], policy.buffer)} the coffee booked for {booked}"
    cap = cap_problem(candidate.start, (b.start for b in bookings), zone=zone, policy=policy)
    if cap:
        return cap
    near = too_close(candidate, offered, policy.buffer)
    if near:
        return (
            f"{_near(candidate, near[0], policy.buffer)} {at(near[0].start, zone)}, "
            "already offered in another open invite"
        )
    near = too_close(candidate, busy, policy.buffer)
    if near:
        return f"{_near(candidate, near[0], policy.buffer)} busy time ({span(near[0], zone)})"
    return None


def span(interval: Interval, zone: tzinfo) -> str:
    """A busy span in `zone` as a sentence names it: "Fri 27 Nov, 12:00–13:00", "all day Fri
    27 Nov", "all day Fri 27 Nov – Sun 29 Nov" or "Fri 27 Nov, 22:00 – Sat 28 Nov, 02:00"."""
    begin, until = interval.start.astimezone(zone), interval.end.astimezone(zone)
    # Whole days run from a day's first instant to another's (01:00 where a clock change
    # skips midnight, as in America/Santiago).
    whole_days = (
        until.date() > begin.date()
        and interval.start == _midnight(begin.date(), zone)
        and interval.end == _midnight(until.date(), zone)
    )
    if whole_days:
        last = until.date() - timedelta(days=1)
        first = day_text(begin.date())
        return f"all day {first}" if last == begin.date() else f"all day {first} – {day_text(last)}"
    if until.date() == begin.date():
        return f"{at(begin, zone)}–{until:%H:%M}"
    return f"{at(begin, zone)} – {at(until, zone)}"


def _near(candidate: Interval, other: Interval, buffer: timedelta) -> str:
    if candidate.overlaps(other):
        return "it overlaps"
    n = int(buffer.total_seconds() // 60)
    return f"it is within {counted(n, 'minute')} of"
