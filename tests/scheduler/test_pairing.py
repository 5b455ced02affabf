"""Pairing: suitable times, no double offers, caps, and an optimal plan (against brute force)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.model import Contact, Interval, Meal, SchedulingPolicy, Slot
from scheduler.pairing import candidate_times, locate, other_times, pair
from scheduler.rules import DueContact

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 3, 16)
POLICY = SchedulingPolicy(max_per_day=1, max_per_week=3, times_per_invite=3)


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(MONDAY + timedelta(days=day), time(hh, mm), tzinfo=BERLIN)


def week_slots(days: int = 5) -> list[Slot]:
    slots = []
    for d in range(days):
        slots.append(Slot(at(d, 7, 30), at(d, 9), "breakfast"))
        slots.append(Slot(at(d, 12), at(d, 13, 30), "lunch"))
    return slots


def due(name: str, score: float, cid: int, **kw: object) -> DueContact:
    contact = Contact(name=name, emails=(f"{name.lower()}@example.com",), id=cid, **kw)  # type: ignore[arg-type]
    return DueContact(contact, score, (f"{name} is due",), "cadence")


def overlaps(
    a: tuple[datetime, datetime], b: tuple[datetime, datetime], gap: timedelta = timedelta(0)
) -> bool:
    """Whether the spans overlap or come closer than `gap` (the policy's buffer)."""
    return a[0] < b[1] + gap and b[0] < a[1] + gap


def test_times_start_on_quarter_hours_and_fit_inside_their_slot() -> None:
    slot = Slot(at(0, 7, 40), at(0, 9, 5), "breakfast")
    times = candidate_times([slot], timedelta(minutes=45))
    assert [t.start.strftime("%H:%M") for t in times] == ["07:45", "08:00", "08:15"]
    assert all(t.end <= slot.end for t in times)


def test_each_proposal_gets_three_times_on_three_different_days() -> None:
    plan = pair([due("Ana", 2.0, 1)], week_slots(), policy=POLICY)
    [proposal] = plan
    assert len(proposal.times) == 3
    assert len({t.start.date() for t in proposal.times}) == 3
    assert proposal.reasons == ("Ana is due",)


def test_no_two_proposals_share_or_overlap_a_time() -> None:
    people = [due(n, 3.0 - i / 10, i) for i, n in enumerate(["Ana", "Ben", "Cem", "Dan"])]
    plan = pair(people, week_slots(), policy=POLICY)
    assert len(plan) == 3
    spans = [(t.start, t.end) for p in plan for t in p.times]
    assert not any(overlaps(a, b) for a, b in itertools.combinations(spans, 2))
    assert [p.contact.name for p in plan] == ["Ana", "Ben", "Cem"]


def test_meal_preferences_pick_the_matching_window_and_coffee_takes_any() -> None:
    people = [
        due("Bre", 3.0, 1, preferred_meals=frozenset({Meal.BREAKFAST})),
        due("Lun", 2.0, 2, preferred_meals=frozenset({Meal.LUNCH})),
        due("Cof", 1.0, 3, preferred_meals=frozenset({Meal.COFFEE})),
    ]
    plan = {p.contact.name: p for p in pair(people, week_slots(), policy=POLICY)}
    assert {t.window for t in plan["Bre"].times} == {"breakfast"}
    assert {t.window for t in plan["Lun"].times} == {"lunch"}
    assert len(plan["Cof"].times) == 3


def test_preferred_weekdays_are_respected_and_fewer_days_mean_fewer_times() -> None:
    tue_thu = due("Lena", 2.0, 1, preferred_days=frozenset({1, 3}))
    [p] = pair([tue_thu], week_slots(), policy=POLICY)
    assert sorted(t.start.weekday() for t in p.times) == [1, 3]


def test_times_fall_between_seven_and_twenty_in_the_contacts_own_zone() -> None:
    # 07:30 in Berlin is 06:30 in London: too early for a Londoner; Los Angeles sleeps at lunch.
    london = due(
        "Priya", 2.0, 1, timezone="Europe/London", preferred_meals=frozenset({Meal.BREAKFAST})
    )
    [p] = pair([london], week_slots(), policy=POLICY)
    assert all(t.start.astimezone(ZoneInfo("Europe/London")).time() >= time(7) for t in p.times)
    los_angeles = due("Noah", 2.0, 2, timezone="America/Los_Angeles")
    assert pair([los_angeles], week_slots(), policy=POLICY) == []


def test_no_time_is_proposed_within_the_buffer_of_a_time_offered_or_booked() -> None:
    # Rafael holds Mon 12:00-12:45 in an open invite and Aisha Tue 07:30-08:15; a coffee is
    # booked Wed 12:00. With a 10 minute buffer, 12:45 on Monday and 08:15 on Tuesday are too
    # close: nothing may start before 12:55 (so 13:00 would not fit the slot) or 08:25.
    taken = [Interval(at(0, 12), at(0, 12, 45)), Interval(at(1, 7, 30), at(1, 8, 15))]
    booked = [at(2, 12)]
    people = [due(n, 3.0 - i / 10, i) for i, n in enumerate(["Ana", "Ben", "Cem"])]
    policy = SchedulingPolicy(max_per_day=2, max_per_week=10, times_per_invite=3)
    plan = pair(people, week_slots(7), policy=policy, taken=taken, booked=booked)
    assert len(plan) == 3
    held = [(i.start, i.end) for i in taken] + [(b, b + policy.duration) for b in booked]
    spans = [(t.start, t.end) for p in plan for t in p.times]
    assert not any(overlaps(a, b, policy.buffer) for a in spans for b in held)
    assert at(0, 12, 45) not in {t.start for p in plan for t in p.times}
    assert at(1, 8, 15) not in {t.start for p in plan for t in p.times}


def test_two_proposals_of_one_plan_keep_the_buffer_between_them() -> None:
    policy = SchedulingPolicy(max_per_day=2, max_per_week=10, times_per_invite=3)
    people = [due(n, 3.0 - i / 10, i) for i, n in enumerate(["Ana", "Ben", "Cem", "Dan"])]
    plan = pair(people, week_slots(2), policy=policy)
    spans = [(t.start, t.end) for p in plan for t in p.times]
    assert spans
    assert not any(overlaps(a, b, policy.buffer) for a, b in itertools.combinations(spans, 2))


def test_times_already_offered_in_open_invites_are_not_offered_again() -> None:
    taken = [Interval(at(d, 7, 30), at(d, 9)) for d in range(5)]
    [p] = pair([due("Ana", 2.0, 1)], week_slots(), policy=POLICY, taken=taken)
    assert {t.window for t in p.times} == {"lunch"}


def test_days_at_the_daily_cap_are_not_used_and_bookings_count_against_the_week() -> None:
    booked = [at(0, 12), at(1, 12)]
    people = [due(n, 3.0 - i / 10, i) for i, n in enumerate(["Ana", "Ben", "Cem"])]
    plan = pair(people, week_slots(), policy=POLICY, booked=booked)
    assert [p.contact.name for p in plan] == ["Ana"]  # 3 per week, 2 already booked
    assert all(t.start.weekday() not in (0, 1) for t in plan[0].times)


def test_open_invites_awaiting_answers_count_against_the_weekly_capacity() -> None:
    people = [due(n, 3.0 - i / 10, i) for i, n in enumerate(["Ana", "Ben", "Cem"])]
    this_week = [(at(2, 12), at(3, 8)), (at(4, 12),)]
    assert len(pair(people, week_slots(), policy=POLICY, pending=this_week)) == 1
    # Invites offering only next week's times leave this week's places free.
    next_week = [tuple(s + timedelta(days=7) for s in starts) for starts in this_week]
    assert len(pair(people, week_slots(), policy=POLICY, pending=next_week)) == 3


def test_twenty_thousand_due_contacts_pair_quickly() -> None:
    import time as clock

    people = [
        due(f"P{i:05d}", 1.0 + (i % 997) / 1000, i, preferred_days=frozenset({i % 5}))
        for i in range(20_000)
    ]
    started = clock.perf_counter()
    plan = pair(people, week_slots(10), policy=POLICY)
    assert clock.perf_counter() - started < 5.0  # generous: the machine is shared
    assert len(plan) == 3


def test_scarce_slots_and_hundreds_of_different_contacts_still_plan_quickly() -> None:
    import time as clock

    slots = [Slot(at(d, 8), at(d, 8, 45), "breakfast") for d in range(5)]  # five times in all
    people = []
    for i, (days, meals, zone) in enumerate(
        itertools.product(
            [frozenset(c) for r in range(1, 6) for c in itertools.combinations(range(5), r)],
            [frozenset(), frozenset({Meal.BREAKFAST}), frozenset({Meal.LUNCH})],
            [None, "Europe/London", "Asia/Kolkata", "America/New_York"],
        )
    ):
        people.append(
            due(
                f"P{i}",
                1 + (i % 97) / 100,
                i,
                preferred_days=days,
                preferred_meals=meals,
                timezone=zone,
            )
        )
    started = clock.perf_counter()
    plan = pair(people, slots, policy=SchedulingPolicy(max_per_week=5, max_per_day=1))
    assert clock.perf_counter() - started < 5.0
    assert sum(len(p.times) for p in plan) <= 5


# --- optimality against brute force -------------------------------------------------------

WINDOWS = ("breakfast", "lunch")
Instance = tuple[list[DueContact], list[Slot], SchedulingPolicy, list[Interval], list[datetime]]


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    days = draw(st.integers(1, 3))
    slots = []
    for d in range(days):
        for w, hour in zip(WINDOWS, (8, 12), strict=True):
            if draw(st.booleans()):
                length = draw(st.sampled_from([45, 60, 75, 90]))
                start = at(d, hour, draw(st.sampled_from([0, 15, 30])))
                slots.append(Slot(start, start + timedelta(minutes=length), w))
    n = draw(st.integers(1, 5))
    people = []
    for i in range(n):
        zone = draw(st.sampled_from([None, None, "Europe/London", "Asia/Kolkata"]))
        meals = draw(
            st.sampled_from(
                [
                    frozenset(),
                    frozenset({Meal.BREAKFAST}),
                    frozenset({Meal.LUNCH}),
                    frozenset({Meal.COFFEE}),
                ]
            )
        )
        prefs = draw(st.sampled_from([frozenset(), frozenset({0}), frozenset({1, 2})]))
        score = draw(st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0, 101.0]))
        people.append(
            due(f"C{i}", score, i, preferred_meals=meals, preferred_days=prefs, timezone=zone)
        )
    policy = SchedulingPolicy(
        duration=timedelta(minutes=45),
        buffer=timedelta(minutes=draw(st.sampled_from([0, 10, 15, 30]))),
        max_per_day=1,
        max_per_week=draw(st.integers(1, 3)),
        times_per_invite=draw(st.integers(1, 3)),
    )
    taken = [
        Interval(start, start + timedelta(minutes=45))
        for start in draw(
            st.lists(
                st.sampled_from([at(0, 8), at(0, 12, 15), at(1, 8, 30)]), max_size=2, unique=True
            )
        )
    ]
    booked = draw(
        st.lists(st.sampled_from([at(0, 12), at(1, 12, 45), at(2, 8)]), max_size=2, unique=True)
    )
    return people, slots, policy, taken, booked


