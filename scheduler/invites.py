"""Pure rules about invites: when a link expires, which times remain, retry backoff.

No I/O and no clock: every function takes `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.model import Interval, ProposedTime, Slot, require_aware

MAX_LINK_LIFETIME = timedelta(days=14)
OPEN = "open"
ANSWERED = frozenset({"accepted", "declined", "suggested"})


@dataclass(frozen=True, slots=True)
class OfferedTime:
    """One time on an invite, with whether it was withdrawn (booked elsewhere)."""

    start: datetime
    end: datetime
    window: str = ""
    withdrawn: bool = False
    mode: str = ""  # "in_person" | "video" | "" (not recorded)
    place: str = ""
    place_url: str = ""
    city: str = ""  # where the owner is at that time
    zone: str = ""  # the owner's zone at that time

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)


def expires_at(starts: Iterable[datetime], *, now: datetime) -> datetime:
    """When a new invite's link stops working: at its last proposed start, at most 14 days on.

    An invite without times (a "when suits you?" note) lives the full 14 days.
    """
    require_aware(now, "now")
    latest = max(starts, default=None)
    cap = now + MAX_LINK_LIFETIME
    return cap if latest is None else min(latest, cap)


def link_state(status: str, expires: datetime, *, now: datetime) -> str:
    """ "open" while the invitee can still answer, "answered" once they have, else "gone"."""
    if status == OPEN:
        return OPEN if now < expires else "gone"
    if status in ANSWERED:
        return "answered"
    return "gone"


def remaining(times: Sequence[OfferedTime], *, now: datetime) -> list[OfferedTime]:
    """The times an invitee can still choose: not withdrawn and not yet begun, in order."""
    return sorted((t for t in times if not t.withdrawn and t.start > now), key=lambda t: t.start)


def find_offered(
    times: Sequence[OfferedTime], start: datetime, *, now: datetime
) -> OfferedTime | None:
    """The remaining time starting exactly at `start` (compared as instants), if any."""
    require_aware(start, "start")
    return next((t for t in remaining(times, now=now) if t.start == start), None)


def cut_times(
    slots: Sequence[Slot],
    *,
    duration: timedelta,
    limit: int,
    exclude: Iterable[datetime] = (),
    per_day: int = 1,
) -> list[ProposedTime]:
    """Meeting-length times cut from the start of free slots, at most `per_day` a day.

    Used when an invitee asks for other times: slots come from a fresh busy check.
    """
    skip = set(exclude)
    taken_days: dict[object, int] = {}
    result: list[ProposedTime] = []
    for slot in sorted(slots):
        if len(result) >= limit:
            break
        if slot.end - slot.start < duration or slot.start in skip:
            continue
        day = slot.start.date()
        if taken_days.get(day, 0) >= per_day:
            continue
        taken_days[day] = taken_days.get(day, 0) + 1
        result.append(ProposedTime(slot.start, slot.start + duration, slot.window))
    return result


def retry_delay(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff after `attempts` failed tries: base, 2*base, 4*base ... up to cap."""
    if attempts < 1:
        return timedelta(0)
    return min(cap, base * (2 ** min(attempts - 1, 30)))


def has_passed(end: datetime, *, now: datetime) -> bool:
    """Whether a booked coffee is over, so the owner can be asked "did you meet?"."""
    return now >= end


def format_span(start: datetime, end: datetime, zone_name: str) -> str:
    """ "Tue 1 Dec, 12:00–12:45 (Europe/Berlin)": the same text the invite page's script writes."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name)
    a, b = start.astimezone(zone), end.astimezone(zone)
    day = f"{a:%a} {a.day} {a:%b}"
    span = f"{a:%H:%M}–{b:%H:%M}"
    if b.date() != a.date():
        span = f"{a:%H:%M}–{b:%a} {b:%H:%M}"
    return f"{day}, {span} ({zone_name})"


def utc_iso(value: datetime) -> str:
    """A compact UTC ISO 8601 form used in links and forms: 2026-12-01T11:00:00Z."""
    from datetime import UTC

    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
