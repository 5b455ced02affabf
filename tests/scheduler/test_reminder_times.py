"""When reminders and the Monday digest are due: wall-clock times in the reader's zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.reminders import digest_week, reminder_at, reminder_due

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("zone", "start", "expected_utc"),
    [
        # Berlin springs forward on Sun 28 Mar 2027: Saturday 17:00 is CET, Sunday's is CEST.
        ("Europe/Berlin", datetime(2027, 3, 29, 8, 0), datetime(2027, 3, 28, 15, 0)),
        ("Europe/Berlin", datetime(2027, 3, 28, 12, 0), datetime(2027, 3, 27, 16, 0)),
        # ... and falls back on Sun 31 Oct 2027.
        ("Europe/Berlin", datetime(2027, 11, 1, 8, 0), datetime(2027, 10, 31, 16, 0)),
        ("America/New_York", datetime(2027, 3, 15, 8, 0), datetime(2027, 3, 14, 21, 0)),
        ("America/Santiago", datetime(2027, 9, 6, 8, 0), datetime(2027, 9, 5, 20, 0)),
        ("Pacific/Apia", datetime(2027, 1, 5, 8, 0), datetime(2027, 1, 4, 4, 0)),
    ],
)
def test_the_reminder_keeps_its_local_time_across_dst(
    zone: str, start: datetime, expected_utc: datetime
) -> None:
    tz = ZoneInfo(zone)
    due = reminder_at(start.replace(tzinfo=tz), tz, days_before=1, at=time(17, 0))
    assert due == expected_utc.replace(tzinfo=UTC)
    assert due.astimezone(tz).time() == time(17, 0)


def test_a_reminder_time_skipped_by_dst_lands_after_the_gap() -> None:
    start = datetime(2027, 3, 29, 8, 0, tzinfo=BERLIN)
    due = reminder_at(start, BERLIN, days_before=1, at=time(2, 30))
    assert due.astimezone(BERLIN).time() == time(3, 30)


def test_no_reminder_for_a_coffee_booked_after_the_reminder_moment() -> None:
    start = datetime(2027, 3, 29, 8, 0, tzinfo=BERLIN)
    due = reminder_at(start, BERLIN, days_before=1, at=time(17, 0))
    args = {"now": due, "days_before": 1, "at": time(17, 0)}
    assert reminder_due(start, due - timedelta(days=2), BERLIN, **args)
    assert not reminder_due(start, due + timedelta(minutes=1), BERLIN, **args)
    assert not reminder_due(start, due - timedelta(days=2), BERLIN, **{**args, "days_before": 0})
    late = {**args, "now": start}
    assert not reminder_due(start, due - timedelta(days=2), BERLIN, **late)


def test_the_digest_is_due_from_monday_seven_local_for_half_a_day() -> None:
    monday = datetime(2027, 3, 29, 7, 0, tzinfo=BERLIN)  # the day after the spring change
    assert digest_week(monday - timedelta(minutes=1), BERLIN) is None
    assert digest_week(monday, BERLIN) == ("2027-W13", monday.date())
    assert digest_week(monday + timedelta(hours=11), BERLIN) is not None
    assert digest_week(monday + timedelta(hours=12), BERLIN) is None
    assert digest_week(monday + timedelta(days=1), BERLIN) is None


def test_monday_seven_is_local_in_every_zone() -> None:
    moment = datetime(2027, 3, 29, 5, 0, tzinfo=UTC)  # 07:00 in Berlin, 01:00 in New York
    assert digest_week(moment, BERLIN) is not None
    assert digest_week(moment, ZoneInfo("America/New_York")) is None
    assert digest_week(datetime(2027, 3, 29, 11, 0, tzinfo=UTC), ZoneInfo("America/New_York"))
