"""ICS feeds over HTTP against a real loopback server: validators, redirects, limits, errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from integrations.calendars.errors import CalendarError
from integrations.calendars.feed import IcsFeedSource, normalise_feed_url
from integrations.net import NetworkPolicy
from scheduler.model import Interval
from tests.helpers.http_server import LoopbackHttpServer

BERLIN = ZoneInfo("Europe/Berlin")
# These tests' feeds are on loopback, which only an explicit policy allows (as in config:
# [security] allow_private_networks = true). tests/integrations/test_security_ssrf.py has the
# default.
LOOPBACK = NetworkPolicy(allow_private=True)
WEEK = Interval(datetime(2026, 3, 23, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN))

LUNCH_MEETING = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//meetagain tests//EN\r
BEGIN:VEVENT\r
UID:lunch-1@test\r
DTSTAMP:20260301T000000Z\r
DTSTART;TZID=Europe/Berlin:20260324T120000\r
DTEND;TZID=Europe/Berlin:20260324T130000\r
SUMMARY:Team lunch\r
END:VEVENT\r
END:VCALENDAR\r
"""


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def server() -> Iterator[LoopbackHttpServer]:
    with LoopbackHttpServer() as srv:
        yield srv


def test_a_feed_is_read_into_busy_intervals(server: LoopbackHttpServer) -> None:
    url = server.serve("/cal.ics", LUNCH_MEETING)
    source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK)
    assert source.busy(WEEK) == [Interval(at(24, 12), at(24, 13))]


def test_an_unchanged_feed_with_an_etag_is_a_304_and_not_parsed_again(
    server: LoopbackHttpServer,
) -> None:
    url = server.serve("/cal.ics", LUNCH_MEETING, etag='"v1"')
    source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK)
    first = source.busy(WEEK)
    second = source.busy(WEEK)
    assert first == second == [Interval(at(24, 12), at(24, 13))]
    assert server.statuses("/cal.ics") == [200, 304]
    assert server.hits[1].headers.get("If-None-Match") == '"v1"'
    assert server.hits[1].body_bytes == 0
    assert (source.stats.downloads, source.stats.not_modified, source.stats.parses) == (1, 1, 1)


def test_an_unchanged_feed_with_last_modified_is_a_304(server: LoopbackHttpServer) -> None:
    modified = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    url = server.serve("/cal.ics", LUNCH_MEETING, last_modified=modified)
    source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK)
    source.busy(WEEK)
    source.busy(WEEK)
    assert server.statuses("/cal.ics") == [200, 304]
    assert server.hits[1].headers.get("If-Modified-Since") == "Sun, 01 Mar 2026 09:30:00 GMT"


def test_a_feed_without_validators_is_not_parsed_again_when_its_bytes_are_unchanged(
    server: LoopbackHttpServer,
) -> None:
    url = server.serve("/cal.ics", LUNCH_MEETING)
    source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK)
    assert source.busy(WEEK) == source.busy(WEEK) == [Interval(at(24, 12), at(24, 13))]
    assert server.statuses("/cal.ics") == [200, 200]
    assert "If-None-Match" not in server.hits[1].headers
    assert (source.stats.downloads, source.stats.parses) == (2, 1)


def test_a_changed_feed_is_downloaded_and_parsed_again(server: LoopbackHttpServer) -> None:
    url = server.serve("/cal.ics", LUNCH_MEETING, etag='"v1"')
    source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK)
    source.busy(WEEK)
    moved = LUNCH_MEETING.replace(b"20260324T1", b"20260325T1")
    server.serve("/cal.ics", moved, etag='"v2"')
    assert source.busy(WEEK) == [Interval(at(25, 12), at(25, 13))]
    assert server.statuses("/cal.ics") == [200, 200]


def test_a_304_for_another_week_is_answered_from_the_body_already_downloaded(
    server: LoopbackHttpServer,
) -> None:
    url = server.serve("/cal.ics", LUNCH_MEETING, etag='"v1"')
    source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK)
    source.busy(WEEK)
    earlier = Interval(at(16, 0), at(23, 0))
    assert source.busy(earlier) == []
    assert server.statuses("/cal.ics") == [200, 304]
    assert source.stats.downloads == 1


