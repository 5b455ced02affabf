"""One contract for CalendarSource, run against the in-memory fake and every real adapter.

Each adapter gets the same busy time seeded in its own way (a list, an .ics file, an ICS feed on
loopback, objects on a Radicale server, busy time on the Google fake) and must answer the same
questions the same way. The protocol allows any order and unmerged intervals, so answers are
compared after merging and clipping to the asked interval; everything returned must overlap it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrations.net import NetworkPolicy
from scheduler.intervals import merge
from scheduler.model import Interval
from scheduler.ports import CalendarSource

BERLIN = ZoneInfo("Europe/Berlin")
LOOPBACK = NetworkPolicy(allow_private=True)  # the test servers are on loopback
NEW_YORK = ZoneInfo("America/New_York")
Factory = Callable[[Sequence[Interval]], CalendarSource]


def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=zone)


WEEK = Interval(at(23, 0), at(30, 0))  # spans the change to summer time on March 29
SEEDED = [
    Interval(at(23, 8), at(23, 9)),
    Interval(at(24, 12), at(24, 13)),
    Interval(at(24, 12, 30), at(24, 14)),  # overlaps the one before
    Interval(at(25, 7, 0, NEW_YORK), at(25, 8, 0, NEW_YORK)),  # another zone, same instant rules
    Interval(at(29, 1, 30), at(29, 4)),  # across the DST gap (02:00 -> 03:00)
    Interval(at(29, 23), at(30, 1)),  # runs past the end of the week
    Interval(at(16, 10), at(16, 11)),  # the week before: outside
    Interval(at(31, 10), at(31, 11)),  # the week after: outside
]


def ics_for(intervals: Sequence[Interval]) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//meetagain contract//EN"]
    for n, interval in enumerate(intervals):
        lines += [
            "BEGIN:VEVENT",
            f"UID:contract-{n}@meetagain",
            "DTSTAMP:20260301T000000Z",
            f"DTSTART:{interval.start.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"DTEND:{interval.end.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:Busy {n}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def ics_event(n: int, interval: Interval) -> bytes:
    return ics_for([interval]).replace(b"contract-0@", f"contract-{n}@".encode())


def busy_cache(stack: ExitStack, folder: Path) -> Any:
    """A BusyCache on a freshly migrated SQLite database under `folder`."""
    from integrations.calendars.cache import BusyCache
    from integrations.storage.db import make_engine, upgrade

    url = f"sqlite:///{folder / 'cache.db'}"
    upgrade(url)
    engine = make_engine(url)
    stack.callback(engine.dispose)
    return BusyCache(engine)


@pytest.fixture(
    params=[
        "memory",
        "ics-file",
        "ics-file-cached",
        "ics-feed",
        "ics-feed-cached",
        "caldav",
        "google",
    ]
)
def make_source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """A function that seeds the adapter under test with intervals and returns it as a source."""
    kind: str = request.param
    with ExitStack() as stack:

        def factory(intervals: Sequence[Interval]) -> CalendarSource:
            if kind == "memory":
                from integrations.calendars.memory import MemoryCalendar

                return MemoryCalendar(intervals)
            if kind.startswith("ics-file"):
                from integrations.calendars.ics import IcsFileSource

                path = tmp_path / "calendar.ics"
                path.write_bytes(ics_for(intervals))
                cache = busy_cache(stack, tmp_path) if kind.endswith("cached") else None
                return IcsFileSource(path, zone=BERLIN, cache=cache)
            if kind.startswith("ics-feed"):
                from integrations.calendars.cache import FeedStore
                from integrations.calendars.feed import IcsFeedSource
                from tests.helpers.http_server import LoopbackHttpServer

                server = stack.enter_context(LoopbackHttpServer())
                url = server.serve("/calendar.ics", ics_for(intervals), etag='"1"')
                store = None
                if kind.endswith("cached"):
                    store = FeedStore(busy_cache(stack, tmp_path), zone=BERLIN)
                return IcsFeedSource(url, zone=BERLIN, cache=store, network=LOOPBACK)
            if kind == "caldav":
                from integrations.calendars.caldav_source import CalDavSource
                from tests.helpers.radicale_server import PASSWORD, USERNAME, RadicaleServer

                dav = stack.enter_context(RadicaleServer(tmp_path / "radicale"))
                url = dav.make_calendar("contract")
                for n, interval in enumerate(intervals):
                    dav.put(url, f"event-{n}.ics", ics_event(n, interval))
                return CalDavSource(url, USERNAME, PASSWORD, zone=BERLIN, network=LOOPBACK)
            if kind == "google":
                from integrations.calendars.google_source import GoogleFreeBusySource
                from tests.helpers.fake_google import FakeGoogle

                google = stack.enter_context(FakeGoogle())
                google.set_busy(google.account_email, [(i.start, i.end) for i in intervals])
                return GoogleFreeBusySource(
                    google.credentials(), ["primary"], api_endpoint=google.api_endpoint
                )
            raise AssertionError(kind)

        yield factory


def answer(source: CalendarSource, query: Interval) -> list[Interval]:
    """The source's busy time, checked against the protocol, merged and clipped to `query`."""
    busy = source.busy(query)
    assert all(isinstance(i, Interval) for i in busy)
    outside = [i for i in busy if not (i.start < query.end and query.start < i.end)]
    assert outside == [], "busy() returned intervals that do not overlap the query"
    clipped = [Interval(max(i.start, query.start), min(i.end, query.end)) for i in busy]
    return merge(clipped)


