"""Window occurrences and free slots: examples, DST in awkward zones, hypothesis properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.intervals import merge, widen
from scheduler.model import Interval, SchedulingPolicy, Slot, Window
from scheduler.slots import free_slots, window_occurrences

BERLIN = ZoneInfo("Europe/Berlin")
EVERY_DAY = frozenset(range(7))
BREAKFAST = Window("breakfast", time(7, 30), time(9, 0), EVERY_DAY)
LUNCH = Window("lunch", time(12, 0), time(13, 30), EVERY_DAY)
NO_RULES = SchedulingPolicy(
    duration=timedelta(minutes=45), buffer=timedelta(0), notice=timedelta(0)
)


def berlin(day: str, hhmm: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), tzinfo=BERLIN)


def shown(slots: list[Slot]) -> list[str]:
    return [f"{s.window} {s.start:%Y-%m-%d %H:%M}-{s.end:%H:%M}" for s in slots]


def test_a_free_week_has_every_window_on_its_weekdays() -> None:
    weekdays = (
        Window("breakfast", time(7, 30), time(9, 0)),
        Window("lunch", time(12, 0), time(13, 30)),
    )
    slots = free_slots(
        [],
        weekdays,
        zone=BERLIN,
        start=date(2026, 3, 2),
        days=7,
        now=berlin("2026-03-01", "00:00"),
        policy=NO_RULES,
    )
    assert len(slots) == 10
    assert shown(slots)[:2] == ["breakfast 2026-03-02 07:30-09:00", "lunch 2026-03-02 12:00-13:30"]
    assert {s.start.weekday() for s in slots} == {0, 1, 2, 3, 4}


def test_busy_time_widened_by_the_buffer_splits_a_window() -> None:
    busy = [Interval(berlin("2026-03-02", "12:40"), berlin("2026-03-02", "12:50"))]
    policy = SchedulingPolicy(
        duration=timedelta(minutes=20), buffer=timedelta(minutes=10), notice=timedelta(0)
    )
    slots = free_slots(
        busy,
        [LUNCH],
        zone=BERLIN,
        start=date(2026, 3, 2),
        days=1,
        now=berlin("2026-03-01", "00:00"),
        policy=policy,
    )
    assert shown(slots) == ["lunch 2026-03-02 12:00-12:30", "lunch 2026-03-02 13:00-13:30"]


def test_pieces_shorter_than_the_duration_are_not_slots() -> None:
    busy = [Interval(berlin("2026-03-02", "12:30"), berlin("2026-03-02", "13:00"))]
    slots = free_slots(
        busy,
        [LUNCH],
        zone=BERLIN,
        start=date(2026, 3, 2),
        days=1,
        now=berlin("2026-03-01", "00:00"),
        policy=NO_RULES,
    )
    assert slots == []


def test_slots_start_no_earlier_than_now_plus_notice_clipped_exactly() -> None:
    policy = SchedulingPolicy(
        duration=timedelta(minutes=30), buffer=timedelta(0), notice=timedelta(hours=24)
    )
    slots = free_slots(
        [],
        [BREAKFAST, LUNCH],
        zone=BERLIN,
        start=date(2026, 3, 2),
        days=2,
        now=berlin("2026-03-01", "12:07"),
        policy=policy,
    )
    assert shown(slots) == [
        "lunch 2026-03-02 12:07-13:30",
        "breakfast 2026-03-03 07:30-09:00",
        "lunch 2026-03-03 12:00-13:30",
    ]


def test_a_slot_clipped_by_a_real_now_starts_on_the_next_whole_minute() -> None:
    slots = free_slots(
        [],
        [LUNCH],
        zone=BERLIN,
        start=date(2026, 3, 2),
        days=1,
        now=datetime(2026, 3, 2, 12, 7, 33, 482913, tzinfo=BERLIN),
        policy=NO_RULES,
    )
    assert [(s.start.isoformat(), s.end.isoformat()) for s in slots] == [
        ("2026-03-02T12:08:00+01:00", "2026-03-02T13:30:00+01:00")
    ]


def test_notice_is_elapsed_time_even_when_now_is_given_in_a_zone_that_changes_clocks() -> None:
    # 24 h after Saturday 12:00 CET is Sunday 13:00 CEST: Berlin springs forward that night, so
    # adding 24 h to the wall clock would offer a lunch only 23 hours away.
    policy = SchedulingPolicy(
        duration=timedelta(minutes=30), buffer=timedelta(0), notice=timedelta(hours=24)
    )
    slots = free_slots(
        [],
        [LUNCH],
        zone=BERLIN,
        start=date(2026, 3, 29),
        days=1,
        now=berlin("2026-03-28", "12:00"),
        policy=policy,
    )
    assert shown(slots) == ["lunch 2026-03-29 13:00-13:30"]


def test_now_in_another_zone_is_compared_as_an_instant() -> None:
    now = datetime(2026, 3, 2, 6, 0, tzinfo=ZoneInfo("America/New_York"))  # 12:00 Berlin
    slots = free_slots(
        [],
        [LUNCH],
        zone=BERLIN,
        start=date(2026, 3, 2),
        days=1,
        now=now,
        policy=NO_RULES,
    )
    assert shown(slots) == ["lunch 2026-03-02 12:00-13:30"]


def test_slots_are_sorted_by_start_then_window_and_deterministic() -> None:
    coffee = Window("coffee", time(12, 0), time(13, 0), EVERY_DAY)
    args = {
        "zone": BERLIN,
        "start": date(2026, 3, 2),
        "days": 2,
        "now": berlin("2026-03-01", "00:00"),
        "policy": NO_RULES,
    }
    slots = free_slots([], [LUNCH, coffee], **args)  # type: ignore[arg-type]
    assert [s.window for s in slots] == ["coffee", "lunch", "coffee", "lunch"]
    assert free_slots([], [coffee, LUNCH], **args) == slots  # type: ignore[arg-type]


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        free_slots(
            [],
            [LUNCH],
            zone=BERLIN,
            start=date(2026, 3, 2),
            days=1,
            now=datetime(2026, 3, 1),
            policy=NO_RULES,
        )


# --- DST and awkward zones ---------------------------------------------------------------------

DST_CASES = [
    ("Europe/Berlin", date(2026, 3, 29)),
    ("Europe/Berlin", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("America/Los_Angeles", date(2026, 3, 8)),
    ("America/Los_Angeles", date(2026, 11, 1)),
    ("Pacific/Apia", date(2026, 4, 5)),
    ("America/Bogota", date(2026, 3, 8)),
    ("America/Santiago", date(2026, 4, 5)),  # clocks change at midnight
    ("America/Santiago", date(2026, 9, 6)),
]


@pytest.mark.parametrize(("zone_name", "change"), DST_CASES)
def test_windows_keep_their_wall_clock_time_across_a_clock_change(
    zone_name: str, change: date
) -> None:
    zone = ZoneInfo(zone_name)
    start = change - timedelta(days=3)
    occurrences = window_occurrences([BREAKFAST, LUNCH], start=start, days=7, zone=zone)
    assert len(occurrences) == 14
    for index, (name, occurrence) in enumerate(occurrences):
        local_start = occurrence.start.astimezone(zone)
        local_end = occurrence.end.astimezone(zone)
        assert local_start.date() == start + timedelta(days=index // 2)
        expected = (time(7, 30), time(9, 0)) if name == "breakfast" else (time(12, 0), time(13, 30))
        assert (local_start.time(), local_end.time()) == expected
        assert occurrence.end - occurrence.start == timedelta(minutes=90)


@pytest.mark.parametrize(("zone_name", "change"), DST_CASES)
def test_breakfast_on_the_monday_after_a_clock_change_is_still_at_seven_thirty(
    zone_name: str, change: date
) -> None:
    zone = ZoneInfo(zone_name)
    monday = change + timedelta(days=(7 - change.weekday()) % 7 or 7)
    slots = free_slots(
        [],
        [Window("breakfast", time(7, 30), time(9, 0))],
        zone=zone,
        start=monday - timedelta(days=7),
        days=8,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        policy=NO_RULES,
    )
    before, after = slots[0], slots[-1]
    assert after.start.date() == monday
    assert (before.start.time(), after.start.time()) == (time(7, 30), time(7, 30))
    assert str(after.start.tzinfo) == zone_name


@pytest.mark.parametrize(
    ("zone_name", "utc_breakfast"),
    [
        ("Asia/Kathmandu", datetime(2026, 3, 2, 1, 45, tzinfo=UTC)),  # +05:45
        ("Asia/Kolkata", datetime(2026, 3, 2, 2, 0, tzinfo=UTC)),  # +05:30
        ("America/St_Johns", datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),  # -03:30
        ("Pacific/Chatham", datetime(2026, 3, 1, 17, 45, tzinfo=UTC)),  # +13:45 (summer)
        ("Pacific/Kiritimati", datetime(2026, 3, 1, 17, 30, tzinfo=UTC)),  # +14
        ("Pacific/Pago_Pago", datetime(2026, 3, 2, 18, 30, tzinfo=UTC)),  # -11
    ],
)
def test_windows_in_zones_with_odd_or_extreme_offsets_are_local_wall_times(
    zone_name: str, utc_breakfast: datetime
) -> None:
    zone = ZoneInfo(zone_name)
    busy = [Interval(utc_breakfast, utc_breakfast + timedelta(minutes=45))]  # 07:30-08:15 local
    slots = free_slots(
        busy,
        [BREAKFAST],
        zone=zone,
        start=date(2026, 3, 2),
        days=1,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        policy=NO_RULES,
    )
    assert shown(slots) == ["breakfast 2026-03-02 08:15-09:00"]
    assert slots[0].start.astimezone(UTC) == utc_breakfast + timedelta(minutes=45)
    assert str(slots[0].start.tzinfo) == zone_name


def test_berlin_breakfast_moves_one_hour_earlier_in_utc_after_spring_forward() -> None:
    occurrences = window_occurrences([BREAKFAST], start=date(2026, 3, 27), days=4, zone=BERLIN)
    utc_starts = [o.start.astimezone(UTC).strftime("%d %H:%M") for _, o in occurrences]
    assert utc_starts == ["27 06:30", "28 06:30", "29 05:30", "30 05:30"]


def test_a_window_inside_the_spring_forward_gap_is_moved_forward_by_the_gap() -> None:
    night = Window("night", time(2, 0), time(2, 45), EVERY_DAY)
    ((_, occurrence),) = window_occurrences([night], start=date(2026, 3, 29), days=1, zone=BERLIN)
    assert occurrence.start.astimezone(BERLIN).strftime("%H:%M%z") == "03:00+0200"
    assert occurrence.end.astimezone(BERLIN).strftime("%H:%M%z") == "03:45+0200"


def test_an_ambiguous_window_on_fall_back_day_is_read_as_the_first_occurrence() -> None:
    night = Window("night", time(2, 15), time(2, 45), EVERY_DAY)
    ((_, occurrence),) = window_occurrences([night], start=date(2026, 10, 25), days=1, zone=BERLIN)
    assert occurrence.start.astimezone(UTC).strftime("%H:%M") == "00:15"
    assert occurrence.duration == timedelta(minutes=30)


def test_a_date_the_zone_skipped_has_no_window() -> None:
    apia = ZoneInfo("Pacific/Apia")  # Samoa jumped from 29 to 31 December 2011
    occurrences = window_occurrences([BREAKFAST], start=date(2011, 12, 29), days=3, zone=apia)
    assert [o.start.astimezone(apia).day for _, o in occurrences] == [29, 31]


def test_an_all_day_busy_day_in_santiago_blocks_even_when_midnight_does_not_exist() -> None:
    santiago = ZoneInfo("America/Santiago")
    # On 6 September 2026 Santiago's clocks jump from 00:00 to 01:00.
    day_start = datetime.combine(date(2026, 9, 6), time(0), tzinfo=santiago)
    busy = [
        Interval(
            day_start.astimezone(UTC),
            datetime.combine(date(2026, 9, 7), time(0), tzinfo=santiago).astimezone(UTC),
        )
    ]
    slots = free_slots(
        busy,
        [BREAKFAST],
        zone=santiago,
        start=date(2026, 9, 5),
        days=3,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        policy=NO_RULES,
    )
    assert [s.start.day for s in slots] == [5, 7]


# --- properties ---------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "America/Santiago", "Pacific/Apia", "UTC"]
STARTS = [date(2026, 3, 26), date(2026, 10, 22), date(2026, 3, 6), date(2026, 9, 4)]
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def minute(value: datetime) -> int:
    return int((value - BASE).total_seconds() // 60)


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    start = draw(st.sampled_from(STARTS))
    origin = minute(datetime.combine(start, time(0), tzinfo=zone))
    busy = [
        Interval(
            BASE + timedelta(minutes=origin + s), BASE + timedelta(minutes=origin + s + length)
        )
        for s, length in draw(
            st.lists(st.tuples(st.integers(0, 4 * 1440), st.integers(0, 240)), max_size=25)
        )
    ]
    policy = SchedulingPolicy(
        duration=timedelta(minutes=draw(st.integers(5, 90))),
        buffer=timedelta(minutes=draw(st.integers(0, 30))),
        notice=timedelta(minutes=draw(st.integers(0, 2 * 1440))),
    )
    now = BASE + timedelta(minutes=origin + draw(st.integers(-1440, 2 * 1440)))
    return {"busy": busy, "zone": zone, "start": start, "policy": policy, "now": now}


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_slots_are_exactly_the_maximal_free_runs_of_each_window(case: dict) -> None:
    windows = [BREAKFAST, LUNCH]
    policy: SchedulingPolicy = case["policy"]
    slots = free_slots(
        case["busy"],
        windows,
        zone=case["zone"],
        start=case["start"],
        days=4,
        now=case["now"],
        policy=policy,
    )
    # An independent oracle on a one-minute grid.
    blocked: set[int] = set()
    for b in merge(widen(case["busy"], policy.buffer)):
        blocked.update(range(minute(b.start), minute(b.end)))
    earliest = minute(case["now"] + policy.notice)
    expected: list[tuple[int, str, int]] = []
    occurrences = window_occurrences(windows, start=case["start"], days=4, zone=case["zone"])
    for name, occ in occurrences:
        run: list[int] = []
        for m in [*range(minute(occ.start), minute(occ.end)), None]:
            if m is not None and m >= earliest and m not in blocked:
                run.append(m)
                continue
            if run and len(run) >= policy.duration.total_seconds() // 60:
                expected.append((run[0], name, run[-1] + 1))
            run = []
    expected.sort()
    assert [(minute(s.start), s.window, minute(s.end)) for s in slots] == expected

    widened = merge(widen(case["busy"], policy.buffer))
    for slot in slots:
        assert not any(slot.interval.overlaps(b) for b in widened)
        assert any(name == slot.window and occ.contains(slot.interval) for name, occ in occurrences)
        assert slot.start >= case["now"] + policy.notice
        assert slot.end - slot.start >= policy.duration
    for left, right in zip(slots, slots[1:], strict=False):
        assert (left.start, left.window) <= (right.start, right.window)