def test_validators_survive_in_the_database_cache_between_source_objects(
    server: LoopbackHttpServer, tmp_path: Path
) -> None:
    from integrations.calendars.cache import BusyCache, FeedStore
    from integrations.storage.db import make_engine, upgrade

    db_url = f"sqlite:///{tmp_path / 'cache.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        url = server.serve("/cal.ics", LUNCH_MEETING, etag='"v1"')
        for _ in range(2):
            store = FeedStore(BusyCache(engine), zone=BERLIN)
            source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK, cache=store)
            assert source.busy(WEEK) == [Interval(at(24, 12), at(24, 13))]
        assert server.statuses("/cal.ics") == [200, 304]
        assert source.stats.parses == 0
    finally:
        engine.dispose()


def test_a_feed_without_validators_is_downloaded_again_but_not_reparsed_when_unchanged(
    server: LoopbackHttpServer, tmp_path: Path
) -> None:
    from integrations.calendars.cache import BusyCache, FeedStore
    from integrations.storage.db import make_engine, upgrade

    db_url = f"sqlite:///{tmp_path / 'cache.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        url = server.serve("/plain.ics", LUNCH_MEETING)  # no ETag, no Last-Modified
        parses = []
        for _ in range(2):
            store = FeedStore(BusyCache(engine), zone=BERLIN)
            source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK, cache=store)
            assert source.busy(WEEK) == [Interval(at(24, 12), at(24, 13))]
            parses.append(source.stats.parses)
        assert server.statuses("/plain.ics") == [200, 200]
        assert parses == [1, 0]

        # New bytes at the same address are parsed, whatever the cache holds.
        moved = LUNCH_MEETING.replace(b"T120000", b"T140000").replace(b"T130000", b"T150000")
        server.serve("/plain.ics", moved)
        store = FeedStore(BusyCache(engine), zone=BERLIN)
        source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK, cache=store)
        assert source.busy(WEEK) == [Interval(at(24, 14), at(24, 15))]
        assert source.stats.parses == 1
    finally:
        engine.dispose()


def test_five_redirects_are_followed(server: LoopbackHttpServer) -> None:
    server.serve("/cal.ics", LUNCH_MEETING)
    first = server.redirect_chain("/cal.ics", hops=5)
    source = IcsFeedSource(first, zone=BERLIN, network=LOOPBACK)
    assert source.busy(WEEK) == [Interval(at(24, 12), at(24, 13))]


def test_a_sixth_redirect_is_refused(server: LoopbackHttpServer) -> None:
    server.serve("/cal.ics", LUNCH_MEETING)
    first = server.redirect_chain("/cal.ics", hops=6)
    with pytest.raises(CalendarError, match="more than 5 redirects"):
        IcsFeedSource(first, zone=BERLIN, network=LOOPBACK).busy(WEEK)
    assert server.statuses("/cal.ics") == []


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/cal.ics"])
def test_a_redirect_to_another_scheme_is_refused(server: LoopbackHttpServer, target: str) -> None:
    url = server.redirect("/cal.ics", target)
    with pytest.raises(CalendarError, match="only http and https are followed") as info:
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK).busy(WEEK)
    scheme = target.split(":", 1)[0]
    assert f"redirected to a {scheme} address" in str(info.value)
    assert target not in str(info.value)  # where it points may be a secret


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/cal.ics", "cal.ics"])
def test_a_url_with_another_scheme_is_refused(url: str) -> None:
    with pytest.raises(CalendarError, match="only http, https and webcal"):
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK)


def test_a_password_in_the_url_never_appears_in_an_error(server: LoopbackHttpServer) -> None:
    url = server.url("/missing.ics").replace("http://", "http://me:s3cret@")
    with pytest.raises(CalendarError) as info:
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK).busy(WEEK)
    assert "s3cret" not in str(info.value)
    assert "me:***@127.0.0.1" in str(info.value)


