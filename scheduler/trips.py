"""Trips and events the owner attends with contacts: slots in the trip's zone, priorities, hints.

Pure: calendar occurrences arrive as plain records (`Occurrence`), cities through a `resolve`
callable (the caller passes `integrations.geo.resolve`); the clock is never read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from scheduler.intervals import merge, subtract, widen
from scheduler.model import (
    Contact,
    Interval,
    Proposal,
    ProposedTime,
    SchedulingPolicy,
    Slot,
    Window,
    with_window_lengths,
)
from scheduler.pairing import candidate_times, pair
from scheduler.places import City, Trip, city_key, same_city
from scheduler.rules import DueContact, RulesLike, cadence_for, due_order
from scheduler.slots import free_slots, window_occurrences
from scheduler.text import counted, fold

# Contacts in the trip city whose cadence comes due within this many days of the trip's end
# count as "nearly due": seeing them while there beats a video call next month.
NEARLY_DUE_DAYS = 21
# Added to the score of contacts in the city of a trip inside the horizon: above every
# cadence score (capped at 10 x 1.5), below follow-ups (100+), which stay most urgent.
TRIP_BONUS = 50.0


@dataclass(frozen=True, slots=True)
class Occurrence:
    """What the calendar store keeps of one event occurrence, as the domain needs it.

    `end` is exclusive; for all-day events `start`/`end` are midnights in the owner's zone."""

    start: datetime
    end: datetime
    summary: str = ""
    location: str = ""
    all_day: bool = False
    attendees: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttendedEvent:
    """An upcoming event in the owner's calendars that contacts attend too."""

    summary: str
    start: datetime
    end: datetime
    city: str = ""
    timezone: str = ""
    attendees: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TripNote:
    trip: Trip
    contacts: tuple[Contact, ...]
    sentence: str


@dataclass(frozen=True, slots=True)
class EventSuggestion:
    contact: Contact
    event: AttendedEvent
    sentence: str
    slots: tuple[Slot, ...]


Resolver = Callable[[str], City | None]

_TRIP_WORDS = re.compile(r"\b(?:trip|travel|flight|visit|conference)\s+(?:to|in)\s+(.+)$", re.I)
_TO_IN = re.compile(r"\b(?:to|in)\s+(.+)$", re.I)


def _city_of(text: str, resolve: Resolver) -> City | None:
    """The first resolved city named by `text`: the whole text, then comma-separated parts
    from the end (an address names its city late), then what follows 'to'/'in'."""
    text = text.strip()
    if not text:
        return None
    tries = [text]
    parts = [p.strip() for p in text.split(",") if p.strip()]
    tries += [", ".join(parts[i : i + 2]) for i in range(len(parts) - 2, -1, -1)]
    tries += list(reversed(parts))
    for pattern in (_TRIP_WORDS, _TO_IN):
        m = pattern.search(text)
        if m:
            tries.append(m.group(1).strip(" .!"))
    for candidate in dict.fromkeys(tries):
        city = resolve(candidate)
        if city is not None and city.resolved:
            return city
    return None


def trips_from_occurrences(
    records: Iterable[Occurrence], home: City | None, resolve: Resolver
) -> list[Trip]:
    """Trips read from calendar events: all-day or multi-day events, and events with a LOCATION,
    in a city other than home. Overlapping or adjoining trips to one city become one."""
    found: list[Trip] = []
    for r in records:
        long = r.all_day or r.end.astimezone(UTC) - r.start.astimezone(UTC) >= timedelta(hours=24)
        city = _city_of(r.location, resolve) if r.location else None
        if city is None and long:
            city = _city_of(r.summary, resolve)
        if city is None or (home is not None and same_city(city.key, home.key)):
            continue
        zone = ZoneInfo(city.timezone)
        first = r.start.date() if r.all_day else r.start.astimezone(zone).date()
        last_moment = r.end - timedelta(microseconds=1)
        last = last_moment.date() if r.all_day else last_moment.astimezone(zone).date()
        found.append(
            Trip(city.name, city.timezone, first, max(first, last), city.country, "calendar")
        )
    return merge_trips(found)


