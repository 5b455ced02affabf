"""Booking rules: the owner's day and week in their zone, and the daily and weekly caps;
unit examples and hypothesis properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler import booking_rules
from scheduler.model import SchedulingPolicy

# Zones whose clock changes fall away from midnight (or never happen), including a half-hour
# change (Lord Howe) and the southern hemisphere's summer.
ZONES = [
    ZoneInfo(name)
    for name in (
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Auckland",
        "UTC",
    )
]
BERLIN = ZoneInfo("Europe/Berlin")

instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@given(instants, st.sampled_from(ZONES))
@settings(max_examples=300)
def test_every_instant_lies_in_the_day_and_week_of_its_local_date(
    moment: datetime, zone: ZoneInfo
) -> None:
    local = moment.astimezone(zone).date()
    day = booking_rules.day_bounds(local, zone)
    week = booking_rules.week_bounds(local, zone)
    assert day.start <= moment < day.end
    assert week.start <= day.start and day.end <= week.end
    assert week.start.astimezone(zone).weekday() == 0  # a Monday, at local midnight
    assert week.start.astimezone(zone).time().hour == 0


def test_a_day_with_a_clock_change_is_23_or_25_hours_long() -> None:
    spring = booking_rules.day_bounds(date(2027, 3, 28), BERLIN)
    autumn = booking_rules.day_bounds(date(2027, 10, 31), BERLIN)
    assert spring.duration == timedelta(hours=23)
    assert autumn.duration == timedelta(hours=25)
    assert booking_rules.week_bounds(date(2027, 10, 31), BERLIN).duration == timedelta(
        days=7, hours=1
    )


def _at(day: date, hour: int, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone)


def test_the_day_cap_counts_bookings_of_the_owners_local_day_only() -> None:
    policy = SchedulingPolicy(max_per_day=2, max_per_week=10)
    monday = date(2027, 3, 1)
    # 00:30 Tuesday in Berlin is still Monday in UTC: it counts for Tuesday.
    booked = [_at(monday, 8), _at(monday + timedelta(days=1), 0).replace(minute=30)]
    assert booking_rules.cap_problem(_at(monday, 12), booked, zone=BERLIN, policy=policy) is None
    booked.append(_at(monday, 10))
    said = booking_rules.cap_problem(_at(monday, 12), booked, zone=BERLIN, policy=policy)
    assert said == "Mon 1 Mar already has 2 coffees booked (at most 2 a day)"


def test_the_week_cap_names_the_monday_of_the_full_week() -> None:
    policy = SchedulingPolicy(max_per_day=3, max_per_week=2)
    wednesday = date(2027, 3, 3)
    booked = [_at(wednesday - timedelta(days=2), 9), _at(wednesday + timedelta(days=4), 9)]
    said = booking_rules.cap_problem(_at(wednesday, 12), booked, zone=BERLIN, policy=policy)
    assert said == "the week of Mon 1 Mar already has 2 coffees booked (at most 2 a week)"
    next_week = _at(wednesday + timedelta(days=7), 12)
    assert booking_rules.cap_problem(next_week, booked, zone=BERLIN, policy=policy) is None


@given(
    st.lists(instants, max_size=12),
    instants,
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=8),
    st.sampled_from(ZONES),
)
@settings(max_examples=300)
def test_the_ranges_a_booking_fills_are_those_the_caps_then_refuse(
    booked: list[datetime], start: datetime, per_day: int, per_week: int, zone: ZoneInfo
) -> None:
    """Once `start` is booked, a later time of the same day is refused for the day (or the
    week) exactly when full_ranges said that day (or week) is full: the accept withdraws
    from other invites what the caps would refuse anyway, no more, no less."""
    policy = SchedulingPolicy(max_per_day=per_day, max_per_week=per_week)
    full = booking_rules.full_ranges(start, booked, zone=zone, policy=policy)
    day = booking_rules.day_bounds(start.astimezone(zone).date(), zone)
    week = booking_rules.week_bounds(start.astimezone(zone).date(), zone)
    later = start + (day.end - start) / 2  # the same local day
    said = booking_rules.cap_problem(later, [*booked, start], zone=zone, policy=policy)
    refused_for_day = said is not None and not said.startswith("the week of")
    assert refused_for_day == (day in full)
    if not refused_for_day:
        assert (said is not None) == (week in full)


# --- naming busy time ---------------------------------------------------------------------------


def _berlin(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=BERLIN)


def test_busy_time_is_named_with_its_days_when_it_runs_past_midnight_or_all_day() -> None:
    from scheduler.model import Interval

    span = booking_rules.span
    assert span(Interval(_berlin(20, 12), _berlin(20, 13)), BERLIN) == "Fri 20 Mar, 12:00–13:00"
    assert span(Interval(_berlin(20, 0), _berlin(21, 0)), BERLIN) == "all day Fri 20 Mar"
    assert span(Interval(_berlin(20, 0), _berlin(23, 0)), BERLIN) == (
        "all day Fri 20 Mar – Sun 22 Mar"
    )
    assert span(Interval(_berlin(20, 22), _berlin(21, 2)), BERLIN) == (
        "Fri 20 Mar, 22:00 – Sat 21 Mar, 02:00"
    )
    # The day the clocks go forward has 23 hours: still one whole day.
    assert span(Interval(_berlin(29, 0), _berlin(30, 0)), BERLIN) == "all day Sun 29 Mar"
    # Where a clock change skips midnight, the day starts at 01:00: still all day.
    santiago = ZoneInfo("America/Santiago")
    first, next_day = (datetime(2026, 9, d, 1, tzinfo=santiago) for d in (6, 7))
    assert first.utcoffset() != datetime(2026, 9, 5, 12, tzinfo=santiago).utcoffset()
    assert span(Interval(first, next_day.replace(hour=0)), santiago) == "all day Sun 6 Sep"
    # Told in the owner's zone, not the calendar's: a UTC all-day block is not all day here.
    utc_day = Interval(datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 3, 21, tzinfo=UTC))
    assert span(utc_day, BERLIN) == "Fri 20 Mar, 01:00 – Sat 21 Mar, 01:00"


def test_a_time_inside_an_all_day_block_says_the_day_is_busy() -> None:
    from scheduler.model import Interval

    problem = booking_rules.time_problem(
        Interval(_berlin(20, 12), _berlin(20, 13)),
        busy=[Interval(_berlin(20, 0), _berlin(21, 0))],
        zone=BERLIN,
        policy=SchedulingPolicy(),
    )
    assert problem == "it overlaps busy time (all day Fri 20 Mar)"
