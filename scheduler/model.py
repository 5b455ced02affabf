"""Domain value objects. Every datetime here is timezone-aware; intervals are half-open."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_time(value: str) -> time:
    """Parse "HH:MM" (24-hour) or raise ValueError."""
    match = _HHMM.match(value)
    if not match:
        raise ValueError(f'"{value}" is not a time HH:MM')
    return time(int(match.group(1)), int(match.group(2)))


_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekdays(values: list[str] | str) -> frozenset[int]:
    """Parse weekday names ("mon", "tue", ...) into 0-based numbers, Monday first."""
    items = values.split(",") if isinstance(values, str) else values
    days: set[int] = set()
    for item in items:
        text = str(item).strip().lower()
        key = text[:3]
        # "tue", "tues" and "tuesday" are Tuesday; "monkey" is not Monday.
        if key not in WEEKDAYS or not _DAY_NAMES[WEEKDAYS.index(key)].startswith(text):
            raise ValueError(f'"{item}" is not a weekday (use mon, tue, wed, thu, fri, sat, sun)')
        days.add(WEEKDAYS.index(key))
    if not days:
        raise ValueError("needs at least one weekday")
    return frozenset(days)


def require_aware(value: datetime, what: str) -> datetime:
    """Return value, refusing naive datetimes so no wall-clock time slips in without a zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


class _OrderedByInstant:
    """Ordering by the UTC instants of `_order_key()`: the generated dataclass ordering would
    compare datetimes sharing a tzinfo by wall clock, which is wrong inside a DST fold."""

    __slots__ = ()

    def _order_key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _OrderedByInstant) or type(other) is not type(self):
            return NotImplemented
        return self._order_key() < other._order_key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, _OrderedByInstant) or type(other) is not type(self):
            return NotImplemented
        return self._order_key() <= other._order_key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, _OrderedByInstant) or type(other) is not type(self):
            return NotImplemented
        return self._order_key() > other._order_key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, _OrderedByInstant) or type(other) is not type(self):
            return NotImplemented
        return self._order_key() >= other._order_key()


@dataclass(frozen=True, slots=True)
class Interval(_OrderedByInstant):
    """A half-open span of time [start, end) between two aware datetimes."""

    start: datetime
    end: datetime

    # Comparisons and differences go through UTC: two datetimes sharing a tzinfo compare by wall
    # clock, which is wrong across a DST change (02:30 CEST is before 02:10 CET).

    def _order_key(self) -> tuple[Any, ...]:
        return (self.start.astimezone(UTC), self.end.astimezone(UTC))

    def __post_init__(self) -> None:
        start, end = self.start, self.end
        if start.tzinfo is UTC and end.tzinfo is UTC:
            # Most intervals are UTC (read from the database): wall clock is the instant.
            if end < start:
                raise ValueError(f"interval ends before it starts: {start} .. {end}")
            return
        require_aware(start, "Interval.start")
        require_aware(end, "Interval.end")
        if end.astimezone(UTC) < start.astimezone(UTC):
            raise ValueError(f"interval ends before it starts: {start} .. {end}")

    @property
    def duration(self) -> timedelta:
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)

    def overlaps(self, other: Interval) -> bool:
        start, end = self.start.astimezone(UTC), self.end.astimezone(UTC)
        return start < other.end.astimezone(UTC) and other.start.astimezone(UTC) < end

    def contains(self, other: Interval) -> bool:
        start, end = self.start.astimezone(UTC), self.end.astimezone(UTC)
        return start <= other.start.astimezone(UTC) and other.end.astimezone(UTC) <= end


@dataclass(frozen=True, slots=True)
class Window:
    """A named wall-clock range in the user's zone on chosen weekdays (0 = Monday)."""

    name: str
    start: time
    end: time
    weekdays: frozenset[int] = frozenset(range(5))
    # The length of a meeting in this window; None: the policy's `duration`.
    duration: timedelta | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"window {self.name!r} ends at {self.end} before it starts")
        if not self.weekdays or not all(0 <= d <= 6 for d in self.weekdays):
            raise ValueError(f"window {self.name!r} needs weekdays between 0 (Mon) and 6 (Sun)")
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValueError(f"window {self.name!r} needs a positive meeting length")


@dataclass(frozen=True, slots=True)
class Slot(_OrderedByInstant):
    """A maximal free sub-interval of one window occurrence; ordered by instants, then window."""

    start: datetime
    end: datetime
    window: str

    def _order_key(self) -> tuple[Any, ...]:
        return (self.start.astimezone(UTC), self.end.astimezone(UTC), self.window)

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)


# The largest value of each scheduling setting (config key and form field), one table for
# both: a day-long meeting or buffer, a year's notice, ten years ahead; beyond them a value is
# a slip of the keyboard, and a huge one would overflow the date arithmetic.
POLICY_LIMITS: dict[str, int] = {
    "duration_minutes": 24 * 60,
    "buffer_minutes": 24 * 60,
    "min_notice_hours": 366 * 24,
    "horizon_days": 366,
    "max_per_day": 100,
    "max_per_week": 700,
    "times_per_invite": 20,
}
# The shortest meeting any setting may ask for (a window's, the default, the command line's).
SHORTEST_MEETING_MINUTES = 5