def test_webcal_means_https_except_on_loopback() -> None:
    assert normalise_feed_url("webcal://example.com/a.ics") == "https://example.com/a.ics"
    assert normalise_feed_url("webcals://example.com/a.ics") == "https://example.com/a.ics"
    assert normalise_feed_url("webcal://127.0.0.1:8080/a.ics") == "http://127.0.0.1:8080/a.ics"
    assert normalise_feed_url("webcal://localhost/a.ics") == "http://localhost/a.ics"


def test_a_webcal_feed_on_loopback_is_read(server: LoopbackHttpServer) -> None:
    url = server.serve("/cal.ics", LUNCH_MEETING).replace("http://", "webcal://")
    source = IcsFeedSource(url, zone=BERLIN, network=LOOPBACK)
    assert source.busy(WEEK) == [Interval(at(24, 12), at(24, 13))]


def test_a_feed_larger_than_the_limit_is_refused_naming_url_and_limit(
    server: LoopbackHttpServer,
) -> None:
    url = server.serve("/big.ics", LUNCH_MEETING + b" " * 4096)
    with pytest.raises(CalendarError) as info:
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK, max_bytes=2048).busy(WEEK)
    assert str(info.value) == f"{url}: the calendar is larger than the limit of 2 KB"


def test_download_gives_the_feeds_bytes_within_the_same_limits(server: LoopbackHttpServer) -> None:
    url = server.serve("/cal.ics", LUNCH_MEETING, etag='"v1"')
    assert IcsFeedSource(url, zone=BERLIN, network=LOOPBACK).download() == LUNCH_MEETING
    assert server.hits[0].headers.get("If-None-Match") is None
    with pytest.raises(CalendarError, match="larger than the limit of 100 bytes"):
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK, max_bytes=100).download()


def test_the_size_limit_holds_while_streaming_without_a_content_length(
    server: LoopbackHttpServer,
) -> None:
    # A chunked answer declares no length: the limit must be enforced as bytes arrive.
    body = LUNCH_MEETING + b" " * 200_000
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 8192]), body[i : i + 8192])
        for i in range(0, len(body), 8192)
    )
    url = server.serve("/stream.ics", chunked, headers={"Transfer-Encoding": "chunked"})
    with pytest.raises(CalendarError, match="larger than the limit of 64 KB"):
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK, max_bytes=64 * 1024).busy(WEEK)


def test_a_missing_feed_reports_the_http_status(server: LoopbackHttpServer) -> None:
    url = server.url("/nothing.ics")
    with pytest.raises(CalendarError) as info:
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK).busy(WEEK)
    assert str(info.value) == f"{url}: the server answered HTTP 404 Not Found"


def test_a_server_error_reports_the_http_status(server: LoopbackHttpServer) -> None:
    url = server.serve("/cal.ics", b"oops", status=503)
    with pytest.raises(CalendarError, match="HTTP 503"):
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK).busy(WEEK)


def test_an_unreachable_host_says_the_connection_was_refused() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cal.ics"
    with pytest.raises(CalendarError) as info:
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK).busy(WEEK)
    assert str(info.value) == (
        f"{url}: cannot connect: connection refused (nothing is listening there)"
    )


def test_a_silent_server_times_out_with_a_clear_error() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/cal.ics"
        with pytest.raises(CalendarError, match=r"no answer within 0.3 s \(timeout\)"):
            IcsFeedSource(url, zone=BERLIN, network=LOOPBACK, timeout=0.3).busy(WEEK)


def test_a_page_that_is_not_a_calendar_is_a_parse_error_naming_the_url(
    server: LoopbackHttpServer,
) -> None:
    url = server.serve(
        "/login", b"<html><body>Please sign in</body></html>\n", content_type="text/html"
    )
    with pytest.raises(CalendarError) as info:
        IcsFeedSource(url, zone=BERLIN, network=LOOPBACK).busy(WEEK)
    assert str(info.value).startswith(f"{url}: ")
