"""SSRF: a feed or CalDAV URL a user gives must not make the server read its own network.

The reported attack: an HTTP service on loopback holding `SECRET_ADMIN_TOKEN=...`, added as a
feed; its first line came back in the calendar's warning. Here the service is real (on
loopback) and must see no request at all while the guard is on (the default policy).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from integrations.calendars.caldav_source import CalDavSource
from integrations.calendars.caldav_source import test_connection as check_connection
from integrations.calendars.errors import CalendarError
from integrations.calendars.feed import IcsFeedSource
from integrations.config import ConfigError, parse_config
from integrations.net import NetworkPolicy, address_kind
from scheduler.model import Interval
from tests.helpers.http_server import LoopbackHttpServer

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = Interval(datetime(2026, 3, 23, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN))
SECRET = b"SECRET_ADMIN_TOKEN=4f9c2e7d1b\n"
GUARDED = NetworkPolicy()  # what a default config gives


@pytest.fixture
def admin() -> Iterator[LoopbackHttpServer]:
    """An internal service on loopback that must never be reached."""
    with LoopbackHttpServer() as server:
        server.serve("/admin", SECRET, content_type="text/plain")
        yield server


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.7", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private network"),
        ("172.16.0.1", "private network"),
        ("192.168.1.20", "private network"),
        ("fd12:3456::1", "private network"),
        ("100.64.0.1", "private network"),  # carrier-grade NAT
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "private network"),  # reserved (Python counts it as private)
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:10.0.0.1", "private network"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    assert GUARDED.refusal(address) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) is None
    assert GUARDED.refusal(address) is None


def test_allowing_private_networks_opens_the_lan_but_not_metadata_or_multicast() -> None:
    lan = NetworkPolicy(allow_private=True)
    assert lan.refusal("127.0.0.1") is None
    assert lan.refusal("192.168.1.20") is None
    assert lan.refusal("169.254.169.254") == "link-local"
    assert lan.refusal("224.0.0.1") == "multicast"


def test_an_allowed_network_opens_only_that_network() -> None:
    nas = NetworkPolicy(allowed=(ipaddress.ip_network("192.168.1.20/32"),))
    assert nas.refusal("192.168.1.20") is None
    assert nas.refusal("::ffff:192.168.1.20") is None
    assert nas.refusal("192.168.1.21") == "private network"


def test_the_config_key_is_off_by_default_and_parsed() -> None:
    assert NetworkPolicy.from_config(parse_config("")) == GUARDED
    config = parse_config(
        '[security]\nallow_private_networks = true\nallowed_networks = ["10.0.0.0/8"]\n'
    )
    policy = NetworkPolicy.from_config(config)
    assert policy.allow_private
    assert policy.allowed == (ipaddress.ip_network("10.0.0.0/8"),)
    with pytest.raises(ConfigError, match=r"\[security\] allowed_networks \"lan\" is not an IP"):
        parse_config('[security]\nallowed_networks = ["lan"]\n')


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "127.1",
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f000001",
        "0177.0.0.1",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "[::]",
    ],
)
def test_a_feed_on_loopback_is_never_requested_however_it_is_spelled(
    admin: LoopbackHttpServer, host: str
) -> None:
    url = admin.url("/admin").replace("127.0.0.1", host)
    with pytest.raises(CalendarError) as info:
        IcsFeedSource(url, zone=BERLIN, network=GUARDED).busy(WEEK)
    message = str(info.value)
    assert "addresses are not contacted" in message
    assert "SECRET" not in message
    assert admin.hits == []


def test_a_refused_address_says_the_same_whether_a_port_is_open_or_closed(
    admin: LoopbackHttpServer,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    messages = []
    for url in (admin.url("/admin"), f"http://127.0.0.1:{closed_port}/admin"):
        with pytest.raises(CalendarError) as info:
            IcsFeedSource(url, zone=BERLIN, network=GUARDED, name="Feed").busy(WEEK)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert admin.hits == []


def test_a_redirect_from_an_allowed_host_to_loopback_is_refused(
    admin: LoopbackHttpServer,
) -> None:
    # 127.0.0.2 stands in for a public host: it alone is allowed; the redirect's target is not.
    only_public = NetworkPolicy(allowed=(ipaddress.ip_network("127.0.0.2/32"),))
    with LoopbackHttpServer(host="127.0.0.2") as public:
        public.serve("/ok.ics", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
        assert (
            IcsFeedSource(public.url("/ok.ics"), zone=BERLIN, network=only_public).busy(WEEK) == []
        )  # the allowed host itself is read
        url = public.redirect("/cal.ics", admin.url("/admin"))
        with pytest.raises(CalendarError) as info:
            IcsFeedSource(url, zone=BERLIN, network=only_public, name="Feed").busy(WEEK)
    assert str(info.value) == (
        "Feed: cannot connect: 127.0.0.1: loopback addresses are not contacted "
        "(an administrator can allow it with [security] allow_private_networks)"
    )
    assert public.statuses("/cal.ics") == [302]
    assert admin.hits == []


def test_fetched_bytes_that_are_not_a_calendar_are_never_shown(admin: LoopbackHttpServer) -> None:
    # Allowed explicitly (a self-hoster's LAN): the page is read, but its text is not shown.
    lan = NetworkPolicy(allow_private=True)
    with pytest.raises(CalendarError) as info:
        IcsFeedSource(admin.url("/admin"), zone=BERLIN, network=lan, name="Work").busy(WEEK)
    assert str(info.value) == "Work: line 1: not an iCalendar file (expected BEGIN:VCALENDAR)"
    assert admin.statuses("/admin") == [200]


def test_caldav_on_loopback_is_never_requested(admin: LoopbackHttpServer) -> None:
    source = CalDavSource(admin.url("/admin"), "me", "pw", zone=BERLIN, name="Dav")
    with pytest.raises(CalendarError) as info:
        source.busy(WEEK)
    assert "Dav: cannot reach the CalDAV server: 127.0.0.1: loopback addresses" in str(info.value)
    assert admin.hits == []


def test_the_caldav_test_connection_never_sends_its_propfind_to_loopback(
    admin: LoopbackHttpServer,
) -> None:
    with pytest.raises(CalendarError) as info:
        check_connection(admin.url("/admin"), "me", "pw")  # the default policy
    assert "loopback addresses are not contacted" in str(info.value)
    assert "SECRET" not in str(info.value)
    assert admin.hits == []


def test_a_caldav_redirect_to_loopback_is_refused(admin: LoopbackHttpServer) -> None:
    only_public = NetworkPolicy(allowed=(ipaddress.ip_network("127.0.0.2/32"),))
    with LoopbackHttpServer(host="127.0.0.2") as public:
        url = public.redirect("/dav/cal/", admin.url("/admin"), status=301)
        with pytest.raises(CalendarError) as info:
            check_connection(url, "me", "pw", network=only_public)
    assert "127.0.0.1: loopback addresses are not contacted" in str(info.value)
    assert [h.method for h in public.hits] == ["PROPFIND"]
    assert admin.hits == []


def test_a_name_is_resolved_once_and_only_the_checked_address_is_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A rebinding DNS server: first an allowed address, then loopback on the same port. The
    # guard's one lookup is the address connected to, with the Host header kept for the name.
    only_public = NetworkPolicy(allowed=(ipaddress.ip_network("127.0.0.2/32"),))
    answers = iter(["127.0.0.2"] + ["127.0.0.1"] * 5)
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_dns(host: object, port: object, *args: object, **kwargs: object) -> object:
        if host == "feed.example":
            lookups.append(str(host))
            return real_getaddrinfo(next(answers), port, *args, **kwargs)  # type: ignore[arg-type]
        return real_getaddrinfo(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    calendar = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    with LoopbackHttpServer(host="127.0.0.2") as public:
        port = public.base_url.rsplit(":", 1)[1]
        with LoopbackHttpServer(port=int(port)) as internal:
            internal.serve("/cal.ics", SECRET)
            public.serve("/cal.ics", calendar)
            url = f"http://feed.example:{port}/cal.ics"
            source = IcsFeedSource(url, zone=BERLIN, network=only_public, name="Feed")
            assert source.busy(WEEK) == []
            assert lookups == ["feed.example"]
            assert public.hits[0].headers["Host"] == f"feed.example:{port}"
            # The next read resolves again, gets loopback, and is refused before connecting.
            with pytest.raises(CalendarError, match="loopback addresses are not contacted"):
                IcsFeedSource(url, zone=BERLIN, network=only_public, name="Feed").busy(WEEK)
            assert internal.hits == []