@dataclass(frozen=True, slots=True)
class SchedulingPolicy:
    """How slots are cut: meeting length, buffer around busy time, notice, caps."""

    duration: timedelta = timedelta(minutes=45)
    buffer: timedelta = timedelta(minutes=10)
    notice: timedelta = timedelta(hours=24)
    horizon_days: int = 14
    max_per_day: int = 1
    max_per_week: int = 3
    times_per_invite: int = 3
    # A video call's time must fall within the invitee's waking hours, in their zone.
    waking_start: time = time(7, 0)
    waking_end: time = time(21, 0)
    # Meeting lengths of the windows that have their own (window name, length); see length_for.
    lengths: tuple[tuple[str, timedelta], ...] = ()

    def length_for(self, window: str) -> timedelta:
        """How long a meeting in `window` lasts: the window's own length, else `duration`."""
        for name, length in self.lengths:
            if name == window:
                return length
        return self.duration


def window_too_short(policy: SchedulingPolicy, windows: Iterable[Window]) -> Window | None:
    """The first meal window its meeting cannot fit in (its own length, else the policy's):
    such a window would never offer a time, and nothing would say why."""
    windows = list(windows)
    policy = with_window_lengths(policy, windows)
    for w in windows:
        span = datetime.combine(date.min, w.end) - datetime.combine(date.min, w.start)
        if policy.length_for(w.name) > span:
            return w
    return None


def with_window_lengths(policy: SchedulingPolicy, windows: Iterable[Window]) -> SchedulingPolicy:
    """`policy` knowing the meeting length of each window that sets its own."""
    lengths = tuple((w.name, w.duration) for w in windows if w.duration is not None)
    return policy if lengths == policy.lengths else replace(policy, lengths=lengths)


class Relationship(StrEnum):
    MENTOR = "mentor"
    ADVOCATE = "advocate"
    SPONSOR = "sponsor"
    PEER = "peer"
    DEPARTMENT_HEAD = "department-head"
    RECRUITER = "recruiter"
    FRIEND = "friend"
    OTHER = "other"


class Meal(StrEnum):
    BREAKFAST = "breakfast"
    LUNCH = "lunch"
    COFFEE = "coffee"


class InteractionKind(StrEnum):
    COFFEE = "coffee"
    MEAL = "meal"
    MEETING = "meeting"
    CALL = "call"
    EMAIL = "email"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class Interaction:
    """One time the user and a contact met or spoke; the log is the source of truth."""

    on: date
    kind: InteractionKind = InteractionKind.MEETING
    notes: str = ""


# What a contact keeps at most, checked wherever contacts are written (the contact form and
# every import): lists as (how many, how long each), and the free text that has no column size.
CONTACT_LIST_LIMITS = {"tags": (30, 100), "questions": (20, 500)}
CONTACT_TEXT_LIMITS = {"how_met": 2000, "notes": 20000}


@dataclass(frozen=True, slots=True)
class Contact:
    """A person in the user's network, with what the rules need to decide if they are due."""

    name: str
    emails: tuple[str, ...] = ()
    company: str = ""
    title: str = ""
    relationship: Relationship = Relationship.OTHER
    tags: tuple[str, ...] = ()
    how_met: str = ""
    first_met: date | None = None
    interactions: tuple[Interaction, ...] = ()
    cadence_days: int | None = None
    preferred_meals: frozenset[Meal] = frozenset()
    preferred_days: frozenset[int] = frozenset()
    timezone: str | None = None
    city: str = ""
    notes: str = ""
    questions: tuple[str, ...] = ()
    do_not_invite: bool = False
    snoozed_until: date | None = None
    linkedin_url: str = ""
    paused: bool = False
    id: int | None = None

    @property
    def email(self) -> str:
        return self.emails[0] if self.emails else ""

    @property
    def last_met(self) -> date | None:
        return max((i.on for i in self.interactions), default=None)

    @property
    def times_met(self) -> int:
        return len(self.interactions)


@dataclass(frozen=True, slots=True)
class ProposedTime:
    """One time offered to a contact, cut from a slot."""

    start: datetime
    end: datetime
    window: str
    mode: str = ""  # "in_person" | "video" ("" when pairing did not decide)
    place: str = ""  # the place's name and address, or "Video call"
    place_url: str = ""  # the place's map link, or the video-room URL
    city: str = ""  # where the owner is at that time (home or a trip's city)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A contact paired with the times to offer them and the reasons why now."""

    contact: Contact
    times: tuple[ProposedTime, ...]
    reasons: tuple[str, ...]
    score: float = 0.0
    city: str = ""  # the contact's city, as resolved (or as typed)
    trip: str = ""  # the label of the trip its in-person times belong to ("Boston 10–12 Dec")


@dataclass(frozen=True, slots=True)
class CalendarWarning:
    """What could not be read of one calendar: which calendar (by the owner's name for it, ""
    when about no one calendar) and what happened. Shown as "<calendar>: <problem>"."""

    calendar: str
    problem: str
    # The whole line when it is not worded "<calendar>: <problem>" (e.g. "calendar skipped:
    # Work: ..."), kept as users have always read it.
    said: str = ""

    def __str__(self) -> str:
        if self.said:
            return self.said
        return f"{self.calendar}: {self.problem}" if self.calendar else self.problem

    @classmethod
    def of(cls, calendar: str, line: str) -> CalendarWarning:
        """The warning `line` about `calendar`: "<calendar>: <problem>" is split there, any
        other wording is kept whole (and still attributed to `calendar`)."""
        head = f"{calendar}: "
        if calendar and line.startswith(head):
            return cls(calendar, line[len(head) :])
        return cls(calendar, line, line if calendar else "")


@dataclass(frozen=True, slots=True)
class BusyReport:
    """Busy intervals read from calendars plus warnings about what could not be read."""

    intervals: tuple[Interval, ...]
    warnings: tuple[CalendarWarning, ...] = field(default=())
