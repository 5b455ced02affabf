"""Other times for an invitee (scheduler.invites.more_times) and times a contact turned down
(scheduler.pairing.pair): reported as "other times were the same days, 15 minutes later" and
"the plan proposed him the very times he had just turned down"."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.invites import more_times, near_duplicate
from scheduler.model import Contact, Interval, ProposedTime, SchedulingPolicy, Slot
from scheduler.pairing import candidate_times, locate, other_times, pair
from scheduler.rules import DueContact

BERLIN = ZoneInfo("Europe/Berlin")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
MONDAY = date(2026, 12, 7)
POLICY = SchedulingPolicy(max_per_day=1, max_per_week=3, times_per_invite=3)
RAFAEL = Contact(
    name="Rafael Costa", emails=("rafael@example.br",), timezone="America/Sao_Paulo", id=7
)


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(MONDAY + timedelta(days=day), time(hh, mm), tzinfo=BERLIN)


def two_weeks() -> list[Slot]:
    """Breakfast and lunch on the ten weekdays of two weeks, all free."""
    days = [d for d in range(12) if (MONDAY + timedelta(days=d)).weekday() < 5]
    return [
        slot
        for d in days
        for slot in (
            Slot(at(d, 7, 30), at(d, 9), "breakfast"),
            Slot(at(d, 12), at(d, 13, 30), "lunch"),
        )
    ]


def rafaels_times(slots: list[Slot]) -> list[ProposedTime]:
    """Every quarter hour that suits Rafael: a video call inside his waking hours (07:00-21:00
    in São Paulo, 4 hours behind Berlin in December), so Berlin's lunch and never breakfast."""
    found, _ = locate(
        candidate_times(slots, POLICY.duration, per_window=POLICY),
        RAFAEL,
        zone=BERLIN,
        suitable_only=True,
        waking=(POLICY.waking_start, POLICY.waking_end),
    )
    return found


def span(t: ProposedTime) -> Interval:
    return Interval(t.start, t.end)


def test_other_times_are_other_days_not_the_offered_days_a_quarter_hour_later() -> None:
    offered = [Interval(at(d, 12), at(d, 12, 45)) for d in (0, 1, 2)]  # Mon, Tue, Wed lunch
    added = more_times(
        rafaels_times(two_weeks()), offered=offered, limit=6, zone=BERLIN, policy=POLICY
    )
    seen = [f"{t.start.astimezone(BERLIN):%a %d %H:%M}" for t in added]
    # Thu 10 to Fri 18: seven new days for six times, spread from the first to the last.
    assert seen == [
        "Thu 10 12:00",
        "Fri 11 12:00",
        "Mon 14 12:00",
        "Wed 16 12:00",
        "Thu 17 12:00",
        "Fri 18 12:00",
    ]
    for t in added:  # 08:00-08:45 for Rafael
        assert t.start.astimezone(SAO_PAULO).time() == time(8)


def test_an_offered_day_gets_a_second_time_only_when_no_other_day_is_left() -> None:
    """Only Monday and Tuesday lunch are free: Tuesday first, then Monday only at least an
    hour (and the buffer) after the time already offered there."""
    slots = [Slot(at(0, 12), at(0, 14, 30), "lunch"), Slot(at(1, 12), at(1, 13, 30), "lunch")]
    offered = [Interval(at(0, 12), at(0, 12, 45))]
    added = more_times(
        candidate_times(slots, POLICY.duration),
        offered=offered,
        limit=6,
        zone=BERLIN,
        policy=POLICY,
    )
    assert [t.start for t in added] == [at(0, 13, 0), at(1, 12)]


def test_caps_booked_coffees_and_times_of_other_invites_are_respected() -> None:
    booked_wednesday = [Interval(at(2, 12), at(2, 12, 45))]  # Wednesday is at its daily cap
    held_elsewhere = [Interval(at(3, 12), at(3, 13, 30))]  # Thursday's lunch is Ana's
    added = more_times(
        rafaels_times(two_weeks()),
        offered=[Interval(at(0, 12), at(0, 12, 45))],
        limit=10,
        zone=BERLIN,
        policy=POLICY,
        bookings=booked_wednesday,
        elsewhere=held_elsewhere,
    )
    days = {t.start.astimezone(BERLIN).date() for t in added}
    assert MONDAY + timedelta(days=2) not in days and MONDAY + timedelta(days=3) not in days
    # Every other free lunch of the two weeks (one booking leaves the weekly cap room).
    assert days == {MONDAY + timedelta(days=d) for d in (1, 4, 7, 8, 9, 10, 11)}


