"""Pure rules about invites: when a link expires, which times remain, retry backoff.

No I/O and no clock: every function takes `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache

from scheduler.booking_rules import time_problem, too_close
from scheduler.model import Interval, ProposedTime, SchedulingPolicy, require_aware
from scheduler.text import day_text

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


# A time starting less than this from a time the invitee was already offered is that offer
# again (09:45 next to 09:30), not another time.
NEAR_DUPLICATE = timedelta(hours=1)


def near_duplicate(candidate: Interval, offered: Iterable[Interval], *, buffer: timedelta) -> bool:
    """Whether `candidate` is one of `offered` again in all but name: it overlaps one, comes
    within `buffer` of it, or starts less than an hour (`NEAR_DUPLICATE`) from its start.

    "Other times" and a new plan for someone who turned times down both skip these."""
    return any(abs(candidate.start - o.start) < NEAR_DUPLICATE for o in offered) or bool(
        too_close(candidate, offered, buffer)
    )


def more_times(
    candidates: Sequence[ProposedTime],
    *,
    offered: Sequence[Interval],
    limit: int,
    zone: tzinfo,
    policy: SchedulingPolicy,
    bookings: Sequence[Interval] = (),
    elsewhere: Sequence[Interval] = (),
) -> list[ProposedTime]:
    """The times to add when an invitee asks for other times: other days first.

    `candidates` are the free times that suit the invitee (their waking hours, meals, days),
    `offered` the times their invite already offers, `bookings` the owner's booked coffees and
    `elsewhere` the times other open invites hold. A candidate is never a near duplicate of an
    offered or an added time (`near_duplicate`), nor one `booking_rules.time_problem` refuses
    (a booked coffee within the buffer, the daily and weekly caps, a time another invite
    offers). Then, round after round, the days holding the fewest offered and added times
    give one time each (their earliest), and when there are more such days than room left the
    days taken are spread evenly from the first to the last: so days not offered yet come
    before a second time on an offered day. At most `limit`, in time order.
    """

    def day(t: ProposedTime | Interval) -> date:
        return t.start.astimezone(zone).date()

    pool = [
        c
        for c in sorted(candidates, key=lambda c: (c.start, c.window))
        if not near_duplicate(_span(c), offered, buffer=policy.buffer)
        and time_problem(_span(c), bookings=bookings, offered=elsewhere, zone=zone, policy=policy)
        is None
    ]
    load: dict[date, int] = {}
    for o in offered:
        load[day(o)] = load.get(day(o), 0) + 1
    chosen: list[ProposedTime] = []
    while len(chosen) < limit and pool:
        earliest: dict[date, ProposedTime] = {}
        for c in pool:
            earliest.setdefault(day(c), c)
        fewest = min(load.get(d, 0) for d in earliest)
        days = sorted(d for d in earliest if load.get(d, 0) == fewest)
        for d in _spread(days, limit - len(chosen)):
            pick = earliest[d]
            chosen.append(pick)
            load[d] = load.get(d, 0) + 1
        picked = [_span(c) for c in chosen]
        pool = [c for c in pool if not near_duplicate(_span(c), picked, buffer=policy.buffer)]
    return sorted(chosen, key=lambda c: c.start)


def _span(t: ProposedTime) -> Interval:
    return Interval(t.start, t.end)


def _spread(items: Sequence[date], count: int) -> list[date]:
    """`count` of `items` (in order) spread evenly from the first to the last (all of them
    when there are no more than `count`)."""
    n = len(items)
    if count >= n:
        return list(items)
    if count == 1:
        return [items[0]]
    # Rounded half up, so the picks are symmetric and always include both ends.
    return [items[(2 * i * (n - 1) + count - 1) // (2 * (count - 1))] for i in range(count)]


def retry_delay(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff after `attempts` failed tries: base, 2*base, 4*base ... up to cap."""
    if attempts < 1:
        return timedelta(0)
    return min(cap, base * (2 ** min(attempts - 1, 30)))


def has_passed(end: datetime, *, now: datetime) -> bool:
    """Whether a booked coffee is over, so the owner can be asked "did you meet?"."""
    return now >= end