def suits(d: DueContact, t_start: datetime, window: str) -> bool:
    c = d.contact
    picky = c.preferred_meals and Meal.COFFEE not in c.preferred_meals
    if picky and window not in {m.value for m in c.preferred_meals}:
        return False
    if c.timezone:
        local_start = t_start.astimezone(ZoneInfo(c.timezone))
        local_end = (t_start + timedelta(minutes=45)).astimezone(ZoneInfo(c.timezone))
        if local_start.time() < time(7) or local_end.date() != local_start.date():
            return False
        if local_end.time() > time(21):
            return False
    return not c.preferred_days or t_start.weekday() in c.preferred_days


def brute_force_best(instance: Instance) -> int:
    people, slots, policy, taken, booked = instance
    busy = [(i.start, i.end) for i in taken] + [(b, b + policy.duration) for b in booked]
    full_days = {b.date() for b in booked}  # max_per_day is 1 in these instances
    times = [
        t
        for t in candidate_times(slots, policy.duration)
        if t.start.date() not in full_days
        and not any(overlaps((t.start, t.end), span, policy.buffer) for span in busy)
    ]
    capacity = 0
    if slots:
        first = min(s.start.date() for s in slots)
        in_week = sum(1 for b in booked if first <= b.date() < first + timedelta(days=7))
        capacity = max(0, policy.max_per_week - in_week)
    k = policy.times_per_invite
    options = {}
    for d in people:
        mine = [t for t in times if suits(d, t.start, t.window)]
        need = min(k, len({t.start.date() for t in mine}))
        options[d.contact.id] = (
            [
                combo
                for combo in itertools.combinations(mine, need)
                if len({t.start.date() for t in combo}) == need
                and not any(
                    overlaps((a.start, a.end), (b.start, b.end), policy.buffer)
                    for a, b in itertools.combinations(combo, 2)
                )
            ]
            if mine
            else []
        )
    best = 0
    for size in range(1, capacity + 1):
        for group in itertools.combinations(people, size):
            for choice in itertools.product(*(options[d.contact.id] for d in group)):
                spans = [(t.start, t.end) for combo in choice for t in combo]
                if any(overlaps(a, b, policy.buffer) for a, b in itertools.combinations(spans, 2)):
                    continue
                best = max(best, sum(round(d.score * 1000) for d in group))
                break
    return best


