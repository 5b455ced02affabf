"""ICS feeds over HTTP(S) and webcal: conditional GET, size and redirect limits, clear errors.

`webcal://` is a convention, not a protocol: it means "this https URL is a calendar". We map
`webcal://` and `webcals://` to `https://`, except for loopback hosts (127.0.0.0/8, ::1,
localhost), which map to `http://` because nothing on the local machine serves TLS for it (a
calendar app on the same laptop, or the tests). Only http and https are fetched, also after
redirects, so a feed can never make us read `file:` or `ftp:` URLs. Every request goes through
`integrations.net`, which refuses private and loopback addresses unless the policy allows them.

Messages name the calendar (`name`, as its owner called it), never the feed's address: a feed
URL often carries a secret token in its path.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import niquests

from integrations.calendars import ics
from integrations.calendars.errors import CalendarError
from integrations.net import NetworkPolicy, open_session, why
from scheduler.model import BusyReport, Interval

DEFAULT_MAX_BYTES = ics.DEFAULT_MAX_BYTES
DEFAULT_TIMEOUT = 20.0
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_USER_AGENT = "meetagain (calendar feed reader)"


class ValidatorStore(Protocol):
    """Where a feed remembers its validators and parsed busy time between runs (optional)."""

    def get(self, key: str, interval: Interval) -> Any: ...

    def put(self, key: str, interval: Interval, report: BusyReport, **validators: str) -> None: ...

    def get_same_content(self, key: str, content: str, interval: Interval) -> BusyReport | None:
        """What was stored for exactly these bytes (by hash) if it covers `interval`."""
        ...


@dataclass
class FeedStats:
    """What the source did on the wire and in the parser, for tests and diagnostics."""

    downloads: int = 0  # 200 answers whose body was read
    not_modified: int = 0  # 304 answers
    parses: int = 0  # times the ICS text was parsed


def redact_url(url: str) -> str:
    """The URL with any password in it replaced by ***, for messages and logs."""
    parts = urlsplit(url.strip())
    if parts.password is None:
        return url.strip()
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def normalise_feed_url(url: str) -> str:
    """Map webcal(s):// to https:// (http:// for loopback hosts); refuse other schemes."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        scheme = "http" if _is_loopback_host(parts.hostname or "") else "https"
    if scheme not in ("http", "https"):
        shown = parts.scheme or "no scheme"
        raise CalendarError(f"only http, https and webcal calendar URLs are read, not {shown}")
    if not parts.hostname:
        raise CalendarError("the calendar URL has no host name")
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class IcsFeedSource:
    """A calendar published as an ICS URL; remembers ETag/Last-Modified to skip unchanged feeds."""

    def __init__(
        self,
        url: str,
        *,
        zone: ZoneInfo,
        me: Sequence[str] = (),
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        cache: ValidatorStore | None = None,
        name: str | None = None,
        network: NetworkPolicy | None = None,
    ) -> None:
        self.url = redact_url(url)  # never a password from the URL
        self.fetch_url = normalise_feed_url(url)
        self.name = name or self.url  # what messages show; the owner's name for stored feeds
        self.network = network or NetworkPolicy()
        self.zone = zone
        self.me = tuple(me)
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.cache = cache
        self.stats = FeedStats()
        # In-memory validators and the last body, used when no cache store is given.
        self._etag = ""
        self._last_modified = ""
        self._body: bytes | None = None
        self._reports: dict[Interval, BusyReport] = {}

    @property
    def cache_key(self) -> str:
        return f"feed:{self.fetch_url}"

    def busy(self, interval: Interval) -> list[Interval]:
        """Busy intervals overlapping `interval`; raises CalendarError if the feed can't be read."""
        return list(self.busy_report(interval).intervals)

    def busy_report(self, interval: Interval) -> BusyReport:
        """Busy intervals plus warnings (skipped malformed events)."""
        # Send validators only when a 304 can be answered from what we kept.
        stored = self.cache.get(self.cache_key, interval) if self.cache is not None else None
        etag = last_modified = ""
        if stored is not None:
            etag = getattr(stored, "etag", "") or ""
            last_modified = getattr(stored, "last_modified", "") or ""
        elif self.cache is None and self._body is not None:
            etag, last_modified = self._etag, self._last_modified

        body, new_etag, new_last_modified = self._fetch(etag, last_modified)
        if body is None:  # 304: the feed did not change
            if stored is not None:
                return _within(_as_report(stored), interval)
            if interval in self._reports:
                return self._reports[interval]
            if self._body is None:  # a 304 to a GET without validators: nothing to reuse
                raise CalendarError(
                    f"{self.name}: the server answered 304 Not Modified to a plain GET"
                )
            body = self._body
        self._etag, self._last_modified = new_etag, new_last_modified
        if self.cache is None:
            if body == self._body and interval in self._reports:  # same bytes, no validators
                return self._reports[interval]
            report = self._parse(body, interval)
            self._body = body
            self._reports = {interval: report}
            return report
        # Store a wider range than asked (whole days and a week ahead, as files do), so that
        # tomorrow's plan over an unchanged feed is still answered by a 304 and the cache.
        from integrations.calendars.cache import BusyCache

        # Feeds that send neither ETag nor Last-Modified must be downloaded every time, but
        # unchanged bytes (same hash) are not parsed again.
        content = "sha256:" + hashlib.sha256(body).hexdigest()
        same = self.cache.get_same_content(self.cache_key, content, interval)
        if same is not None:
            return _within(same, interval)
        covers = BusyCache.covering(interval)
        wide = self._parse(body, covers)
        self.cache.put(
            self.cache_key,
            covers,
            wide,
            etag=new_etag,
            last_modified=new_last_modified,
            content=content,
        )
        return _within(wide, interval)

    def download(self) -> bytes:
        """The feed's current bytes: a plain GET with the same scheme, size, redirect and
        time limits as `busy`, for readers that need the events themselves (attendance)."""
        body, _, _ = self._fetch("", "")
        if body is None:
            raise CalendarError(f"{self.name}: the server answered 304 Not Modified to a plain GET")
        return body

    def fetch_if_changed(self, etag: str, last_modified: str) -> tuple[bytes | None, str, str]:
        """A conditional GET for the sync: (None, etag, lm) when unchanged (304), else
        (body, etag, lm), with the same limits as `busy`."""
        return self._fetch(etag, last_modified)

    def _parse(self, body: bytes, interval: Interval) -> BusyReport:
        from integrations.calendars.ics import parse_busy

        self.stats.parses += 1
        return parse_busy(body, interval, zone=self.zone, me=self.me, source=self.name)

    def _fetch(self, etag: str, last_modified: str) -> tuple[bytes | None, str, str]:
        """GET the feed; (None, etag, lm) on 304, else (body, etag, lm). Follows <= 5 redirects."""
        headers = {"User-Agent": _USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = time.monotonic() + self.timeout
        url = self.fetch_url
        with open_session(self.network) as session:
            for hop in range(MAX_REDIRECTS + 1):
                response = self._get(session, url, headers, deadline)
                with response:
                    if response.is_redirect:
                        location = response.headers.get("Location", "")
                        if hop == MAX_REDIRECTS:
                            raise CalendarError(f"{self.name}: more than {MAX_REDIRECTS} redirects")
                        url = _redirect_target(self.name, url, location)
                        continue
                    if response.status_code == 304:
                        self.stats.not_modified += 1
                        return (
                            None,
                            response.headers.get("ETag", etag),
                            response.headers.get("Last-Modified", last_modified),
                        )
                    code = response.status_code or 0
                    if code >= 400:
                        raise CalendarError(
                            f"{self.name}: the server answered HTTP {_status(code)}"
                        )
                    if code != 200:
                        raise CalendarError(
                            f"{self.name}: unexpected HTTP {response.status_code} for a calendar"
                        )
                    body = self._read_body(response, deadline)
                    self.stats.downloads += 1
                    return (
                        body,
                        response.headers.get("ETag", ""),
                        response.headers.get("Last-Modified", ""),
                    )
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(
        self, session: niquests.Session, url: str, headers: dict[str, str], deadline: float
    ) -> niquests.Response:
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            return session.get(
                url, headers=headers, stream=True, allow_redirects=False, timeout=remaining
            )
        except niquests.exceptions.Timeout:
            raise CalendarError(
                f"{self.name}: no answer within {self.timeout:g} s (timeout)"
            ) from None
        except niquests.exceptions.RequestException as exc:
            raise CalendarError(f"{self.name}: cannot connect: {why(exc)}") from None

    def _read_body(self, response: niquests.Response, deadline: float) -> bytes:
        too_big = CalendarError(
            f"{self.name}: the calendar is larger than the limit of {_size(self.max_bytes)}"
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_big
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                total += len(chunk)
                if total > self.max_bytes:
                    raise too_big
                if time.monotonic() > deadline:
                    raise CalendarError(
                        f"{self.name}: download not finished within {self.timeout:g} s (timeout)"
                    )
                chunks.append(chunk)
        except niquests.exceptions.RequestException as exc:
            raise CalendarError(f"{self.name}: download interrupted: {why(exc)}") from None
        return b"".join(chunks)


def _redirect_target(name: str, current: str, location: str) -> str:
    if not location:
        raise CalendarError(f"{name}: a redirect without a Location header")
    target = urljoin(current, location)
    scheme = urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        shown = scheme or "no scheme"
        raise CalendarError(
            f"{name}: redirected to a {shown} address, but only http and https are followed"
        )
    return target


def _within(report: BusyReport, interval: Interval) -> BusyReport:
    inside = tuple(i for i in report.intervals if i.overlaps(interval))  # compared in UTC
    return BusyReport(inside, report.warnings)


def _as_report(stored: Any) -> BusyReport:
    if isinstance(stored, BusyReport):
        return stored
    report = getattr(stored, "report", None)
    if isinstance(report, BusyReport):
        return report
    return BusyReport(tuple(stored.intervals), tuple(getattr(stored, "warnings", ())))


def _status(code: int) -> str:
    """The code with its standard phrase: the server's own reason text is never shown."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"
