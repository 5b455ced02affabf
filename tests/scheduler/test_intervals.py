"""Interval arithmetic: merge, subtract, widen; unit examples and hypothesis properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.intervals import merge, subtract, widen
from scheduler.model import Interval, Slot

BASE = datetime(2026, 3, 1, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def at(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)


def iv(a: int, b: int) -> Interval:
    return Interval(at(a), at(b))


intervals = st.builds(
    lambda start, length: iv(start, start + length),
    st.integers(0, 2000),
    st.integers(0, 300),
)


def covered(spans: list[Interval]) -> set[int]:
    """The whole minutes (since BASE) covered by the spans."""
    minutes: set[int] = set()
    for s in spans:
        first = int((s.start - BASE).total_seconds() // 60)
        last = int((s.end - BASE).total_seconds() // 60)
        minutes.update(range(first, last))
    return minutes


def test_merge_joins_overlapping_and_touching_intervals_and_drops_empty_ones() -> None:
    assert merge([iv(50, 60), iv(0, 10), iv(10, 20), iv(15, 30), iv(40, 40)]) == [
        iv(0, 30),
        iv(50, 60),
    ]


def test_merge_compares_instants_not_wall_times_inside_a_dst_fold() -> None:
    # 02:30 CEST (fold=0) is an hour before 02:10 CET (fold=1) on 25 October 2026.
    early = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)
    late = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN)
    twenty = timedelta(minutes=20)
    first = Interval(early, (early.astimezone(UTC) + twenty).astimezone(BERLIN))
    second = Interval(late, (late.astimezone(UTC) + twenty).astimezone(BERLIN))
    # (Ambiguous wall times never compare equal across zones, so compare in UTC.)
    assert [(i.start.hour, i.start.minute) for i in merge([second, first])] == [(0, 30), (1, 10)]


def test_intervals_and_slots_sort_by_instant_inside_a_dst_fold() -> None:
    early = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)  # 00:30 UTC (CEST)
    late = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN)  # 01:10 UTC (CET)
    end = datetime(2026, 10, 25, 4, 0, tzinfo=BERLIN)
    assert sorted([Interval(late, end), Interval(early, end)]) == [
        Interval(early, end),
        Interval(late, end),
    ]
    assert Interval(early, end) < Interval(late, end)
    slots = [Slot(late, end, "night"), Slot(early, end, "night")]
    assert [s.start.fold for s in sorted(slots)] == [0, 1]


def test_subtract_leaves_the_gaps_of_the_base() -> None:
    assert subtract(iv(0, 100), [iv(20, 30), iv(-10, 5), iv(25, 40), iv(90, 200)]) == [
        iv(5, 20),
        iv(40, 90),
    ]


def test_subtract_with_nothing_busy_returns_the_base() -> None:
    assert subtract(iv(0, 100), []) == [iv(0, 100)]


def test_widen_grows_both_sides_and_ignores_empty_intervals() -> None:
    assert widen([iv(10, 20), iv(50, 50)], timedelta(minutes=5)) == [iv(5, 25)]


@settings(deadline=None)
@given(st.lists(intervals, max_size=30))
def test_merge_is_idempotent_sorted_disjoint_and_covers_the_same_instants(
    spans: list[Interval],
) -> None:
    merged = merge(spans)
    assert merge(merged) == merged
    assert covered(merged) == covered(spans)
    for left, right in zip(merged, merged[1:], strict=False):
        assert left.end < right.start


@settings(deadline=None)
@given(intervals, st.lists(intervals, max_size=30))
def test_free_and_busy_together_cover_the_base_exactly(
    base: Interval, busy: list[Interval]
) -> None:
    free = subtract(base, busy)
    assert covered(free) | (covered(busy) & covered([base])) == covered([base])
    assert not covered(free) & covered(busy)
    for piece in free:
        assert base.contains(piece)
        assert piece.duration > timedelta(0)


@settings(deadline=None)
@given(st.lists(intervals, max_size=20), st.integers(0, 60))
def test_widened_intervals_contain_the_originals(spans: list[Interval], minutes: int) -> None:
    by = timedelta(minutes=minutes)
    wide = widen(spans, by)
    assert len(wide) == len([s for s in spans if s.duration])
    for original, grown in zip([s for s in spans if s.duration], wide, strict=True):
        assert grown.start == original.start - by
        assert grown.end == original.end + by


FOLD_NIGHT = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # Berlin falls back at 01:00 UTC


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 240), st.integers(0, 90)), max_size=12))
def test_merge_and_subtract_give_the_same_instants_whatever_zone_the_times_are_written_in(
    spans: list[tuple[int, int]],
) -> None:
    utc = [
        Interval(FOLD_NIGHT + timedelta(minutes=s), FOLD_NIGHT + timedelta(minutes=s + n))
        for s, n in spans
    ]
    berlin = [Interval(i.start.astimezone(BERLIN), i.end.astimezone(BERLIN)) for i in utc]
    assert merge(berlin) == merge(utc)
    night = Interval(FOLD_NIGHT, FOLD_NIGHT + timedelta(hours=5))
    night_berlin = Interval(night.start.astimezone(BERLIN), night.end.astimezone(BERLIN))
    assert subtract(night_berlin, berlin) == subtract(night, utc)