@settings(max_examples=250, deadline=None)
@given(instances())
def test_the_plan_has_the_highest_total_score_of_all_valid_plans(instance: Instance) -> None:
    people, slots, policy, taken, booked = instance
    plan = pair(people, slots, policy=policy, taken=taken, booked=booked)
    # The plan is valid...
    spans = [(t.start, t.end) for p in plan for t in p.times]
    gap = policy.buffer
    assert not any(overlaps(a, b, gap) for a, b in itertools.combinations(spans, 2))
    held = [(i.start, i.end) for i in taken] + [(b, b + policy.duration) for b in booked]
    assert not any(overlaps(a, b, gap) for a in spans for b in held)
    assert not {a.date() for a, _ in spans} & {b.date() for b in booked}
    assert len(plan) <= policy.max_per_week
    by_id = {d.contact.id: d for d in people}
    for p in plan:
        assert 1 <= len(p.times) <= policy.times_per_invite
        assert len({t.start.date() for t in p.times}) == len(p.times)
        assert all(suits(by_id[p.contact.id], t.start, t.window) for t in p.times)
    # ...and no valid plan scores higher.
    assert sum(round(p.score * 1000) for p in plan) == brute_force_best(instance)


def test_the_same_input_gives_the_same_plan() -> None:
    people = [due(n, 2.0, i) for i, n in enumerate(["Ana", "Ben", "Cem", "Dan"])]
    assert pair(people, week_slots(), policy=POLICY) == pair(
        list(reversed(people)), week_slots(), policy=POLICY
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 40),
            st.sampled_from([frozenset(), frozenset({Meal.BREAKFAST}), frozenset({Meal.LUNCH})]),
            st.sampled_from([frozenset(), frozenset({0, 2}), frozenset({4})]),
        ),
        max_size=40,
    ),
    st.integers(0, 3),
)
def test_pairing_a_shortlist_plans_the_same_as_pairing_everyone(
    people: list[tuple[int, frozenset[Meal], frozenset[int]]], booked: int
) -> None:
    from scheduler.pairing import shortlist

    everyone = [
        due(f"P{n:02d}", score / 10, n, preferred_meals=meals, preferred_days=days)
        for n, (score, meals, days) in enumerate(people)
    ]
    taken = [at(d, 12) for d in range(booked)]
    kept = shortlist(everyone, POLICY.max_per_week)
    assert len(kept) <= len(everyone)
    assert pair(kept, week_slots(), policy=POLICY, booked=taken) == pair(
        everyone, week_slots(), policy=POLICY, booked=taken
    )


def test_a_swapped_in_time_is_placed_like_the_plans_own_times() -> None:
    """ "Change a time": the other free times (never the proposal's own, one per slot with
    room for the meeting), given their mode and window by `locate` as `pair` gives its own."""
    slots = [*week_slots(), Slot(at(4, 17), at(4, 17, 20), "dinner")]  # too short to offer
    [proposal] = pair([due("Ana", 2.0, 1)], slots, policy=POLICY)
    others = other_times(proposal, slots, POLICY, limit=50)
    own = {t.start for t in proposal.times}
    assert others and not own & {t.start for t in others}
    assert len(others) == len(week_slots()) - len(own)  # the 20-minute dinner is no time
    placed, _ = locate(others, proposal.contact, zone=BERLIN)
    assert {t.mode for t in proposal.times} == {t.mode for t in placed} == {"in_person"}
    assert [t.window for t in placed] == [t.window for t in others]
    assert len(other_times(proposal, slots, POLICY, limit=2)) == 2
