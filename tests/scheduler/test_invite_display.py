"""Pure rules behind the invite pages and the dashboard: the reader's clock, when an answered
invite leaves the owner's list, and meeting lengths per meal window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.invites import archived, clock_time, format_span
from scheduler.model import SchedulingPolicy, Window, with_window_lengths
from scheduler.pairing import candidate_times
from scheduler.slots import free_slots

LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hour", "minute", "twelve", "twenty_four"),
    [
        (0, 5, "12:05 AM", "00:05"),
        (9, 0, "9:00 AM", "09:00"),
        (12, 0, "12:00 PM", "12:00"),
        (23, 45, "11:45 PM", "23:45"),
    ],
)
def test_a_time_reads_on_either_clock(
    hour: int, minute: int, twelve: str, twenty_four: str
) -> None:
    moment = datetime(2026, 12, 1, hour, minute, tzinfo=LA)
    assert clock_time(moment, hour12=True) == twelve
    assert clock_time(moment) == twenty_four


def test_a_span_across_midnight_names_the_second_day_on_a_12_hour_clock() -> None:
    start = datetime(2026, 12, 1, 23, 30, tzinfo=LA)
    text = format_span(start, start + timedelta(hours=1), "America/Los_Angeles", hour12=True)
    assert text == "Tue 1 Dec, 11:30 PM–Wed 12:30 AM (America/Los_Angeles)"


def test_the_spring_forward_hour_keeps_the_wall_clock_on_a_12_hour_clock() -> None:
    start = datetime(2026, 3, 8, 9, 30, tzinfo=UTC)  # 01:30 PST, an hour before the change
    text = format_span(start, start + timedelta(hours=1), "America/Los_Angeles", hour12=True)
    assert text == "Sun 8 Mar, 1:30 AM–3:30 AM (America/Los_Angeles)"


def _archived(status: str, **kw: object) -> bool:
    args: dict[str, object] = {
        "dismissed": False,
        "answered_at": T0,
        "created_at": T0 - timedelta(days=1),
        "contact_moved_on": None,
        "all_withdrawn": False,
    }
    args.update(kw)
    return archived(status, **args)  # type: ignore[arg-type]


def test_an_invite_still_waiting_stays_even_when_dismissed_or_superseded() -> None:
    assert not _archived("open", answered_at=None, dismissed=True)
    assert not _archived("open", answered_at=None, contact_moved_on=T0 + timedelta(days=1))


@pytest.mark.parametrize("status", ["declined", "suggested", "expired"])
def test_an_answered_invite_leaves_when_dismissed_or_once_dealt_with(status: str) -> None:
    assert not _archived(status)
    assert _archived(status, dismissed=True)
    assert _archived(status, contact_moved_on=T0 + timedelta(minutes=1))
    assert not _archived(status, contact_moved_on=T0 - timedelta(minutes=1))  # before the answer


def test_an_invite_whose_times_were_all_booked_elsewhere_counts_as_answered() -> None:
    assert _archived("open", answered_at=None, all_withdrawn=True, dismissed=True)
    assert _archived("open", answered_at=None, all_withdrawn=True, contact_moved_on=T0)


def test_a_window_with_its_own_length_cuts_slots_and_times_of_that_length() -> None:
    windows = (
        Window("breakfast", time(7, 30), time(8, 15), duration=timedelta(minutes=30)),
        Window("lunch", time(12, 0), time(12, 40)),
    )
    policy = with_window_lengths(SchedulingPolicy(notice=timedelta(0)), windows)
    assert policy.length_for("breakfast") == timedelta(minutes=30)
    assert policy.length_for("lunch") == policy.duration == timedelta(minutes=45)
    now = datetime(2026, 11, 30, 0, 0, tzinfo=BERLIN)  # a Monday
    slots = free_slots(
        [], windows, zone=BERLIN, start=date(2026, 11, 30), days=1, now=now, policy=policy
    )
    # Lunch is 40 minutes: too short for its 45; breakfast's 45 minutes hold a 30-minute coffee.
    assert [s.window for s in slots] == ["breakfast"]
    times = candidate_times(slots, policy.duration, per_window=policy)
    assert [(t.start.time(), t.end - t.start) for t in times] == [
        (time(7, 30), timedelta(minutes=30)),
        (time(7, 45), timedelta(minutes=30)),
    ]