def trip_markers(
    records: Iterable[Occurrence], home: City | None, resolve: Resolver
) -> list[Interval]:
    """The all-day events that make a trip ("Trip to Boston"): they say where the owner is,
    not that they are busy, so they do not block the meal windows of the trip's days."""
    return [
        Interval(r.start, r.end)
        for r in records
        if r.all_day and trips_from_occurrences([r], home, resolve)
    ]


class _Days(Protocol):
    @property
    def start(self) -> date: ...

    @property
    def end(self) -> date: ...


_D = TypeVar("_D", bound=_Days)


def clashing_trip(trips: Iterable[_D], start: date, end: date) -> _D | None:
    """The first of the trips entered by hand that shares a day with `start`..`end` (both
    included), or None: nobody is in two cities at once."""
    return next((t for t in trips if t.start <= end and start <= t.end), None)


def called_off(before: Iterable[Trip], after: Iterable[Trip]) -> list[Trip]:
    """The trips of `before` that `after` no longer holds as they were: removed, cut short,
    moved or going elsewhere. The times taken off open invites for them may be offered again."""
    kept = {(t.key, t.start, t.end) for t in after}
    return [t for t in before if (t.key, t.start, t.end) not in kept]


def merge_trips(trips: Iterable[Trip]) -> list[Trip]:
    """Trips sorted by start, overlapping or adjoining trips to the same city joined."""
    result: list[Trip] = []
    for t in sorted(trips, key=lambda t: (t.start, t.end, t.key)):
        if result:
            last = result[-1]
            if same_city(last.key, t.key) and t.start <= last.end + timedelta(days=1):
                if t.end > last.end:
                    source = last.source if last.source == t.source else "manual"
                    result[-1] = Trip(
                        last.city, last.timezone, last.start, t.end, last.country, source, last.id
                    )
                continue
        result.append(t)
    return result


def events_from_occurrences(
    records: Iterable[Occurrence],
    contacts: Sequence[Contact],
    resolve: Resolver,
    home: City | None,
) -> list[AttendedEvent]:
    """Events that list at least one contact's email among their attendees, in start order."""
    known = {e.casefold() for c in contacts for e in c.emails}
    events: list[AttendedEvent] = []
    for r in records:
        who = tuple(a for a in r.attendees if a.casefold() in known)
        if not who:
            continue
        city = _city_of(r.location, resolve) if r.location else None
        if city is None and home is not None:
            city = home
        events.append(
            AttendedEvent(
                r.summary or "an event",
                r.start,
                r.end,
                city.name if city else "",
                city.timezone if city else "",
                who,
            )
        )
    events.sort(key=lambda e: (e.start.astimezone(UTC), e.summary))
    return events


def plan_slots(
    busy: Sequence[Interval],
    windows: Sequence[Window],
    *,
    zone: ZoneInfo,
    trips: Sequence[Trip],
    start: date,
    days: int,
    now: datetime,
    policy: SchedulingPolicy,
) -> list[Slot]:
    """Free slots over the horizon: meal windows in the home zone on days at home and in the
    trip city's zone (slots carry that zone) on the days of a trip."""
    home = free_slots(busy, windows, zone=zone, start=start, days=days, now=now, policy=policy)
    if not trips:
        return home
    last = start + timedelta(days=days)
    result = [s for s in home if not any(t.covers_instant(s.start) for t in trips)]
    for trip in trips:
        first = max(trip.start, start)
        end = min(trip.end + timedelta(days=1), last)
        if end <= first:
            continue
        result += free_slots(
            busy,
            windows,
            zone=trip.zone,
            start=first,
            days=(end - first).days,
            now=now,
            policy=policy,
        )
    # A home slot late on the day before a trip can overlap a trip slot across zones: keep one.
    result.sort()
    kept: list[Slot] = []
    for s in result:
        if kept and kept[-1].interval.overlaps(s.interval):
            continue
        kept.append(s)
    return kept