@settings(max_examples=150, deadline=None)
@given(
    st.sets(st.integers(0, 11), max_size=6),  # days with a time offered
    st.lists(
        st.sampled_from([(12, 0), (12, 15), (12, 30), (12, 45), (7, 30), (8, 0)]),
        min_size=6,
        max_size=6,
    ),
    st.sets(st.integers(0, 11), max_size=8),  # days with no free lunch
    st.integers(1, 8),
)
def test_other_times_never_repeat_an_offer_and_take_new_days_first(
    offered_days: set[int], clocks: list[tuple[int, int]], busy_days: set[int], limit: int
) -> None:
    offered = [
        Interval(at(d, *clocks[i % 6]), at(d, *clocks[i % 6]) + POLICY.duration)
        for i, d in enumerate(sorted(offered_days))
    ]
    slots = [s for s in two_weeks() if (s.start.date() - MONDAY).days not in busy_days]
    candidates = candidate_times(slots, POLICY.duration)
    added = more_times(candidates, offered=offered, limit=limit, zone=BERLIN, policy=POLICY)

    assert len(added) <= limit
    assert added == sorted(added, key=lambda t: t.start)
    assert all(t in candidates for t in added)
    for t in added:
        assert not near_duplicate(span(t), offered, buffer=POLICY.buffer)
    for a, b in itertools.combinations(added, 2):
        assert not near_duplicate(span(a), [span(b)], buffer=POLICY.buffer)
    # Other days first: a day already offered (or given a time here) only once no day
    # without one has a free time left.
    fresh = {
        t.start.date()
        for t in candidates
        if not near_duplicate(span(t), offered, buffer=POLICY.buffer)
    } - {o.start.date() for o in offered}
    used = [t.start.date() for t in added]
    if len(fresh) >= limit:
        assert len(set(used)) == len(used) == limit and set(used) <= fresh
    else:
        assert fresh <= set(used)
    if added:  # never fewer than there is room for: something is offered when anything fits
        assert len(added) == limit or not [
            c
            for c in candidates
            if not near_duplicate(span(c), [*offered, *map(span, added)], buffer=POLICY.buffer)
        ]


def due(contact: Contact, score: float = 2.0) -> DueContact:
    return DueContact(contact, score, (f"{contact.name} is due",), "cadence")


def test_the_plan_never_proposes_the_times_a_contact_just_turned_down() -> None:
    slots = two_weeks()
    [first] = pair([due(RAFAEL)], slots, policy=POLICY)
    refused = tuple(span(t) for t in first.times)
    [again] = pair([due(RAFAEL)], slots, policy=POLICY, turned_down={7: refused})
    assert again.times
    for t in again.times:
        assert not near_duplicate(span(t), refused, buffer=POLICY.buffer), t
    # "Change a time" does not offer them back either.
    for t in other_times(again, slots, POLICY, 50, avoid=refused):
        assert not near_duplicate(span(t), refused, buffer=POLICY.buffer), t


def test_someone_elses_turned_down_times_stay_free_for_others() -> None:
    ana = Contact(name="Ana Souza", emails=("ana@example.org",), timezone="America/Sao_Paulo", id=8)
    slots = two_weeks()
    [first] = pair([due(RAFAEL)], slots, policy=POLICY)
    refused = tuple(span(t) for t in first.times)
    plan = pair([due(RAFAEL, 3.0), due(ana, 1.0)], slots, policy=POLICY, turned_down={7: refused})
    by_name = {p.contact.name: p for p in plan}
    assert {span(t) for t in by_name["Ana Souza"].times} & set(refused)
    assert not {span(t) for t in by_name["Rafael Costa"].times} & set(refused)
