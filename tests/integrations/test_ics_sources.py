"""The registry: a calendar from a spec (path, URL, [[calendars]] name) becomes a source; merging
their busy time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from integrations.calendars.errors import CalendarError
from integrations.calendars.ics import IcsFileSource
from integrations.calendars.memory import MemoryCalendar
from integrations.calendars.registry import GoogleAccess, open_source, resolve_spec
from integrations.calendars.sources import collect_busy
from integrations.config import parse_config
from scheduler.model import Interval
from scheduler.ports import CalendarSource

ICS = Path(__file__).parent.parent / "data" / "ics"
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = Interval(datetime(2026, 3, 2, tzinfo=BERLIN), datetime(2026, 3, 3, tzinfo=BERLIN))


def config_with(text: str, base_dir: Path) -> object:
    return parse_config(text, source="config.toml", base_dir=str(base_dir))


def open_spec(spec: str, config: object, **options: object) -> CalendarSource:
    return open_source(resolve_spec(spec, config), zone=BERLIN, **options)  # type: ignore[arg-type]


def test_a_path_opens_an_ics_file_named_as_given() -> None:
    source = open_spec(str(ICS / "declined.ics"), None)
    assert isinstance(source, IcsFileSource)
    assert source.name == str(ICS / "declined.ics")  # ad hoc: named as given
    assert len(source.busy(MONDAY)) == 3


@pytest.mark.parametrize(
    "url",
    ["https://example.com/team.ics", "webcal://example.com/team.ics", "http://127.0.0.1/a.ics"],
)
def test_urls_open_an_ics_feed_without_fetching_yet(url: str) -> None:
    from integrations.calendars.feed import IcsFeedSource

    source = open_spec(url, None)
    assert isinstance(source, IcsFeedSource)
    assert source.name == url


def test_a_calendars_entry_is_found_by_name_with_its_path_relative_to_the_config(
    tmp_path: Path,
) -> None:
    (tmp_path / "cals").mkdir()
    (tmp_path / "cals" / "work.ics").write_bytes((ICS / "tentative.ics").read_bytes())
    config = config_with(
        '[[calendars]]\nname = "work"\nkind = "ics"\npath = "cals/work.ics"\n', tmp_path
    )
    source = open_spec("work", config)
    assert source.name == "work"
    assert len(source.busy(MONDAY)) == 1


def test_an_unknown_spec_names_itself_and_the_configured_calendars(tmp_path: Path) -> None:
    config = config_with('[[calendars]]\nname = "work"\nkind = "ics"\npath = "w.ics"\n', tmp_path)
    with pytest.raises(CalendarError, match=r"holidays\.ics: no such calendar file.*\(work\)"):
        open_spec("holidays.ics", config)


def test_a_caldav_entry_needs_its_password_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_CALDAV_PASSWORD", raising=False)
    config = config_with(
        '[[calendars]]\nname = "dav"\nkind = "caldav"\nurl = "http://127.0.0.1:1/cal/"\n'
        'username = "me"\npassword_env = "TEST_CALDAV_PASSWORD"\n',
        tmp_path,
    )
    with pytest.raises(CalendarError, match="TEST_CALDAV_PASSWORD"):
        open_spec("dav", config)
    monkeypatch.setenv("TEST_CALDAV_PASSWORD", "secret")
    assert open_spec("dav", config).name == "dav"


def test_a_google_entry_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    config = config_with('[[calendars]]\nname = "g"\nkind = "google"\n', tmp_path)
    with pytest.raises(CalendarError, match="connect Google in the web app"):
        open_spec("g", config)


def test_a_google_entry_without_a_connection_says_to_connect_google(tmp_path: Path) -> None:
    config = config_with('[[calendars]]\nname = "g"\nkind = "google"\n', tmp_path)
    access = GoogleAccess(None, "http://127.0.0.1:1/calendar/v3/")
    with pytest.raises(CalendarError, match="g: Google is not connected"):
        open_spec("g", config, google=access)


def test_collect_busy_merges_every_source() -> None:
    memory = MemoryCalendar(
        [
            Interval(
                datetime(2026, 3, 2, 8, 50, tzinfo=BERLIN), datetime(2026, 3, 2, 10, tzinfo=BERLIN)
            )
        ]
    )
    report = collect_busy([IcsFileSource(ICS / "declined.ics", zone=BERLIN), memory], MONDAY)
    starts = [
        (i.start.astimezone(BERLIN).hour, i.end.astimezone(BERLIN).hour) for i in report.intervals
    ]
    assert starts == [(8, 10), (12, 13), (15, 16)]
    assert report.warnings == ()


def test_busy_time_in_the_users_zone_inside_the_autumn_fold_is_compared_by_instant() -> None:
    # On 25 October 2026 Berlin's 02:00-03:00 happens twice. 02:30 CEST (fold 0) to 02:10 CET
    # (fold 1) is 40 minutes; compared by wall clock it would look like it ends before it starts.
    busy = Interval(
        datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN),
        datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN),
    )
    night = Interval(
        datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN),
        datetime(2026, 10, 25, 2, 20, fold=1, tzinfo=BERLIN),  # asked until 02:20 CET
    )
    report = collect_busy([MemoryCalendar([busy])], night)
    assert [(i.start.astimezone(UTC), i.end.astimezone(UTC)) for i in report.intervals] == [
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 10, tzinfo=UTC))
    ]


def test_a_failing_source_among_several_becomes_a_warning_naming_it(tmp_path: Path) -> None:
    gone = IcsFileSource(tmp_path / "gone.ics", zone=BERLIN, name="gone.ics")
    report = collect_busy([gone, IcsFileSource(ICS / "tentative.ics", zone=BERLIN)], MONDAY)
    assert len(report.intervals) == 1
    assert tuple(map(str, report.warnings)) == (
        "calendar skipped: gone.ics: the calendar file is missing; add the calendar again",
    )
    assert [w.calendar for w in report.warnings] == ["gone.ics"]


def test_the_only_source_failing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="gone.ics: the calendar file is missing"):
        collect_busy([IcsFileSource(tmp_path / "gone.ics", zone=BERLIN, name="gone.ics")], MONDAY)


def test_every_source_failing_is_an_error_naming_them_all(tmp_path: Path) -> None:
    sources = [
        IcsFileSource(tmp_path / "a.ics", zone=BERLIN, name="a.ics"),
        IcsFileSource(ICS / "unclosed_event.ics", zone=BERLIN, name="b.ics"),
    ]
    with pytest.raises(
        CalendarError, match=r"no calendar could be read: a\.ics.*; b\.ics: line 13"
    ):
        collect_busy(sources, MONDAY)


def test_a_device_is_refused_as_no_regular_file_without_being_read() -> None:
    source = IcsFileSource("/dev/zero", zone=BERLIN, name="Zero")
    with pytest.raises(CalendarError) as caught:
        source.busy(MONDAY)
    assert str(caught.value) == (
        "Zero: is not a regular file (a device, a pipe or a socket); give an .ics file"
    )


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    import os

    pipe = tmp_path / "cal.ics"
    os.mkfifo(pipe)
    with pytest.raises(CalendarError, match="is not a regular file"):
        IcsFileSource(pipe, zone=BERLIN, name="Pipe").read()


def test_a_file_over_the_limit_is_refused_naming_it_and_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.ics"
    big.write_bytes(b"BEGIN:VCALENDAR\r\n" + b"X" * 4096)
    with pytest.raises(CalendarError) as caught:
        IcsFileSource(big, zone=BERLIN, name="Big", max_bytes=2048).read()
    assert str(caught.value) == (
        "Big: the calendar is larger than the limit of 2 KiB ([[calendars]] max_bytes)"
    )
    with pytest.raises(CalendarError, match=r"limit of 1 KiB \(\[sync\] ics_max_bytes\)"):
        IcsFileSource(big, zone=BERLIN, name="Big").read(1024)