def expected(seeded: Sequence[Interval], query: Interval) -> list[Interval]:
    inside = [
        Interval(max(i.start, query.start), min(i.end, query.end))
        for i in seeded
        if i.start < query.end and query.start < i.end and i.start < i.end
    ]
    return merge(inside)


def test_every_source_reports_the_seeded_busy_time_for_a_week(make_source: Factory) -> None:
    assert (
        answer(make_source(SEEDED), WEEK)
        == expected(SEEDED, WEEK)
        == [
            Interval(at(23, 8), at(23, 9)),
            Interval(at(24, 12), at(24, 14)),
            Interval(at(25, 12), at(25, 13)),
            Interval(at(29, 1, 30), at(29, 4)),
            Interval(at(29, 23), at(30, 0)),
        ]
    )


def test_an_empty_calendar_is_free_everywhere(make_source: Factory) -> None:
    assert answer(make_source([]), WEEK) == []


def test_events_outside_the_asked_range_are_left_out(make_source: Factory) -> None:
    source = make_source(SEEDED)
    tuesday = Interval(at(24, 0), at(25, 0))
    assert answer(source, tuesday) == [Interval(at(24, 12), at(24, 14))]
    quiet = Interval(at(26, 0), at(28, 0))
    assert answer(source, quiet) == []


def test_intervals_are_half_open_at_both_ends(make_source: Factory) -> None:
    meeting = Interval(at(24, 12), at(24, 13))
    source = make_source([meeting])
    assert answer(source, Interval(at(24, 13), at(24, 14))) == []  # ends where the query starts
    assert answer(source, Interval(at(24, 11), at(24, 12))) == []  # starts where the query ends
    assert answer(source, Interval(at(24, 12, 59), at(24, 14))) == [
        Interval(at(24, 12, 59), at(24, 13))
    ]
    assert answer(source, Interval(at(24, 11), at(24, 12, 1))) == [
        Interval(at(24, 12), at(24, 12, 1))
    ]


def test_asking_twice_gives_the_same_answer(make_source: Factory) -> None:
    source = make_source(SEEDED)
    assert answer(source, WEEK) == answer(source, WEEK)


def test_a_long_range_is_answered_whole(make_source: Factory) -> None:
    spread = [
        Interval(at(2, 9) + timedelta(days=30 * n), at(2, 10) + timedelta(days=30 * n))
        for n in range(6)
    ]
    half_year = Interval(at(1, 0), at(1, 0) + timedelta(days=183))
    assert answer(make_source(spread), half_year) == expected(spread, half_year)