def meal_windows(
    windows: Sequence[Window],
    *,
    zone: ZoneInfo,
    trips: Sequence[Trip],
    start: date,
    days: int,
) -> list[tuple[str, Interval]]:
    """The meal windows where the owner is, from `start` for `days` days, as `plan_slots` reads
    them: the home windows in the home zone, except those starting on a trip's day, and each
    trip's windows in its city's clock on its days (occurrences carry that zone), by start."""
    result = [
        (name, span)
        for name, span in window_occurrences(windows, start=start, days=days, zone=zone)
        if not any(t.covers_instant(span.start) for t in trips)
    ]
    last = start + timedelta(days=days)
    for trip in trips:
        first = max(trip.start, start)
        end = min(trip.end + timedelta(days=1), last)
        if end > first:
            result += window_occurrences(
                windows, start=first, days=(end - first).days, zone=trip.zone
            )
    result.sort(key=lambda item: (item[1].start.astimezone(UTC), item[0]))
    return result


def hand_picked_time(
    start: datetime,
    windows: Sequence[Window],
    *,
    zone: ZoneInfo,
    trips: Sequence[Trip],
    policy: SchedulingPolicy,
) -> ProposedTime:
    """A start someone picked by hand, as the plan would offer it: in the meal window (where
    the owner is then) that holds the meeting, that window's name and meeting length; outside
    every window, the policy's length and no window."""
    policy = with_window_lengths(policy, windows)
    day = start.astimezone(zone).date() - timedelta(days=1)
    for name, span in meal_windows(windows, zone=zone, trips=trips, start=day, days=3):
        end = start + policy.length_for(name)
        if span.start <= start and end <= span.end:
            return ProposedTime(start, end, name)
    return ProposedTime(start, start + policy.duration, "")


def windows_label(windows: Sequence[Window]) -> str:
    """ "breakfast 07:30-09:00 Mon–Fri, lunch 12:00-13:30 Mon–Fri", or "none"."""
    return (
        ", ".join(f"{w.name} {w.start:%H:%M}-{w.end:%H:%M} {_days(w.weekdays)}" for w in windows)
        or "none"
    )


def _days(weekdays: frozenset[int]) -> str:
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    days = sorted(weekdays)
    if len(days) == 7:
        return "every day"
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{names[days[0]]}–{names[days[-1]]}"
    return ", ".join(names[d] for d in days)