def format_span(start: datetime, end: datetime, zone_name: str, *, hour12: bool = False) -> str:
    """ "Tue 1 Dec, 12:00–12:45 (Europe/Berlin)", or with `hour12` "Tue 1 Dec, 8:00 AM–8:45 AM
    (America/Los_Angeles)": the same text the invite page's script writes."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name)
    a, b = start.astimezone(zone), end.astimezone(zone)
    day = day_text(a)
    span = f"{clock_time(a, hour12)}–{clock_time(b, hour12)}"
    if b.date() != a.date():
        span = f"{clock_time(a, hour12)}–{b:%a} {clock_time(b, hour12)}"
    return f"{day}, {span} ({zone_name})"


def format_moment(moment: datetime, zone_name: str, *, hour12: bool = False) -> str:
    """ "Sat 5 Dec, 14:02" in `zone_name`: when something happened (a cancellation)."""
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo(zone_name))
    return f"{day_text(local)}, {clock_time(local, hour12)}"


def format_spans(start: datetime, end: datetime, zone_names: Sequence[str]) -> str:
    """The span in each of `zone_names`, joined by " / " (one zone: `format_span`)."""
    return " / ".join(format_span(start, end, z) for z in zone_names)


def clock_time(moment: datetime, hour12: bool = False) -> str:
    """ "13:05" on a 24-hour clock, "1:05 PM" on a 12-hour one (midnight "12:00 AM")."""
    if not hour12:
        return f"{moment:%H:%M}"
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def utc_iso(value: datetime) -> str:
    """A compact UTC ISO 8601 form used in links and forms: 2026-12-01T11:00:00Z."""
    from datetime import UTC

    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Languages and regions whose people read a 12-hour clock (after CLDR's preferred hour
# format): a region wins over its language ("en-GB" is 24-hour, "en" alone is 12-hour).
_TWELVE_HOUR_LANGUAGES = frozenset({"en", "ar", "hi", "bn", "ur", "ko", "fil", "tl", "el", "pa"})
_TWELVE_HOUR_REGIONS = frozenset(
    {"US", "CA", "AU", "NZ", "IN", "PH", "PK", "BD", "EG", "SA", "MX", "CO", "KR", "TW", "MY"}
)
_TWENTY_FOUR_HOUR_REGIONS = frozenset({"GB", "IE", "ZA", "SG", "DE", "FR", "NL", "IL"})


# Cached: every invite page view asks, browsers send a handful of distinct
# headers, and the answer for a header never changes. Bounded.
@lru_cache(maxsize=256)
def uses_12_hour_clock(accept_language: str) -> bool:
    """Whether the reader's first language (an Accept-Language header or a BCP 47 tag such as
    "en-US,en;q=0.9") reads times on a 12-hour clock; no language given: the 24-hour clock."""
    best: tuple[float, str] | None = None
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0 and (best is None or weight > best[0]):
            best = (weight, tag)
    if best is None:
        return False
    pieces = best[1].replace("_", "-").split("-")
    language = pieces[0].lower()
    region = next((p.upper() for p in pieces[1:] if len(p) == 2 and p.isalpha()), "")
    if region in _TWENTY_FOUR_HOUR_REGIONS:
        return False
    if region in _TWELVE_HOUR_REGIONS:
        return language in _TWELVE_HOUR_LANGUAGES or language in {"es", "zh", "ms", "en"}
    return language in _TWELVE_HOUR_LANGUAGES


def archived(
    status: str,
    *,
    dismissed: bool,
    answered_at: datetime | None,
    created_at: datetime,
    contact_moved_on: datetime | None,
    all_withdrawn: bool,
) -> bool:
    """Whether an invite leaves the owner's "Open invites" list.

    An invite still waiting stays (unless every one of its times was booked elsewhere and the
    owner dismissed it). An answered one (declined, asked for other times, expired, or with
    every time booked elsewhere) goes when the owner dismisses it, or once it is dealt with:
    the contact got a newer invite or booked a coffee after it (`contact_moved_on`, the latest
    such moment).
    """
    answered = status != OPEN or all_withdrawn
    if not answered:
        return False
    if dismissed:
        return True
    since = answered_at or created_at
    return contact_moved_on is not None and contact_moved_on > since
