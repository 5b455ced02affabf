"""Busy-time semantics of ICS calendars, each shown with a real .ics file in tests/data/ics/."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from integrations.calendars.errors import CalendarError
from integrations.calendars.ics import IcsFileSource, parse_busy
from integrations.calendars.sources import collect_busy
from scheduler.model import BusyReport, Interval

ICS = Path(__file__).parent.parent / "data" / "ics"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def days(first: str, count: int, zone: ZoneInfo = BERLIN) -> Interval:
    start = datetime.combine(date.fromisoformat(first), datetime.min.time(), tzinfo=zone)
    return Interval(start, start + timedelta(days=count))


def read(
    name: str,
    interval: Interval,
    zone: ZoneInfo = BERLIN,
    me: tuple[str, ...] = (),
) -> BusyReport:
    return parse_busy((ICS / name).read_bytes(), interval, zone=zone, me=me, source=name)


def spans(report: BusyReport, zone: ZoneInfo = BERLIN) -> list[str]:
    """Busy intervals as "YYYY-MM-DD HH:MM-HH:MM" (end date shown only when it differs)."""
    out = []
    for i in report.intervals:
        s, e = i.start.astimezone(zone), i.end.astimezone(zone)
        end = f"{e:%H:%M}" if e.date() == s.date() else f"{e:%Y-%m-%d %H:%M}"
        out.append(f"{s:%Y-%m-%d %H:%M}-{end}")
    return out


def test_transparent_events_do_not_make_the_owner_busy() -> None:
    report = read("transparent.ics", days("2026-03-02", 1))
    assert spans(report) == ["2026-03-02 09:00-09:30", "2026-03-02 15:00-16:00"]


def test_cancelled_events_and_a_cancelled_instance_of_a_series_are_free() -> None:
    report = read("cancelled.ics", days("2026-03-02", 21))
    assert spans(report) == ["2026-03-03 12:00-13:00", "2026-03-17 12:00-13:00"]


def test_an_event_the_owner_declined_is_free_matched_case_insensitively() -> None:
    report = read("declined.ics", days("2026-03-02", 1), me=("owner@example.com",))
    assert spans(report) == ["2026-03-02 12:00-13:00", "2026-03-02 15:00-16:00"]


def test_a_declined_event_still_blocks_when_the_owner_is_not_known() -> None:
    report = read("declined.ics", days("2026-03-02", 1))
    assert spans(report)[0] == "2026-03-02 08:00-09:00"


def test_the_owner_address_may_be_given_with_mailto_and_any_case() -> None:
    report = read("declined.ics", days("2026-03-02", 1), me=("MAILTO:OWNER@example.com",))
    assert "2026-03-02 08:00-09:00" not in spans(report)


def test_declining_one_instance_of_a_series_frees_only_that_instance() -> None:
    report = read("declined_one_instance.ics", days("2026-03-02", 21), me=("owner@example.com",))
    assert spans(report) == ["2026-03-03 12:15-13:00", "2026-03-17 12:15-13:00"]


def test_tentative_events_are_busy() -> None:
    report = read("tentative.ics", days("2026-03-02", 1), me=("owner@example.com",))
    assert spans(report) == ["2026-03-02 12:00-13:00"]


def test_rrule_count_and_until_end_a_series() -> None:
    report = read("rrule_count_until.ics", days("2026-03-01", 30))
    assert spans(report) == [
        "2026-03-02 08:00-08:30",
        "2026-03-02 12:30-13:15",
        "2026-03-03 08:00-08:30",
        "2026-03-04 08:00-08:30",
        "2026-03-09 12:30-13:15",
        "2026-03-16 12:30-13:15",
    ]


def test_byday_ordinals_pick_the_last_friday_and_the_second_tuesday() -> None:
    report = read("rrule_byday_ordinals.ics", days("2026-03-01", 61))
    assert spans(report) == [
        "2026-03-10 08:00-09:00",
        "2026-03-27 12:00-13:00",
        "2026-04-14 08:00-09:00",
        "2026-04-24 12:00-13:00",
    ]


def test_rdate_adds_occurrences_to_an_event() -> None:
    report = read("rdate.ics", days("2026-03-01", 21))
    assert spans(report) == [
        "2026-03-02 08:00-08:45",
        "2026-03-05 12:00-12:45",
        "2026-03-11 08:00-08:45",
        "2026-03-16 10:00-11:00",
        "2026-03-18 15:00-16:30",
        "2026-03-19 15:00-15:30",
    ]


def test_exdate_in_utc_or_another_zone_removes_an_instance_of_a_berlin_series() -> None:
    report = read("exdate_utc_against_tzid.ics", days("2026-03-01", 10))
    assert spans(report) == [
        "2026-03-02 08:00-08:45",
        "2026-03-04 08:00-08:45",
        "2026-03-06 08:00-08:45",
    ]


def test_recurrence_id_moves_one_instance_and_shortens_another() -> None:
    report = read("recurrence_id_moved.ics", days("2026-03-01", 30))
    assert spans(report) == [
        "2026-03-02 12:30-13:30",
        "2026-03-10 16:00-17:00",
        "2026-03-16 12:30-12:45",
        "2026-03-23 12:30-13:30",
    ]


def test_weekly_berlin_series_keeps_its_local_time_across_both_dst_changes() -> None:
    spring = read("weekly_across_dst_berlin.ics", days("2026-03-22", 14))
    assert spans(spring) == ["2026-03-23 07:30-08:30", "2026-03-30 07:30-08:30"]
    assert [i.start.utcoffset() for i in spring.intervals] == [timedelta(0), timedelta(0)]
    utc_hours = [i.start.hour for i in spring.intervals]
    assert utc_hours == [6, 5]  # the same wall time is an hour earlier in UTC after the change
    autumn = read("weekly_across_dst_berlin.ics", days("2026-10-18", 14))
    assert spans(autumn) == ["2026-10-19 12:00-13:00", "2026-10-26 12:00-13:00"]


def test_weekly_new_york_series_keeps_its_local_time_across_both_dst_changes() -> None:
    spring = read("weekly_across_dst_new_york.ics", days("2026-03-01", 14, NEW_YORK), NEW_YORK)
    assert spans(spring, NEW_YORK) == ["2026-03-06 09:00-09:30", "2026-03-13 09:00-09:30"]
    autumn = read("weekly_across_dst_new_york.ics", days("2026-10-25", 14, NEW_YORK), NEW_YORK)
    assert spans(autumn, NEW_YORK) == ["2026-10-30 09:00-09:30", "2026-11-06 09:00-09:30"]


def test_new_york_meetings_seen_from_berlin_shift_during_the_weeks_the_rules_differ() -> None:
    # 8 March: New York is on summer time, Berlin not until 29 March: the gap is 5 h, not 6.
    report = read("weekly_across_dst_new_york.ics", days("2026-03-01", 14))
    assert spans(report) == ["2026-03-06 15:00-15:30", "2026-03-13 14:00-14:30"]


def test_all_day_events_cover_whole_days_in_the_users_zone_end_exclusive() -> None:
    report = read("all_day.ics", days("2026-03-01", 14))
    assert spans(report) == [
        "2026-03-03 00:00-2026-03-04 00:00",
        "2026-03-09 00:00-2026-03-12 00:00",
    ]
    la = read("all_day.ics", days("2026-03-01", 6, LOS_ANGELES), LOS_ANGELES)
    assert spans(la, LOS_ANGELES) == ["2026-03-03 00:00-2026-03-04 00:00"]


def test_duration_or_dtend_give_the_end() -> None:
    report = read("duration.ics", days("2026-03-01", 10))
    assert spans(report) == [
        "2026-03-02 10:30-12:00",
        "2026-03-02 14:00-14:45",
        "2026-03-05 00:00-2026-03-07 00:00",
    ]


def test_a_single_event_ending_in_another_zone_lasts_exactly_until_its_end() -> None:
    # Start and end are instants even when the start's zone changes clocks during the event.
    spring = read("mixed_zone_single_events.ics", days("2026-03-07", 3))
    assert spans(spring) == ["2026-03-08 02:00-13:00"]
    assert spring.intervals[0].duration == timedelta(hours=11)
    overnight = read("mixed_zone_single_events.ics", days("2026-03-28", 2))
    assert spans(overnight) == ["2026-03-28 22:00-2026-03-29 09:00"]
    autumn = read("mixed_zone_single_events.ics", days("2026-10-24", 2))
    assert [(i.start.isoformat(), i.end.isoformat()) for i in autumn.intervals] == [
        ("2026-10-24T23:30:00+00:00", "2026-10-25T01:30:00+00:00")
    ]


def test_dtstart_alone_is_a_moment_on_a_time_and_a_whole_day_on_a_date() -> None:
    report = read("dtstart_only.ics", days("2026-03-01", 10))
    assert spans(report) == ["2026-03-04 00:00-2026-03-05 00:00"]


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, LOS_ANGELES])
def test_floating_times_are_wall_clock_times_in_the_users_zone(zone: ZoneInfo) -> None:
    report = read("floating.ics", days("2026-03-01", 3, zone), zone)
    assert spans(report, zone) == ["2026-03-02 08:00-09:00"]


def test_an_outlook_vtimezone_with_a_windows_name_is_honoured_across_dst() -> None:
    report = read("outlook_windows_zone.ics", days("2026-03-22", 21))
    assert spans(report) == [
        "2026-03-23 08:30-09:30",
        "2026-03-30 08:30-09:30",
        "2026-04-06 08:30-09:30",
    ]


@pytest.mark.parametrize("name", ["outlook_windows_zone.ics", "custom_named_vtimezone.ics"])
def test_a_vtimezone_is_honoured_for_a_user_in_another_zone(name: str) -> None:
    # Read in UTC, so a TZID wrongly taken as floating (the user's zone) would show up.
    utc = ZoneInfo("UTC")
    report = read(name, days("2026-03-22", 21, utc), utc)
    assert spans(report, utc) == [
        "2026-03-23 07:30-08:30",
        "2026-03-30 06:30-07:30",
        "2026-04-06 06:30-07:30",
    ]
    assert report.warnings == ()


def test_until_as_local_time_and_overrides_in_utc_match_a_berlin_series() -> None:
    report = read("until_local_and_utc_overrides.ics", days("2026-03-01", 42))
    assert spans(report) == [
        "2026-03-02 12:30-13:15",
        "2026-03-09 12:30-13:15",
        "2026-03-16 12:30-13:15",
        "2026-03-23 08:00-08:30",
        "2026-03-23 12:00-13:00",
        "2026-03-30 08:00-08:30",
        "2026-03-31 15:00-16:00",
    ]


def test_multi_day_all_day_events_cover_whole_local_days_across_a_clock_change() -> None:
    la = read("all_day_across_dst.ics", days("2026-03-01", 14, LOS_ANGELES), LOS_ANGELES)
    assert spans(la, LOS_ANGELES) == ["2026-03-07 00:00-2026-03-10 00:00"]
    assert [i.start.astimezone(LOS_ANGELES).utcoffset() for i in la.intervals] == [
        timedelta(hours=-8)
    ]
    assert la.intervals[0].duration == timedelta(hours=71)
    berlin = read("all_day_across_dst.ics", days("2026-03-26", 7))
    assert spans(berlin) == ["2026-03-28 00:00-2026-03-30 00:00"]
    assert berlin.intervals[0].duration == timedelta(hours=47)


def test_a_google_export_with_x_wr_timezone_is_read_as_google_shows_it() -> None:
    report = read("x_wr_timezone_google_export.ics", days("2026-03-15", 21))
    # The weekly event stays at 09:00 Berlin after 29 March, though written as 08:00 UTC,
    # and the floating lunch is at 12:00 Berlin, the calendar's zone.
    assert spans(report) == [
        "2026-03-16 09:00-10:00",
        "2026-03-17 12:00-13:00",
        "2026-03-23 09:00-10:00",
        "2026-03-30 09:00-10:00",
    ]
    # Read in Berlin time, this event ends in the repeated hour: it still lasts its 2 hours.
    fold = read("x_wr_timezone_google_export.ics", days("2026-10-24", 2))
    assert [(i.start.isoformat(), i.end.isoformat()) for i in fold.intervals] == [
        ("2026-10-24T23:30:00+00:00", "2026-10-25T01:30:00+00:00")
    ]


def test_vfreebusy_periods_are_busy_unless_marked_free() -> None:
    report = read("vfreebusy.ics", days("2026-03-02", 7))
    assert spans(report) == [
        "2026-03-02 08:00-09:00",
        "2026-03-02 12:00-13:00",
        "2026-03-03 08:00-08:30",
        "2026-03-03 12:00-12:45",
        "2026-03-05 12:30-13:30",
    ]


def test_a_malformed_event_is_skipped_with_a_warning_naming_its_uid_and_line() -> None:
    report = read("malformed_event.ics", days("2026-03-01", 5))
    assert spans(report) == ["2026-03-02 08:00-09:00", "2026-03-03 12:00-13:00"]
    assert len(report.warnings) == 1
    warning = str(report.warnings[0])
    assert "malformed_event.ics" in warning
    assert "broken-start@example.com" in warning
    assert "line 14" in warning  # the DTSTART line of that event
    assert "DTSTART" in warning


def test_an_unreadable_recurrence_id_skips_that_event_with_its_uid_and_line() -> None:
    report = read("bad_recurrence_id.ics", days("2026-03-01", 5))
    assert spans(report) == ["2026-03-02 08:00-09:00"]
    assert [str(w) for w in report.warnings] == [
        "bad_recurrence_id.ics: skipped event UID u1@x (line 14): bad RECURRENCE-ID: "
        "its value cannot be read"
    ]


def test_a_vtimezone_offset_out_of_range_is_an_error_naming_the_line_and_property() -> None:
    with pytest.raises(CalendarError) as caught:
        read("vtimezone_offset_out_of_range.ics", days("2026-03-01", 5))
    message = str(caught.value)
    assert message == (
        "vtimezone_offset_out_of_range.ics: line 8 in STANDARD: bad TZOFFSETFROM: "
        "not a UTC offset (+HHMM or -HHMM, less than 24 hours)"
    )


@pytest.mark.parametrize(
    ("component", "line", "expected"),
    [
        (
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:SECRET-99\r\nEND:VALARM\r\n",
            "line 11 in VALARM: bad TRIGGER:",
            "not a date, date-time or duration",
        ),
        (
            "END:VEVENT\r\nBEGIN:VFREEBUSY\r\nUID:f@x\r\nFREEBUSY:SECRET-99\r\n"
            "END:VFREEBUSY\r\nBEGIN:VEVENT\r\nUID:v@x\r\nDTSTART:20260302T100000Z\r\n",
            "line 12 in VFREEBUSY: bad FREEBUSY:",
            "not a period",
        ),
        (
            'END:VEVENT\r\nBEGIN:VTIMEZONE\r\nTZID;X="SECRET-99:x\r\nEND:VTIMEZONE\r\n'
            "BEGIN:VEVENT\r\nUID:v@x\r\nDTSTART:20260302T100000Z\r\n",
            "line 11 in VTIMEZONE:",
            "not an iCalendar line",
        ),
    ],
)
def test_a_bad_value_outside_an_event_is_refused_with_its_line_not_quoted(
    component: str, line: str, expected: str
) -> None:
    data = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:e@x\r\n"
        "DTSTAMP:20260301T000000Z\r\nDTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\n"
        f"{component}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    with pytest.raises(CalendarError) as caught:
        parse_busy(data, days("2026-03-01", 5), zone=BERLIN, source="f.ics")
    message = str(caught.value)
    assert message.startswith(f"f.ics: {line}")
    assert expected in message
    assert "SECRET" not in message


def test_a_files_own_property_named_like_meetagains_mark_changes_nothing() -> None:
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:e@x\r\n"
        b"DTSTAMP:20260301T000000Z\r\nDTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\n"
        b"X-MEETAGAIN-EXACT-DURATION:P30D\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:z@x\r\nDTSTAMP:20260301T000000Z\r\n"
        b"DTSTART:20260303T100000Z\r\nX-MEETAGAIN-EXACT-DURATION:nonsense\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR\r\n"
    )
    report = parse_busy(data, days("2026-03-01", 5), zone=BERLIN, source="f.ics")
    assert spans(report) == ["2026-03-02 11:00-12:00"]
    assert report.warnings == ()


def test_an_unclosed_component_is_an_error_naming_file_line_and_component() -> None:
    with pytest.raises(CalendarError) as caught:
        read("unclosed_event.ics", days("2026-03-01", 5))
    message = str(caught.value)
    assert message.startswith("unclosed_event.ics: line 13:")
    assert "VEVENT opened on line 9" in message


def test_a_file_that_is_not_a_calendar_is_an_error_naming_it() -> None:
    with pytest.raises(CalendarError, match=r"not_a_calendar\.ics: line 1"):
        read("not_a_calendar.ics", days("2026-03-01", 5))


def test_an_empty_file_is_an_error() -> None:
    with pytest.raises(CalendarError, match="empty"):
        parse_busy(b"\n", days("2026-03-01", 5), zone=BERLIN, source="empty.ics")


def test_a_user_in_los_angeles_sees_a_berlin_meeting_move_when_berlin_changes_clocks() -> None:
    report = read("berlin_team.ics", days("2026-03-23", 12, LOS_ANGELES), LOS_ANGELES)
    los_angeles = spans(report, LOS_ANGELES)
    assert los_angeles[:5] == [f"2026-03-{d} 09:00-09:30" for d in range(23, 28)]
    assert los_angeles[5:] == [f"2026-03-{d} 08:00-08:30" for d in range(30, 32)] + [
        f"2026-04-0{d} 08:00-08:30" for d in range(1, 4)
    ]


def test_events_from_several_calendars_are_merged() -> None:
    sources = [
        IcsFileSource(ICS / "declined.ics", zone=BERLIN),
        IcsFileSource(ICS / "second_calendar.ics", zone=BERLIN),
    ]
    report = collect_busy(sources, days("2026-03-02", 1))
    assert spans(report) == [
        "2026-03-02 08:00-09:30",
        "2026-03-02 12:00-13:00",
        "2026-03-02 15:00-16:00",
    ]


def test_only_events_overlapping_the_asked_interval_are_returned() -> None:
    asked = Interval(
        datetime(2026, 3, 2, 8, 30, tzinfo=BERLIN), datetime(2026, 3, 2, 12, 0, tzinfo=BERLIN)
    )
    report = read("declined.ics", asked)
    assert spans(report) == ["2026-03-02 08:00-09:00"]


def test_rules_that_cannot_be_expanded_are_skipped_with_warnings_not_hangs() -> None:
    report = read("bad_rules.ics", days("2026-03-01", 10))
    assert spans(report) == ["2026-03-02 08:00-09:00"]
    warnings = "\n".join(map(str, report.warnings))
    assert len(report.warnings) == 3
    assert "interval-zero@example.com (line 16): RRULE INTERVAL must be at least 1" in warnings
    assert "bysetpos-zero@example.com (line 20)" in warnings
    assert "every-minute@example.com (line 32): RRULE FREQ=MINUTELY" in warnings


def test_an_unknown_tzid_is_read_in_the_users_zone_with_a_warning() -> None:
    report = read("unknown_tzid.ics", days("2026-03-02", 1))
    assert spans(report) == ["2026-03-02 12:00-13:00"]
    (warning,) = map(str, report.warnings)
    assert "mars-meeting@example.com (line 7)" in warning
    assert "Olympus Mons Time" in warning


def test_an_all_day_event_on_a_day_whose_midnight_does_not_exist_covers_that_whole_day() -> None:
    santiago = ZoneInfo("America/Santiago")  # clocks jump 00:00 -> 01:00 on 6 September 2026
    report = read("all_day_santiago_dst.ics", days("2026-09-05", 3, santiago), santiago)
    assert spans(report, santiago) == ["2026-09-06 01:00-2026-09-07 00:00"]
    assert report.intervals[0].duration == timedelta(hours=23)
