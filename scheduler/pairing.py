"""Pairing: which due contacts to invite now, and which times to offer each of them.

Pure and deterministic. The rules, precisely:

- A *time* starts on a quarter hour (wall clock of the slot's zone) inside a free slot and lasts
  its window's meeting length (`policy.length_for`, else `policy.duration`); it must end
  inside the slot.
- A time *suits* a contact when its window fits their meal preference (breakfast -> the
  "breakfast" window, lunch -> the "lunch" window, coffee or no preference -> any window), and
  it falls on one of their preferred weekdays (none = any day). Each time is in person or a
  video call (`scheduler.places.choose_mode`: in person when the contact lives where the owner
  is at that time, at home or on a trip); a video time must also lie within the contact's
  waking hours (default 07:00-21:00) on one day in their zone, when that zone is known.
- Times overlapping `taken` (times already offered in open invites) or an already booked coffee,
  or less than `policy.buffer` away from one, are never offered; a day whose booked coffees
  already reach `max_per_day` is not used.
- A contact who turned down their latest invite (declined it, or asked for other times) is
  never offered its times again (`turned_down`): no time that is a near duplicate of one of
  them (`scheduler.invites.near_duplicate`: within the buffer, or starting within an hour).
- Each proposal gets `k_c = min(k, number of distinct days among the contact's suitable times)`
  times, all on different days, in-person times first when there are any (then the least used
  days, then the earliest); no two times of the plan (of any proposals) overlap or come
  within `policy.buffer` of each other. Because invitees may pick times on the same day,
  accepting re-checks the daily cap.
- At most the week's remaining capacity of proposals: `max_per_week` minus coffees booked in
  the 7 days from the first slot's day, minus the open invites awaiting answers (`pending`)
  that offer a time in those days.
- Among all valid plans the one with the highest total score wins (scores compared in
  thousandths, so float summation order cannot break ties); equal totals go to the plan whose
  contacts come first in the due order (score descending, then name, then id).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from scheduler.invites import near_duplicate
from scheduler.model import (
    Contact,
    Interval,
    Meal,
    Proposal,
    ProposedTime,
    SchedulingPolicy,
    Slot,
)
from scheduler.places import (
    DEFAULT_WAKING,
    VIDEO_CALL,
    City,
    Mode,
    Place,
    Trip,
    awake,
    choose_mode,
    choose_place,
    city_key,
    same_city,
    trip_at,
)
from scheduler.rules import DueContact, due_order
from scheduler.zones import known_zone

QUARTER = 15 * 60
ELSEWHERE = "|elsewhere"  # the city class of a contact living where the owner never is

_Signature = tuple[frozenset[str] | None, frozenset[int], str, str]


@dataclass(frozen=True, slots=True)
class _Time:
    index: int
    start: int  # UTC epoch seconds
    end: int
    day: date  # local date in the owner's zone
    weekday: int
    window: str
    proposed: ProposedTime
    city: str = ""  # key of the city the owner is in at that time
    zone: str = ""  # the owner's zone at that time
    trip: int = -1  # index into the trips, -1 at home


def _interval(t: _Time) -> Interval:
    return Interval(t.proposed.start, t.proposed.end)


def _epoch(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


def candidate_times(
    slots: Sequence[Slot], duration: timedelta, *, per_window: SchedulingPolicy | None = None
) -> list[ProposedTime]:
    """Every quarter-hour start inside each slot with room for `duration` (with `per_window`:
    the meeting length of the slot's window), in slot order."""
    result: list[ProposedTime] = []
    for slot in sorted(slots, key=lambda s: (_epoch(s.start), s.window)):
        meeting = per_window.length_for(slot.window) if per_window is not None else duration
        length = int(meeting.total_seconds())
        zone = slot.start.tzinfo
        begin = _epoch(slot.start)
        finish = _epoch(slot.end)
        # Quarter hours in UTC are quarter hours in every zone whose offset is a multiple of
        # 15 minutes, which is all of today's zones.
        t = -(-begin // QUARTER) * QUARTER
        while t + length <= finish:
            start = datetime.fromtimestamp(t, UTC).astimezone(zone)
            end = datetime.fromtimestamp(t + length, UTC).astimezone(zone)
            result.append(ProposedTime(start, end, slot.window))
            t += QUARTER
    return result


def _signature(contact: Contact, city: str) -> _Signature:
    meals = contact.preferred_meals
    # Coffee fits any window; no preference does too.
    open_to_any = not meals or Meal.COFFEE in meals
    windows = None if open_to_any else frozenset(m.value for m in meals)
    zone = contact.timezone if known_zone(contact.timezone) is not None else ""
    return windows, contact.preferred_days, zone or "", city


def _mode(t: _Time, sig: _Signature) -> Mode:
    return choose_mode(sig[3], t.city, sig[2], t.zone)


def _suits(t: _Time, sig: _Signature, waking: tuple[time, time] = DEFAULT_WAKING) -> bool:
    windows, days, zone_name, _city = sig
    if windows is not None and t.window not in windows:
        return False
    if days and t.weekday not in days:
        return False
    if zone_name and _mode(t, sig) is Mode.VIDEO:
        return awake(t.proposed.start, t.proposed.end, ZoneInfo(zone_name), waking)
    return True


@dataclass(slots=True)
class _Candidate:
    order: int
    due: DueContact
    points: int  # score in thousandths
    times: tuple[int, ...]  # indices into the time table, by start
    need: int  # k_c
    # The times at which they can meet in person (they live where the owner is then).
    in_person: frozenset[int] = frozenset()


def week_capacity(
    booked: Sequence[datetime],
    first_day: date | None,
    zone: tzinfo | None,
    policy: SchedulingPolicy,
    pending: Sequence[Sequence[datetime]] = (),
) -> int:
    """`max_per_week` minus the coffees booked in the 7 days from `first_day`, minus the
    invites waiting for an answer (`pending`: each one's offered starts) that offer a time in
    those days: one offering only next week's times does not hold this week's place."""
    if first_day is None:
        return 0
    last_day = first_day + timedelta(days=7)
    in_week = sum(1 for b in booked if first_day <= b.astimezone(zone).date() < last_day)
    return max(0, policy.max_per_week - in_week - waiting_in_week(pending, first_day, zone))


def waiting_in_week(
    pending: Sequence[Sequence[datetime]], first_day: date, zone: tzinfo | None
) -> int:
    """How many of the waiting invites (each one's offered starts) offer a time in the 7 days
    from `first_day`."""
    last_day = first_day + timedelta(days=7)
    return sum(
        1
        for starts in pending
        if any(first_day <= s.astimezone(zone).date() < last_day for s in starts)
    )


def _city_classes(
    home: City | None, trips: Sequence[Trip], city_of: Mapping[int, str] | None
) -> Callable[[Contact], str]:
    """A contact's city class: the owner's home or a trip city they live in, ELSEWHERE for any
    other known city, "" for none. Only the cities the owner is in matter to the rules: every
    other known city behaves the same (video everywhere), so they share one class and 30,000
    contacts in 500 cities make a handful of signatures instead of thousands."""
    cities = city_of or {}
    home_key = home.key if home is not None else ""
    where_owner = [k for k in dict.fromkeys([home_key, *(t.key for t in trips)]) if k]
    # By city key: tens of thousands of contacts live in a few hundred cities.
    classes: dict[str, str] = {"": ""}

    def contact_city(c: Contact) -> str:
        key = cities[c.id] if c.id is not None and c.id in cities else city_key(c.city)
        found = classes.get(key)
        if found is None:
            found = classes[key] = next((k for k in where_owner if same_city(key, k)), ELSEWHERE)
        return found

    return contact_city


def shortlist(
    due: Sequence[DueContact],
    keep: int,
    *,
    home: City | None = None,
    trips: Sequence[Trip] = (),
    city_of: Mapping[int, str] | None = None,
    turned_down: Mapping[int, Sequence[Interval]] | None = None,
) -> list[DueContact]:
    """The due contacts a plan of at most `keep` proposals can use, in the plan's order.

    Two contacts with the same signature (meal windows, weekdays, zone, city class) can use
    exactly the same times, so they are interchangeable in any plan. A plan has at most `keep`
    proposals, so it uses at most `keep` contacts of one signature; if it used one outside that
    signature's top `keep` (in due order), some top member would be unused and swapping them
    keeps the plan valid with a total at least as high (and earlier in the tie-break). So only
    the top `keep` contacts of each signature can matter, which turns 20,000 contacts into a few
    hundred at most. `pair` over the shortlist for any `keep` >= its capacity plans the same.
    A contact with times of their own to avoid (`turned_down`) shares their times with nobody,
    so they are a signature of their own."""
    ordered = sorted(due, key=due_order)
    contact_city = _city_classes(home, trips, city_of)
    refused = turned_down or {}
    per_signature: dict[tuple[_Signature, int], int] = {}
    kept: list[DueContact] = []
    for d in ordered:
        own = d.contact.id if d.contact.id is not None and refused.get(d.contact.id) else -1
        sig = (_signature(d.contact, contact_city(d.contact)), own)
        used = per_signature.get(sig, 0)
        if used >= keep:
            continue
        per_signature[sig] = used + 1
        kept.append(d)
    return kept


def pair(
    due: Sequence[DueContact],
    slots: Sequence[Slot],
    *,
    policy: SchedulingPolicy,
    booked: Sequence[datetime] = (),
    taken: Sequence[Interval] = (),
    k: int | None = None,
    pending: Sequence[Sequence[datetime]] = (),
    zone: tzinfo | None = None,
    home: City | None = None,
    trips: Sequence[Trip] = (),
    city_of: Mapping[int, str] | None = None,
    waking: tuple[time, time] | None = None,
    places: Sequence[Place] = (),
    default_places: Mapping[str, int] | None = None,
    video_link: str = "",
    video_place: str = VIDEO_CALL,
    turned_down: Mapping[int, Sequence[Interval]] | None = None,
) -> list[Proposal]:
    """The best plan: up to the week's capacity of proposals, each with up to k times.

    `home` and `trips` say where the owner is; `city_of` maps contact ids to city keys (default:
    the key of the contact's `city` text). Each time carries its mode and place (`places`,
    `default_places` per meal window, `video_link` for calls). `turned_down` maps contact ids to
    the times of the latest invite they turned down: none of those is offered to them again."""
    k = policy.times_per_invite if k is None else k
    waking = waking or (policy.waking_start, policy.waking_end)
    if not due or not slots or k <= 0:
        return []
    zone = zone or slots[0].start.tzinfo
    duration = policy.duration
    booked_per_day: dict[date, int] = {}
    for b in booked:
        day = b.astimezone(zone).date()
        booked_per_day[day] = booked_per_day.get(day, 0) + 1
    blocked_days = {d for d, n in booked_per_day.items() if n >= policy.max_per_day}
    gap = int(policy.buffer.total_seconds())
    blocked = sorted(
        [(_epoch(i.start) - gap, _epoch(i.end) + gap) for i in taken]
        + [(_epoch(b) - gap, _epoch(b + duration) + gap) for b in booked]
    )

    home_key = home.key if home is not None else ""
    home_zone = getattr(zone, "key", "") or ""
    table: list[_Time] = []
    for pt in candidate_times(slots, duration, per_window=policy):
        s, e = _epoch(pt.start), _epoch(pt.end)
        local = pt.start.astimezone(zone)
        if local.date() in blocked_days:
            continue
        if any(bs < e and s < be for bs, be in blocked):
            continue
        trip = trip_at(pt.start, trips)
        where = (trip.key, trip.timezone, trips.index(trip)) if trip else (home_key, home_zone, -1)
        table.append(_Time(len(table), s, e, local.date(), local.weekday(), pt.window, pt, *where))
    if not table:
        return []
    first_day = min(s.start.astimezone(zone).date() for s in slots)
    capacity = week_capacity(booked, first_day, zone, policy, pending)
    if capacity <= 0:
        return []

    contact_city = _city_classes(home, trips, city_of)
    per_fits: dict[tuple[int, ...], int] = {}
    suitable: dict[_Signature, tuple[int, ...]] = {}
    candidates: list[_Candidate] = []
    refused = turned_down or {}
    for d in shortlist(due, capacity, home=home, trips=trips, city_of=city_of, turned_down=refused):
        sig = _signature(d.contact, contact_city(d.contact))
        if sig not in suitable:
            suitable[sig] = tuple(t.index for t in table if _suits(t, sig, waking))
        fits = suitable[sig]
        avoid = refused.get(d.contact.id, ()) if d.contact.id is not None else ()
        if avoid:
            fits = tuple(
                i
                for i in fits
                if not near_duplicate(_interval(table[i]), avoid, buffer=policy.buffer)
            )
        # Different signatures can allow exactly the same times (a zone whose 07:00-20:00
        # covers every window, say): the same argument applies to each set of times.
        if not fits or per_fits.get(fits, 0) >= capacity:
            continue
        per_fits[fits] = per_fits.get(fits, 0) + 1
        need = min(k, len({table[i].day for i in fits}))
        in_person = frozenset(i for i in fits if _mode(table[i], sig) is Mode.IN_PERSON)
        candidates.append(
            _Candidate(len(candidates), d, round(d.score * 1000), fits, need, in_person)
        )

    search = _Search(table, candidates, capacity, gap)
    search.run()
    proposals = []
    home_name = home.name if home is not None else ""
    for cand, chosen in search.best_plan:
        sig = _signature(cand.due.contact, contact_city(cand.due.contact))
        times = []
        trip_label = ""
        for i in sorted(chosen, key=lambda i: table[i].start):
            t = table[i]
            trip = trips[t.trip] if t.trip >= 0 else None
            located, label = _located(
                t,
                sig,
                trip,
                home_name,
                places,
                default_places,
                video_link,
                video_place,
                at_home=trip is None and (t.city == home_key or same_city(t.city, home_key)),
            )
            trip_label = trip_label or label
            times.append(located)
        proposals.append(
            Proposal(
                contact=cand.due.contact,
                times=tuple(times),
                reasons=cand.due.reasons,
                score=cand.due.score,
                city=cand.due.contact.city,
                trip=trip_label,
            )
        )
    return proposals


def _located(
    t: _Time,
    sig: _Signature,
    trip: Trip | None,
    home_name: str,
    places: Sequence[Place],
    default_places: Mapping[str, int] | None,
    video_link: str,
    video_place: str,
    *,
    at_home: bool,
) -> tuple[ProposedTime, str]:
    """One time with its mode, place and city; plus the trip's label when met there in person.
    `at_home`: the owner is at home then (no trip, no event elsewhere): places kept without a
    city apply."""
    mode = _mode(t, sig)
    city = trip.city if trip is not None else home_name
    label = ""
    if mode is Mode.IN_PERSON:
        label = trip.label if trip is not None else ""
        spot = choose_place(places, t.window, t.city, default_places, at_home=at_home)
        place, url = (spot.text, spot.map_link) if spot else ("", "")
    else:
        place, url = video_place, video_link
    return replace(t.proposed, mode=mode.value, place=place, place_url=url, city=city), label


def other_times(
    proposal: Proposal,
    slots: Sequence[Slot],
    policy: SchedulingPolicy,
    limit: int,
    *,
    avoid: Sequence[Interval] = (),
) -> list[ProposedTime]:
    """Other free times the owner may swap into a proposal ("change a time"): the first start
    of each slot with room for its window's meeting length, soonest first, never one of the
    proposal's own starts nor a near duplicate of a time the contact turned down (`avoid`); at
    most `limit`. Bare times: `locate` gives them their details."""
    chosen = {t.start for t in proposal.times}
    out: list[ProposedTime] = []
    for slot in sorted(slots):
        length = policy.length_for(slot.window)
        if slot.end - slot.start < length or slot.start in chosen:
            continue
        found = ProposedTime(slot.start, slot.start + length, slot.window)
        if avoid and near_duplicate(Interval(found.start, found.end), avoid, buffer=policy.buffer):
            continue
        out.append(found)
        if len(out) >= limit:
            break
    return out


def locate(
    times: Sequence[ProposedTime],
    contact: Contact,
    *,
    zone: tzinfo,
    home: City | None = None,
    trips: Sequence[Trip] = (),
    city_of: Mapping[int, str] | None = None,
    places: Sequence[Place] = (),
    default_places: Mapping[str, int] | None = None,
    video_link: str = "",
    video_place: str = VIDEO_CALL,
    city: City | None = None,
    suitable_only: bool = False,
    waking: tuple[time, time] = DEFAULT_WAKING,
) -> tuple[list[ProposedTime], str]:
    """Times chosen outside `pair` (other free times, times around an event) with the mode, place
    and city `pair` would give them; plus the trip label. `city` overrides where the owner is
    (an event in a city that is not a trip); `suitable_only` drops the times `pair` would not
    offer this contact (their meals and days, a video call outside their waking hours)."""
    home_key = home.key if home is not None else ""
    home_zone = getattr(zone, "key", "") or ""
    cities = city_of or {}
    key = cities.get(contact.id, "") if contact.id is not None else ""
    sig = _signature(contact, key or city_key(contact.city))
    out: list[ProposedTime] = []
    label = ""
    for pt in times:
        trip = trip_at(pt.start, trips)
        if city is not None and city.resolved and (trip is None or trip.key != city.key):
            where = (city.key, city.timezone, -1)
            name = city.name
        else:
            where = (trip.key, trip.timezone, 0) if trip else (home_key, home_zone, -1)
            name = home.name if home is not None else ""
        local = pt.start.astimezone(zone)
        t = _Time(
            0,
            _epoch(pt.start),
            _epoch(pt.end),
            local.date(),
            local.weekday(),
            pt.window,
            pt,
            *where,
        )
        if suitable_only and not _suits(t, sig, waking):
            continue
        located, found = _located(
            t,
            sig,
            trip if where[2] == 0 else None,
            name,
            places,
            default_places,
            video_link,
            video_place,
            at_home=where[2] == -1 and (where[0] == home_key or same_city(where[0], home_key)),
        )
        label = label or found
        out.append(located)
    return out, label


class _Search:
    """Branch and bound over contacts in due order, with an exact time assignment per subset.

    Subsets are visited include-first in due order, i.e. in lexicographic order of their
    indices, and a plan replaces the best only when strictly better: so among plans with the
    same total the earliest in the tie-break wins. Two upper bounds prune a branch: the best
    remaining scores that still fit in the capacity (scores are sorted descending), and a
    fractional knapsack over the times still available: every proposal uses k_c times that
    overlap nothing else, and no plan can use more than the largest set of non-overlapping
    times in the table, so when slots are scarce a contact needing three of them is weighed
    against three contacts needing one each.
    """

    def __init__(
        self, table: list[_Time], candidates: list[_Candidate], capacity: int, gap: int = 0
    ) -> None:
        self.table = table
        self.candidates = candidates
        self.capacity = capacity
        self.gap = gap
        self.best_points = -1
        self.best_plan: list[tuple[_Candidate, tuple[int, ...]]] = []
        self.max_times = _max_disjoint(table, gap)
        # Contacts allowed the same times are interchangeable: a group of them that cannot be
        # placed together cannot be placed whoever they are.
        self.infeasible: set[tuple[tuple[int, ...], ...]] = set()
        self.by_density = sorted(
            range(len(candidates)),
            key=lambda j: (-candidates[j].points / candidates[j].need, j),
        )

    def run(self) -> None:
        self._branch(0, [], 0, [])

    def _bound(self, start: int, room: int) -> int:
        return sum(c.points for c in self.candidates[start : start + room])

    def _knapsack_bound(self, start: int, left: int) -> float:
        bound = 0.0
        for j in self.by_density:
            if left <= 0:
                break
            if j < start:
                continue
            cand = self.candidates[j]
            take = min(cand.need, left)
            bound += cand.points * take / cand.need
            left -= take
        return bound

    def _branch(
        self,
        start: int,
        chosen: list[_Candidate],
        points: int,
        assignment: list[tuple[_Candidate, tuple[int, ...]]],
    ) -> None:
        if points > self.best_points:
            self.best_points = points
            self.best_plan = list(assignment)
        room = self.capacity - len(chosen)
        if room == 0:
            return
        left = self.max_times - sum(c.need for c in chosen)
        # Totals are whole numbers: a bound below best + 1 cannot lead to a strictly better plan.
        if points + self._knapsack_bound(start, left) < self.best_points + 1 - 1e-6:
            return
        for i in range(start, len(self.candidates)):
            if points + self._bound(i, room) <= self.best_points:
                return  # candidates are sorted by points: later starts bound no higher
            cand = self.candidates[i]
            group = [*chosen, cand]
            key = tuple(sorted(c.times for c in group))
            if key in self.infeasible:
                continue
            plan = _assign(group, self.table, self.gap)
            if plan is None:
                self.infeasible.add(key)
                continue
            self._branch(i + 1, [*chosen, cand], points + cand.points, plan)


def _max_disjoint(table: list[_Time], gap: int = 0) -> int:
    """The largest number of times pairwise at least `gap` seconds apart (earliest end first is
    optimal: it is the classic problem for the intervals [start, end + gap))."""
    count = 0
    free_from = -1
    for t in sorted(table, key=lambda t: (t.end, t.start)):
        if t.start >= free_from:
            count += 1
            free_from = t.end + gap
    return count


def _assign(
    chosen: list[_Candidate], table: list[_Time], gap: int = 0
) -> list[tuple[_Candidate, tuple[int, ...]]] | None:
    """Times for every chosen contact (k_c each, distinct days, each at least `gap` seconds from
    every other), or None.

    Exact backtracking; the most constrained contacts go first, and each contact prefers the
    times they can meet in person (a trip to their city is when to see them), then the days
    least used by the contacts placed before it, then the earliest times, so proposals spread
    over the week.
    """
    order = sorted(chosen, key=lambda c: (len(c.times), c.order))
    used: list[int] = []
    load: dict[date, int] = {}
    result: dict[int, tuple[int, ...]] = {}

    def free(i: int) -> bool:
        t = table[i]
        return all(
            not (table[u].start < t.end + gap and t.start < table[u].end + gap) for u in used
        )

    # What happens from `pos` on depends only on the times already used: remember dead ends.
    dead_ends: set[tuple[int, frozenset[int]]] = set()

    def place(pos: int) -> bool:
        if pos == len(order):
            return True
        state = (pos, frozenset(used))
        if state in dead_ends:
            return False
        if not place_here(pos):
            dead_ends.add(state)
            return False
        return True

    def place_here(pos: int) -> bool:
        cand = order[pos]
        options = sorted(
            (i for i in cand.times if free(i)),
            key=lambda i: (i not in cand.in_person, load.get(table[i].day, 0), table[i].start),
        )
        if len({table[i].day for i in options}) < cand.need:
            return False
        picked: list[int] = []
        days: set[date] = set()

        def pick(from_index: int) -> bool:
            if len(picked) == cand.need:
                for i in picked:
                    used.append(i)
                    load[table[i].day] = load.get(table[i].day, 0) + 1
                ok = place(pos + 1)
                if ok:
                    result[cand.order] = tuple(picked)
                for i in picked:
                    used.pop()
                    load[table[i].day] -= 1
                return ok
            for j in range(from_index, len(options)):
                i = options[j]
                t = table[i]
                if t.day in days or any(
                    table[p].start < t.end + gap and t.start < table[p].end + gap for p in picked
                ):
                    continue
                picked.append(i)
                days.add(t.day)
                if pick(j + 1):
                    return True
                picked.pop()
                days.discard(t.day)
            return False

        return pick(0)

    if not place(0):
        return None
    return [(c, result[c.order]) for c in sorted(chosen, key=lambda c: c.order)]
