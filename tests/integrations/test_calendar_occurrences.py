"""Occurrences for the calendar store: the same busy semantics as `parse_busy`, plus details,
and the parse limits."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from integrations.calendars.errors import CalendarError
from integrations.calendars.events import ParseLimits, parse_occurrences
from integrations.calendars.ics import parse_busy
from scheduler.intervals import merge
from scheduler.model import Interval

ICS = Path(__file__).parent.parent / "data" / "ics"
READABLE = sorted(
    p for p in ICS.glob("*.ics") if p.name not in {"not_a_calendar.ics", "unclosed_event.ics"}
)
ME = ("owner@example.com", "olivia@example.com")


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Pacific/Apia"])
@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.stem)
def test_busy_occurrences_merge_to_exactly_what_parse_busy_gives(path: Path, zone: str) -> None:
    tz = ZoneInfo(zone)
    window = Interval(datetime(2025, 9, 1, tzinfo=tz), datetime(2027, 4, 1, tzinfo=tz))
    data = path.read_bytes()
    try:
        expected = parse_busy(data, window, zone=tz, me=ME, source=path.name)
    except CalendarError as refused:  # a file refused whole (UTF-16) is refused by both alike
        with pytest.raises(CalendarError) as also:
            parse_occurrences(data, window, zone=tz, me=ME, source=path.name)
        assert str(also.value) == str(refused)
        return
    found, warnings = parse_occurrences(data, window, zone=tz, me=ME, source=path.name)
    assert merge([i for o in found if o.busy for i in [Interval(o.start, o.end)]]) == list(
        expected.intervals
    )
    assert tuple(warnings) == tuple(map(str, expected.warnings))


def test_declined_transparent_and_cancelled_events_are_stored_as_not_busy() -> None:
    tz = ZoneInfo("Europe/Berlin")
    window = Interval(datetime(2026, 1, 1, tzinfo=tz), datetime(2027, 1, 1, tzinfo=tz))
    for name in ("declined.ics", "transparent.ics", "cancelled.ics"):
        found, _ = parse_occurrences((ICS / name).read_bytes(), window, zone=tz, me=ME)
        assert any(not o.busy for o in found), name


def test_an_occurrence_keeps_its_summary_and_the_other_attendees() -> None:
    tz = ZoneInfo("Europe/Berlin")
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:c@t\r\n"
        b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260302T080000Z\r\nDTEND:20260302T090000Z\r\n"
        b"SUMMARY:Coffee with Ana\r\nLOCATION:Cafe Rot\r\nORGANIZER:mailto:owner@example.com\r\n"
        b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:Ana@Example.org\r\n"
        b"ATTENDEE;PARTSTAT=DECLINED:mailto:bob@example.org\r\n"
        b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:owner@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    window = Interval(datetime(2026, 3, 1, tzinfo=tz), datetime(2026, 3, 8, tzinfo=tz))
    [one], _ = parse_occurrences(data, window, zone=tz, me=ME)
    assert (one.uid, one.summary, one.location) == ("c@t", "Coffee with Ana", "Cafe Rot")
    assert one.attendees == ("ana@example.org",) and one.busy


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (ParseLimits(max_bytes=100), r"larger than the limit .*\[sync\] ics_max_bytes"),
        (ParseLimits(max_components=2), r"more than the limit of 2 \(\[sync\] ics_max_components"),
        (ParseLimits(max_seconds=0.000001), r"longer than the limit .*\[sync\] ics_max_seconds"),
    ],
)
def test_a_calendar_over_a_limit_is_an_error_naming_the_limit(
    limits: ParseLimits, message: str
) -> None:
    tz = ZoneInfo("Europe/Berlin")
    window = Interval(datetime(2026, 1, 1, tzinfo=tz), datetime(2027, 1, 1, tzinfo=tz))
    data = (ICS / "weekly_across_dst_berlin.ics").read_bytes()
    with pytest.raises(CalendarError, match=f"^Team: .*{message}"):
        parse_occurrences(data, window, zone=tz, source="Team", limits=limits)