def too_long_for_window(
    start: datetime,
    windows: Sequence[Window],
    *,
    zone: ZoneInfo,
    trips: Sequence[Trip],
    policy: SchedulingPolicy,
) -> str:
    """Why a start inside a meal window (where the owner is then) is no time of it: the
    meeting would run past the window's end ("a 45-minute lunch from 13:00 ends at 13:45,
    after lunch ends at 13:30"); "" when no window holds the start at all."""
    policy = with_window_lengths(policy, windows)
    day = start.astimezone(zone).date() - timedelta(days=1)
    for name, span in meal_windows(windows, zone=zone, trips=trips, start=day, days=3):
        if span.start <= start < span.end:
            local, last = start.astimezone(span.end.tzinfo), span.end
            end = (start + policy.length_for(name)).astimezone(span.end.tzinfo)
            minutes = int(policy.length_for(name).total_seconds() // 60)
            return (
                f"a {minutes}-minute {name} from {local:%H:%M} ends at {end:%H:%M}, "
                f"after {name} ends at {last:%H:%M}"
            )
    return ""


def pair_trip_locals_first(
    due: Sequence[DueContact],
    slots: Sequence[Slot],
    notes: Sequence[TripNote],
    *,
    policy: SchedulingPolicy,
    taken: Sequence[Interval] = (),
    pending: Sequence[Sequence[datetime]] = (),
    **placing: Any,
) -> list[Proposal]:
    """`pair`, with the people living in a trip's city sure of a proposal there.

    The plan holds at most the first week's capacity of proposals, and follow-ups outrank
    trip locals: a trip later in the horizon, or a week full of follow-ups, would leave the
    people the trip note names without any time. So each trip's locals (in `due`) that `pair`
    leaves out get proposals of their own, paired over that trip's days only (in person,
    within the cap of the trip's week: `max_per_week` minus the coffees booked and the
    invites waiting for an answer (`pending`) on times in the 7 days from its first free
    day); their times are held first and the rest of the plan is paired around them, so a
    trip's times go to the people living there before any video call. Those proposals come
    after the plan's. `placing` are `pair`'s other keyword arguments."""
    plan = pair(due, slots, policy=policy, taken=taken, pending=pending, **placing)
    if not notes:
        return plan
    planned = {p.contact.id for p in plan}
    extra: list[Proposal] = []
    held = list(taken)
    for note in notes:
        there = {c.id for c in note.contacts if c.id is not None} - planned
        there -= {p.contact.id for p in extra}
        left = [d for d in due if d.contact.id in there]
        trip_slots = [s for s in slots if note.trip.covers_instant(s.start)]
        if not left or not trip_slots:
            continue
        found = pair(left, trip_slots, policy=policy, taken=held, pending=pending, **placing)
        extra += found
        held += [Interval(t.start, t.end) for p in found for t in p.times]
    if not extra:
        return plan
    ids = {p.contact.id for p in extra}
    rest = [d for d in due if d.contact.id not in ids]
    rest_plan = pair(rest, slots, policy=policy, taken=held, pending=pending, **placing)
    return [*rest_plan, *extra]


def _weeks_or_days(days: int) -> str:
    if days >= 14:
        return f"{days // 7} weeks"
    return counted(days, "day")


def _names(contacts: Sequence[Contact]) -> str:
    names = [c.name.split()[0] if c.name.split() else c.name for c in contacts]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def trip_priority(
    trips: Sequence[Trip],
    due: Sequence[DueContact],
    contacts: Sequence[Contact],
    *,
    today: date,
    rules: RulesLike,
    city_of: Mapping[int, str] | None = None,
    excluded: Iterable[int] = (),
) -> tuple[list[DueContact], list[TripNote]]:
    """Due contacts reordered for trips: those living in a trip city, due or nearly due, come first
    (score + TRIP_BONUS, the trip's sentence as first reason); plus one note per trip.

    `city_of` maps contact id to a city key (default: the contact's own `city` text)."""
    if not trips:
        return list(due), []
    city_of = city_of or {}
    skip = set(excluded)

    def key_of(c: Contact) -> str:
        if c.id is not None and c.id in city_of:
            return city_of[c.id]
        return city_key(c.city)

    due_ids = {id(d.contact): d for d in due}
    boosted: dict[int, DueContact] = {}
    notes: list[TripNote] = []
    # Each contact's city key once, and which keys a trip's city matches once per distinct key:
    # tens of thousands of contacts live in a few hundred cities.
    keyed = [(key_of(c), c) for c in contacts]
    distinct = {key for key, _ in keyed}
    for trip in sorted(trips, key=lambda t: (t.start, t.key)):
        if trip.end < today:
            continue
        here = {key for key in distinct if same_city(key, trip.key)}
        there: list[tuple[int, Contact]] = []  # (days overdue, negative when not yet due)
        for key, c in keyed:
            if key not in here or c.id in skip or c.do_not_invite or c.paused:
                continue
            if c.snoozed_until is not None and c.snoozed_until > trip.end:
                continue
            last = c.last_met or c.first_met
            if last is None:
                continue
            cadence = cadence_for(c, rules)
            overdue = (today - last).days - cadence
            if id(c) not in due_ids and overdue < -NEARLY_DUE_DAYS:
                continue
            there.append((overdue, c))
        if not there:
            continue
        there.sort(key=lambda item: (-item[0], fold(item[1].name), item[1].id or 0))
        people = tuple(c for _, c in there)
        verb = "lives" if len(people) == 1 else "live"
        sentence = f"You're in {trip.label}: {_names(people)} {verb} there"
        worst, who = there[0]
        if worst >= 7:
            sentence += f"; {_names([who])} is {_weeks_or_days(worst)} overdue"
        notes.append(TripNote(trip, people, sentence))
        for overdue, c in there:
            if id(c) in boosted:
                continue
            current = due_ids.get(id(c))
            base = current.score if current is not None else 0.0
            reasons = (sentence, *(current.reasons if current is not None else ()))
            if current is None:
                reasons = (sentence, f"Nearly due: {_weeks_or_days(max(-overdue, 0))} to go")
            boosted[id(c)] = DueContact(c, round(base + TRIP_BONUS, 3), reasons, "trip")
    result = [boosted.get(id(d.contact), d) for d in due]
    in_result = {id(d.contact) for d in result}
    result += [d for key, d in boosted.items() if key not in in_result]
    result.sort(key=due_order)
    return result, notes


def _free(start: datetime, end: datetime, blocked: Sequence[Interval]) -> list[Interval]:
    """The parts of `start`..`end` (nothing when it ends before it starts) outside `blocked`."""
    if end <= start:
        return []
    return subtract(Interval(start, end), blocked)


def event_suggestions(
    events: Sequence[AttendedEvent],
    contacts: Sequence[Contact],
    windows: Sequence[Window],
    *,
    now: datetime,
    owner_zone: ZoneInfo,
    policy: SchedulingPolicy,
    busy: Sequence[Interval] = (),
) -> list[EventSuggestion]:
    """'Ana will be at TechConf on Thursday: breakfast before it?' with the free parts of the
    meal windows of the event's day (in its city's zone) before it starts or after it ends.
    `busy`: what the times must keep clear of by the buffer, as the plan's own times do (the
    calendars' busy time, bookings, times open invites offer)."""
    by_email = {e.casefold(): c for c in contacts for e in c.emails}
    earliest = now.astimezone(UTC) + policy.notice
    blocked = merge(widen(busy, policy.buffer))
    out: list[EventSuggestion] = []
    for ev in events:
        if ev.end.astimezone(UTC) <= earliest:
            continue
        zone = ZoneInfo(ev.timezone) if ev.timezone else owner_zone
        day = ev.start.astimezone(zone).date()
        slots: list[Slot] = []
        meal_before = meal_after = ""
        for name, occ in window_occurrences(windows, start=day, days=1, zone=zone):
            s, e = max(occ.start.astimezone(UTC), earliest), occ.end.astimezone(UTC)
            before_end = min(e, ev.start.astimezone(UTC) - policy.buffer)
            after_start = max(s, ev.end.astimezone(UTC) + policy.buffer)
            # The free piece closest to the event that holds a time (a quarter-hour start with
            # room for the meeting): the last one before it, else the first after it.
            before = [
                Slot(p.start.astimezone(zone), p.end.astimezone(zone), name)
                for p in _free(s, before_end, blocked)
            ]
            after = [
                Slot(p.start.astimezone(zone), p.end.astimezone(zone), name)
                for p in _free(after_start, e, blocked)
            ]
            holding = [
                piece
                for piece in (*reversed(before), *after)
                if candidate_times([piece], policy.duration, per_window=policy)
            ]
            if holding and holding[0] in before:
                slots.append(holding[0])
                meal_before = meal_before or name
            elif holding:
                slots.append(holding[0])
                meal_after = meal_after or name
        if not slots:
            continue
        ask = f"{meal_before} before it?" if meal_before else f"{meal_after} after it?"
        weekday = ev.start.astimezone(zone).strftime("%A")
        seen: set[int] = set()
        for email in ev.attendees:
            contact = by_email.get(email.casefold())
            if contact is None or id(contact) in seen:
                continue
            seen.add(id(contact))
            first = contact.name.split()[0] if contact.name.split() else contact.name
            sentence = f"{first} will be at {ev.summary} on {weekday}: {ask}"
            out.append(EventSuggestion(contact, ev, sentence, tuple(slots)))
    return out
