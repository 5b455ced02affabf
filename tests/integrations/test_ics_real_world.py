"""Real-world calendar files (Exchange, Outlook Web, Nextcloud, Google, Thunderbird, a school feed,
Notepad): each read to the busy intervals worked out by hand in the comments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from integrations.calendars.cache import BusyCache
from integrations.calendars.errors import CalendarError
from integrations.calendars.ics import IcsFileSource, parse_busy
from integrations.calendars.sources import collect_busy
from scheduler.model import BusyReport, Interval
from web.composition import Runtime
from web.services.accounts import create_user

ICS = Path(__file__).parent.parent / "data" / "ics"
ROOT = Path(__file__).parent.parent.parent
UTC_ZONE = ZoneInfo("UTC")
LONDON = ZoneInfo("Europe/London")

EASTERN = "exchange_custom_zone_eastern.ics"  # "Customized Time Zone" = US Eastern
CENTRAL = "exchange_custom_zone_central_europe.ics"  # "Customized Time Zone" = Central Europe
UNDEFINED = "exchange_custom_zone_undefined.ics"  # uses "Customized Time Zone", defines none

# Tuesdays 10:00-10:30 from 3 March, three times; US clocks go forward on 8 March
# (EST UTC-5, then EDT UTC-4). Thursday 5 March 14:00-15:30 EST.
EASTERN_BUSY = [
    "2026-03-03 15:00-15:30",
    "2026-03-05 19:00-20:30",
    "2026-03-10 14:00-14:30",
    "2026-03-17 14:00-14:30",
]
# Thursday 5 March 14:00-15:30 CET (UTC+1). Tuesdays 10:00-10:30 from 24 March, twice;
# European clocks go forward on 29 March (CEST UTC+2).
CENTRAL_BUSY = [
    "2026-03-05 13:00-14:30",
    "2026-03-24 09:00-09:30",
    "2026-03-31 08:00-08:30",
]
# 4 March 10:00-11:00 in a zone the file never defines: the user's zone (UTC here).
UNDEFINED_BUSY = ["2026-03-04 10:00-11:00"]

SPRING = Interval(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 12, tzinfo=UTC))


def read(name: str, interval: Interval = SPRING, zone: ZoneInfo = UTC_ZONE) -> BusyReport:
    return parse_busy((ICS / name).read_bytes(), interval, zone=zone, source=name)


def spans(intervals: tuple[Interval, ...] | list[Interval]) -> list[str]:
    """Busy intervals in UTC as "YYYY-MM-DD HH:MM-HH:MM" (end date shown only when it differs)."""
    out = []
    for i in intervals:
        s, e = i.start.astimezone(UTC), i.end.astimezone(UTC)
        end = f"{e:%H:%M}" if e.date() == s.date() else f"{e:%Y-%m-%d %H:%M}"
        out.append(f"{s:%Y-%m-%d %H:%M}-{end}")
    return out


def utc_days(first: str, count: int) -> Interval:
    start = datetime.combine(date.fromisoformat(first), datetime.min.time(), tzinfo=UTC)
    return Interval(start, start + timedelta(days=count))


# --- 1. custom time zones are per calendar ---------------------------------------------------


def test_two_exchange_exports_with_one_custom_zone_name_keep_their_own_offsets_a_b_a() -> None:
    for _ in range(2):
        assert spans(read(EASTERN).intervals) == EASTERN_BUSY
        assert spans(read(CENTRAL).intervals) == CENTRAL_BUSY
    assert spans(read(EASTERN).intervals) == EASTERN_BUSY


def test_an_undefined_zone_never_takes_another_calendars_definition() -> None:
    import icalendar

    # Fill icalendar's own process-wide zone store as any other reader of a calendar would.
    icalendar.Calendar.from_ical((ICS / CENTRAL).read_bytes())
    assert spans(read(EASTERN).intervals) == EASTERN_BUSY
    undefined = read(UNDEFINED)
    assert spans(undefined.intervals) == UNDEFINED_BUSY
    (warning,) = map(str, undefined.warnings)
    assert "NOZONE0001 (line 11)" in warning
    assert "'Customized Time Zone' (no VTIMEZONE for it)" in warning
    assert "read in the user's time zone (UTC)" in warning


def test_several_calendars_in_one_read_each_keep_their_own_zone() -> None:
    # As `meetagain busy --calendar A --calendar B --calendar C` reads them.
    sources = [IcsFileSource(ICS / name, zone=UTC_ZONE) for name in (EASTERN, CENTRAL, UNDEFINED)]
    report = collect_busy(sources, SPRING)
    assert spans(report.intervals) == sorted(EASTERN_BUSY + CENTRAL_BUSY + UNDEFINED_BUSY)


def test_users_of_one_server_each_get_their_own_calendars_times(runtime: Runtime) -> None:
    # Each user's calendar is parsed in this one process (each has its own cache entries):
    # Ann's Eastern export, Bob's Central European one, Cat's undefined zone, Dan's Eastern.
    users = [
        create_user(runtime, f"{name}@example.com", "a long enough password")
        for name in ("ann", "bob", "cat", "dan")
    ]
    reads = [(EASTERN, EASTERN_BUSY), (CENTRAL, CENTRAL_BUSY), (UNDEFINED, UNDEFINED_BUSY)]
    reads.append((EASTERN, EASTERN_BUSY))
    sources = [
        IcsFileSource(ICS / name, zone=UTC_ZONE, cache=BusyCache(runtime.engine, user_id=user))
        for user, (name, _) in zip(users, reads, strict=True)
    ]
    for source, (_, busy) in zip(sources, reads, strict=True):
        assert spans(source.busy(SPRING)) == busy
    for source, (_, busy) in zip(sources, reads, strict=True):
        assert spans(source.busy(SPRING)) == busy  # now from each user's cache entry


def test_meetagain_busy_reads_both_exchange_exports_in_one_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}
    args = [f"--calendar={ICS / name}" for name in (CENTRAL, EASTERN, UNDEFINED)]
    result = subprocess.run(
        [sys.executable, "-m", "web", "busy", *args, "--tz", "UTC", "--from", "2026-03-01"]
        + ["--days", "42", "--format", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    busy = json.loads(result.stdout)["busy"]
    found = [f"{b['start'][:10]} {b['start'][11:16]}-{b['end'][11:16]}" for b in busy]
    assert found == sorted(EASTERN_BUSY + CENTRAL_BUSY + UNDEFINED_BUSY)


# --- 2. Windows zone names --------------------------------------------------------------------


def test_windows_zone_names_and_outlook_display_names_resolve_through_cldr() -> None:
    # An Outlook Web export without VTIMEZONEs, read by a user in London.
    report = read("outlook_web_windows_zone_names.ics", zone=LONDON)
    assert spans(report.intervals) == [
        # "(UTC-05:00) Eastern Time (US & Canada)": Fridays 11:00-12:00, EST then EDT.
        "2026-03-06 16:00-17:00",
        # The workshop's start zone "tzone://Microsoft/Custom" is unknown: 09:00 in the user's
        # zone (London, UTC+0 on 10 March); its end is 11:00 in Amsterdam/Berlin (UTC+1).
        "2026-03-10 09:00-10:00",
        # "(UTC-03:00) Brasilia" matches no city or Windows name: the stated UTC-3, all year.
        "2026-03-11 15:00-16:00",
        "2026-03-13 15:00-16:00",
        # "W. Europe Standard Time": Fridays 10:00-11:00 Berlin, CET then CEST.
        "2026-03-27 09:00-10:00",
        # "(GMT+10:00) Canberra, Melbourne, Sydney": Thursdays 09:00-10:00 Sydney, AEDT
        # (UTC+11) until 5 April, then AEST (UTC+10).
        "2026-04-01 22:00-23:00",
        # "New Zealand Standard Time": Fridays 09:00-09:30 Auckland, NZDT (UTC+13) then NZST.
        "2026-04-02 20:00-20:30",
        "2026-04-03 08:00-09:00",
        "2026-04-08 23:00-2026-04-09 00:00",
        "2026-04-09 21:00-21:30",
    ]
    brasilia, custom = map(str, report.warnings)
    assert "owa-brasilia@outlook.example (line 65)" in brasilia
    assert "read at UTC-03:00 all year" in brasilia
    assert "owa-custom@outlook.example (line 78)" in custom
    assert "'tzone://Microsoft/Custom'" in custom
    assert "read in the user's time zone (Europe/London)" in custom


def test_a_windows_zone_read_for_a_user_elsewhere_is_not_the_users_zone() -> None:
    # The Sydney meeting for a user in Berlin: 09:00 AEDT is 00:00 CEST, not 09:00 Berlin.
    report = read(
        "outlook_web_windows_zone_names.ics", utc_days("2026-04-01", 2), ZoneInfo("Europe/Berlin")
    )
    assert "2026-04-01 22:00-23:00" in spans(report.intervals)


# --- 3. exact DURATION ------------------------------------------------------------------------


def test_a_daily_night_shift_with_an_hours_duration_ends_exactly_eight_hours_later() -> None:
    # Daily 23:00 Berlin for 8 hours from 27 March; clocks go 02:00 -> 03:00 on 29 March.
    spring = read("night_shift_duration_across_dst.ics", utc_days("2026-03-25", 8))
    assert spans(spring.intervals) == [
        "2026-03-27 22:00-2026-03-28 06:00",  # 23:00-07:00 CET
        "2026-03-28 22:00-2026-03-29 06:00",  # 23:00 CET to 08:00 CEST, not 07:00
        "2026-03-29 21:00-2026-03-30 05:00",  # 23:00-07:00 CEST
        "2026-03-30 21:00-2026-03-31 05:00",
    ]
    assert {i.duration for i in spring.intervals} == {timedelta(hours=8)}
    # On 25 October clocks go 03:00 -> 02:00: the shift from 23:00 CEST ends at 06:00 CET.
    autumn = read("night_shift_duration_across_dst.ics", utc_days("2026-10-23", 5))
    assert spans(autumn.intervals) == [
        "2026-10-24 21:00-2026-10-25 05:00",
        "2026-10-25 22:00-2026-10-26 06:00",
    ]


def test_day_and_week_parts_of_a_duration_stay_nominal_and_hours_exact() -> None:
    # P1DT8H from Friday 26 March 2027 23:00 CET: one day on the wall clock (Saturday 23:00
    # CET, 22:00 UTC), then 8 exact hours across the change on Sunday 28 March: 06:00 UTC.
    release = read("night_shift_duration_across_dst.ics", utc_days("2027-03-24", 7))
    assert spans(release.intervals) == ["2027-03-26 22:00-2027-03-28 06:00"]
    # P1W from Wednesday 27 October 2027 09:00 CEST ends Wednesday 3 November 09:00 CET.
    retreat = read("night_shift_duration_across_dst.ics", utc_days("2027-10-25", 14))
    assert spans(retreat.intervals) == ["2027-10-27 07:00-2027-11-03 08:00"]


# --- 4. the pre-filter keeps what it cannot read ----------------------------------------------


@pytest.mark.parametrize("first", ["2026-03-01", "2026-03-10", "2026-03-21"])
def test_a_long_event_whose_dtend_line_is_folded_is_busy_in_every_window_it_covers(
    first: str,
) -> None:
    # 2 March 08:00 UTC to 22 March 17:00 CET (16:00 UTC); the DTEND line is folded.
    report = read("long_event_folded_dtend.ics", utc_days(first, 2))
    assert spans(report.intervals) == ["2026-03-02 08:00-2026-03-22 16:00"]
    assert report.warnings == ()


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        # P20DT8H from 2 March 08:00 UTC: busy in a window near its end, 18 days after its start.
        ("2026-03-20", ["2026-03-02 08:00-2026-03-22 16:00"]),
        # P1DT240H (11 days), its DURATION line folded after "P1D": read whole, so not taken
        # for a one-day event and dropped unseen.
        ("2026-02-10", ["2026-02-01 09:00-2026-02-12 09:00"]),
        # Only the one-hour coffee of 1 January falls here.
        ("2026-01-01", ["2026-01-01 09:00-10:00"]),
    ],
)
def test_an_event_ending_by_its_duration_is_busy_until_its_end_whatever_the_window(
    first: str, expected: list[str]
) -> None:
    report = read("long_events_by_duration.ics", utc_days(first, 2))
    assert spans(report.intervals) == expected
    assert report.warnings == ()


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        # Monday 9 March moved to 20 April: gone here, although the moved one is far away.
        ("2026-03-09", []),
        # The moved one (from 9 March, far away) and the series an hour later since 16 March.
        ("2026-04-20", ["2026-04-20 10:00-11:00", "2026-04-20 15:00-16:00"]),
        # RANGE=THISANDFUTURE on 16 March, far from here, still moves this one an hour later.
        ("2026-05-04", ["2026-05-04 10:00-11:00"]),
    ],
)
def test_moved_occurrences_count_where_they_were_and_where_they_went_however_far_apart(
    first: str, expected: list[str]
) -> None:
    # Mondays 09:00-10:00 UTC from 2 March, ten times (to 4 May).
    report = read("moved_occurrences_far_apart.ics", utc_days(first, 1))
    assert spans(report.intervals) == expected
    assert report.warnings == ()


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        # Both series start in June; the course's second session was held on 4 March and the
        # mentoring has an extra date (RDATE) on 5 March, before its DTSTART.
        ("2026-03-04", ["2026-03-04 14:00-15:00", "2026-03-05 12:00-13:00"]),
        ("2026-06-01", ["2026-06-01 09:00-10:00", "2026-06-01 12:00-13:00"]),
        ("2026-06-08", ["2026-06-08 12:00-13:00"]),
    ],
)
def test_a_series_starting_later_still_counts_its_dates_moved_or_added_earlier(
    first: str, expected: list[str]
) -> None:
    report = read("series_starting_later_with_earlier_dates.ics", utc_days(first, 2))
    assert spans(report.intervals) == expected
    assert report.warnings == ()


# --- 5. an inverted override still cancels what it moved --------------------------------------


def test_a_moved_occurrence_that_ends_before_it_starts_still_cancels_the_original() -> None:
    # Mondays 09:00-10:00 Berlin (CET) from 2 March, three times; the 9 March one is moved to a
    # Tuesday 14:00 that ends at 13:00. The Monday is gone; the moved one is not counted.
    report = read("moved_occurrence_ends_before_it_starts.ics", utc_days("2026-03-01", 21))
    assert spans(report.intervals) == ["2026-03-02 08:00-09:00", "2026-03-16 08:00-09:00"]
    (warning,) = map(str, report.warnings)
    assert warning == (
        "moved_occurrence_ends_before_it_starts.ics: moved occurrence of event UID "
        "5k2d9s8f7g6h5j4k3l2m1n0p9q@google.com (line 41) not counted: DTEND is before "
        "DTSTART; the occurrence it replaces (2026-03-09 09:00 (Europe/Berlin)) stays cancelled"
    )


# --- 6. broken input, said clearly ------------------------------------------------------------


def test_a_utf16_file_says_it_is_utf16_without_quoting_its_bytes() -> None:
    with pytest.raises(CalendarError) as caught:
        read("outlook_saved_as_utf16.ics")
    message = str(caught.value)
    assert message == (
        "outlook_saved_as_utf16.ics: the file is UTF-16 encoded; iCalendar files are UTF-8 "
        "(save or export it as UTF-8)"
    )


def test_a_vtimezone_with_two_tzids_is_read_under_both_names() -> None:
    # Its rules are UK time: GMT on 26 March, BST (UTC+1) from 29 March.
    report = read("school_feed_two_tzids.ics", zone=ZoneInfo("Asia/Tokyo"))
    assert spans(report.intervals) == ["2026-03-26 18:00-19:30", "2026-03-31 07:30-08:15"]
    assert report.warnings == ()


def test_library_warnings_become_one_line_warnings_of_ours() -> None:
    # pytest turns any Python warning into an error here, so none escapes raw.
    report = read("thunderbird_vendor_tzid_and_count_until.ics", utc_days("2026-03-01", 21))
    assert spans(report.intervals) == [
        "2026-03-03 18:00-20:00",  # 19:00-21:00 Berlin, CET
        "2026-03-04 17:00-18:30",  # Wednesdays 18:00-19:30 CET, COUNT=2 (UNTIL also given)
        "2026-03-11 17:00-18:30",
    ]
    guessed, library = map(str, report.warnings)
    assert guessed == (
        "thunderbird_vendor_tzid_and_count_until.ics: event UID "
        "3c1a7e52-5b0f-4d1e-9c55-5c9a2f0e7b11 (line 10): time zone "
        "TZID='/freeassociation.sourceforge.net/Tzfile/Europe/Berlin' has no VTIMEZONE: its "
        "times are read as Europe/Berlin, the zone its name ends with"
    )
    assert library.startswith(
        "thunderbird_vendor_tzid_and_count_until.ics: the calendar library warned: Using both "
        "'count' and 'until' is inconsistent with RFC 5545"
    )
    assert "\n" not in library and "site-packages" not in library


@pytest.mark.parametrize(
    "data",
    [
        b"SECRET_ADMIN_TOKEN=hunter2\nother=1\n",
        b"<!DOCTYPE html>\n<p>SECRET_ADMIN_TOKEN</p>\n",
        b"BEGIN:VCALENDAR\nVERSION:2.0\nSECRET_ADMIN_TOKEN hunter2\nEND:VCALENDAR\n",
        b"BEGIN:SECRET_ADMIN_TOKEN\nEND:SECRET_ADMIN_TOKEN\n",
        b"\xff\xfeS\x00E\x00C\x00R\x00E\x00T\x00",
    ],
)
def test_parse_errors_never_quote_the_files_bytes(data: bytes) -> None:
    with pytest.raises(CalendarError) as caught:
        parse_busy(data, SPRING, zone=UTC_ZONE, source="feed")
    message = str(caught.value)
    assert "SECRET" not in message and "hunter2" not in message
    assert message.startswith("feed: ")
