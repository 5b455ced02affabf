"""CalDAV against a real Radicale server on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from integrations.calendars.caldav_source import CalDavSource
from integrations.calendars.caldav_source import test_connection as check_connection
from integrations.calendars.errors import CalendarError
from integrations.net import NetworkPolicy
from scheduler.model import Interval
from tests.helpers.radicale_server import PASSWORD, USERNAME, RadicaleServer

BERLIN = ZoneInfo("Europe/Berlin")
LOOPBACK = NetworkPolicy(allow_private=True)  # the test servers are on loopback
WEEK = Interval(datetime(2026, 3, 23, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=BERLIN)


def vcalendar(*events: str) -> bytes:
    body = "".join(events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//meetagain tests//EN\n{body}END:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


def vevent(uid: str, *lines: str) -> str:
    inner = "".join(f"{line}\n" for line in lines)
    return f"BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20260301T000000Z\n{inner}END:VEVENT\n"


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RadicaleServer]:
    with RadicaleServer(tmp_path) as server:
        yield server


def source_for(url: str, **kwargs: object) -> CalDavSource:
    return CalDavSource(
        url,
        USERNAME,
        PASSWORD,
        zone=BERLIN,
        network=LOOPBACK,
        **kwargs,  # type: ignore[arg-type]
    )


def test_events_on_a_caldav_calendar_are_busy(radicale: RadicaleServer) -> None:
    url = radicale.make_calendar("work")
    radicale.put(
        url,
        "a.ics",
        vcalendar(
            vevent(
                "a",
                "DTSTART;TZID=Europe/Berlin:20260324T120000",
                "DTEND;TZID=Europe/Berlin:20260324T130000",
            )
        ),
    )
    radicale.put(url, "b.ics", vcalendar(vevent("b", "DTSTART:20260326T070000Z", "DURATION:PT30M")))
    assert source_for(url).busy(WEEK) == [
        Interval(at(24, 12), at(24, 13)),
        Interval(at(26, 8), at(26, 8, 30)),
    ]


def test_a_recurring_series_is_expanded_with_its_exceptions(radicale: RadicaleServer) -> None:
    url = radicale.make_calendar("work")
    radicale.put(
        url,
        "standup.ics",
        vcalendar(
            vevent(
                "standup",
                "DTSTART;TZID=Europe/Berlin:20260323T083000",
                "DTEND;TZID=Europe/Berlin:20260323T090000",
                "RRULE:FREQ=DAILY;COUNT=5",
                "EXDATE:20260325T073000Z",
            ),
            vevent(
                "standup",
                "RECURRENCE-ID;TZID=Europe/Berlin:20260326T083000",
                "DTSTART;TZID=Europe/Berlin:20260326T120000",
                "DTEND;TZID=Europe/Berlin:20260326T123000",
            ),
        ),
    )
    assert source_for(url).busy(WEEK) == [
        Interval(at(23, 8, 30), at(23, 9)),
        Interval(at(24, 8, 30), at(24, 9)),
        Interval(at(26, 12), at(26, 12, 30)),
        Interval(at(27, 8, 30), at(27, 9)),
    ]


def test_floating_and_all_day_events_are_read_in_the_owners_zone_not_utc(
    radicale: RadicaleServer,
) -> None:
    # Radicale itself would read these as UTC; we expand locally in the owner's zone.
    url = radicale.make_calendar("work")
    radicale.put(
        url,
        "floating.ics",
        vcalendar(vevent("floating", "DTSTART:20260324T123000", "DTEND:20260324T133000")),
    )
    radicale.put(
        url,
        "allday.ics",
        vcalendar(vevent("allday", "DTSTART;VALUE=DATE:20260327", "DTEND;VALUE=DATE:20260328")),
    )
    assert source_for(url).busy(WEEK) == [
        Interval(at(24, 12, 30), at(24, 13, 30)),
        Interval(at(27, 0), at(28, 0)),
    ]


def test_an_invitation_the_owner_declined_is_not_busy(radicale: RadicaleServer) -> None:
    url = radicale.make_calendar("work")
    radicale.put(
        url,
        "declined.ics",
        vcalendar(
            vevent(
                "declined",
                "DTSTART:20260324T110000Z",
                "DTEND:20260324T120000Z",
                "ORGANIZER:mailto:boss@example.com",
                "ATTENDEE;PARTSTAT=DECLINED:mailto:Owner@Example.com",
            )
        ),
    )
    assert source_for(url, me=("owner@example.com",)).busy(WEEK) == []
    assert source_for(url).busy(WEEK) == [Interval(at(24, 12), at(24, 13))]


def test_events_outside_the_range_are_not_returned(radicale: RadicaleServer) -> None:
    url = radicale.make_calendar("work")
    radicale.put(
        url,
        "before.ics",
        vcalendar(
            vevent(
                "before",
                "DTSTART:20260322T220000Z",
                "DTEND:20260322T230000Z",  # 23:00-24:00 Berlin
            )
        ),
    )
    radicale.put(
        url,
        "after.ics",
        vcalendar(
            vevent(
                "after",
                "DTSTART:20260329T220000Z",
                "DTEND:20260329T230000Z",  # Mar 30 00:00 CEST
            )
        ),
    )
    assert source_for(url).busy(WEEK) == []


def test_a_broken_object_is_skipped_with_a_warning_and_the_rest_is_read(
    radicale: RadicaleServer,
) -> None:
    url = radicale.make_calendar("work")
    radicale.put(
        url,
        "good.ics",
        vcalendar(vevent("good", "DTSTART:20260324T110000Z", "DTEND:20260324T120000Z")),
    )
    source = source_for(url)
    objects = source.fetch(WEEK)
    objects.append((url + "broken.ics", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nnonsense\r\n"))
    report = source.report_from(objects, WEEK)
    assert report.intervals == (Interval(at(24, 12), at(24, 13)),)
    assert len(report.warnings) == 1 and "broken.ics" in str(report.warnings[0])


def test_a_missing_calendar_is_a_clear_error(radicale: RadicaleServer) -> None:
    url = radicale.calendar_url("nothing-here")
    with pytest.raises(CalendarError, match=r"^http://127\.0\.0\.1:\d+/owner/nothing-here/: "):
        source_for(url).busy(WEEK)


def test_an_unreachable_server_says_why() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/owner/work/"
    with pytest.raises(CalendarError, match="cannot reach the CalDAV server: connection refused"):
        source_for(url).busy(WEEK)


def test_test_connection_names_the_calendar_and_counts_the_next_two_weeks(
    radicale: RadicaleServer,
) -> None:
    url = radicale.make_calendar("work", "Work calendar")
    radicale.put(
        url,
        "a.ics",
        vcalendar(
            vevent(
                "a",
                "DTSTART:20260324T110000Z",
                "DTEND:20260324T120000Z",
                "RRULE:FREQ=WEEKLY;COUNT=4",
            )
        ),
    )
    now = datetime(2026, 3, 23, 9, tzinfo=UTC)
    message = check_connection(url, USERNAME, PASSWORD, network=LOOPBACK, zone=BERLIN, now=now)
    assert message == (
        "Connected to calendar 'Work calendar': 2 busy times in the next 14 days "
        "(1 calendar objects read)."
    )


def test_test_connection_reports_a_wrong_url(radicale: RadicaleServer) -> None:
    with pytest.raises(CalendarError, match="nothing-here"):
        check_connection(
            radicale.calendar_url("nothing-here"), USERNAME, PASSWORD, network=LOOPBACK
        )


def test_test_connection_on_an_account_url_lists_its_calendars(radicale: RadicaleServer) -> None:
    work = radicale.make_calendar("work", "Work")
    with pytest.raises(CalendarError) as info:
        check_connection(f"{radicale.base_url}/{USERNAME}/", USERNAME, PASSWORD, network=LOOPBACK)
    message = str(info.value)
    assert "is not a calendar but a CalDAV account" in message
    assert f"its calendars are Work ({work})" in message
