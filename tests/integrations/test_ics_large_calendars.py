"""Big generated calendars: reading a few weeks gives exactly what reading everything gives.

`parse_busy` skips parsing single events that are plainly far from the asked range; this checks
that shortcut against a full read, on the benchmark's generator (small size).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bench.gen_calendars import generate
from integrations.calendars.ics import parse_busy
from scheduler.intervals import merge
from scheduler.model import BusyReport, Interval

BERLIN = ZoneInfo("Europe/Berlin")


def clipped(intervals: tuple[Interval, ...], to: Interval) -> list[Interval]:
    return merge(
        Interval(max(i.start, to.start), min(i.end, to.end)) for i in intervals if i.overlaps(to)
    )


EVERYTHING = Interval(datetime(2024, 12, 1, tzinfo=BERLIN), datetime(2028, 2, 1, tzinfo=BERLIN))
ME = ("owner@example.com",)


@pytest.fixture(scope="module")
def calendars(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[bytes, BusyReport]]:
    """Two generated calendars, each with its full three-year read (done once)."""
    paths = generate(tmp_path_factory.mktemp("generated"), seed=11, events=800, files=2)
    result = []
    for path in paths:
        data = path.read_bytes()
        result.append((data, parse_busy(data, EVERYTHING, zone=BERLIN, me=ME, source="x")))
    return result


@pytest.mark.parametrize("first", [date(2026, 3, 23), date(2025, 10, 20), date(2027, 12, 27)])
def test_a_few_weeks_read_alone_match_the_same_weeks_of_a_full_read(
    calendars: list[tuple[bytes, BusyReport]], first: date
) -> None:
    weeks = Interval(
        datetime.combine(first, time(0), tzinfo=BERLIN),
        datetime.combine(first + timedelta(weeks=3), time(0), tzinfo=BERLIN),
    )
    for data, full in calendars:
        part = parse_busy(data, weeks, zone=BERLIN, me=ME, source="x")
        assert part.intervals, "the generated weeks should not be empty"
        assert clipped(part.intervals, weeks) == clipped(full.intervals, weeks)
        assert part.warnings == full.warnings == ()


def test_a_malformed_event_far_from_the_range_is_still_reported() -> None:
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        b"BEGIN:VEVENT\r\nUID:far-and-broken\r\nDTSTART:20200101T25\r\n"
        b"DTEND:20200101T120000Z\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:far-and-fine\r\nDTSTART:20200101T100000Z\r\n"
        b"DTEND:20200101T120000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    march = Interval(datetime(2026, 3, 2, tzinfo=BERLIN), datetime(2026, 3, 9, tzinfo=BERLIN))
    report = parse_busy(data, march, zone=BERLIN, source="old.ics")
    assert report.intervals == ()
    (warning,) = map(str, report.warnings)
    assert "far-and-broken (line 6)" in warning
