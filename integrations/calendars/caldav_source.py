"""CalDAV calendars (the `caldav` package): a time-range query, then our own ICS semantics.

We ask the server only to *select* objects (a calendar-query REPORT with a time range, widened by
two days on each side) and fetch them unexpanded, then expand and filter them here with the same
`parse_busy` used for files and feeds. Server-side expansion is not trusted for correctness:
Radicale, for one, reads floating and all-day times as UTC, ignores X-WR-TIMEZONE and does not
know the owner's addresses, so declined invitations would stay busy. One code path for every
ICS-based source means one set of semantics, tested once.

The caldav library's HTTP session is replaced by one from `integrations.net`, so every request it
makes (and every redirect it follows) reaches only addresses the network policy allows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from integrations.calendars.errors import CalendarError
from integrations.net import NetworkPolicy, open_session, why
from scheduler.intervals import merge
from scheduler.model import BusyReport, CalendarWarning, Interval
from scheduler.text import counted

DEFAULT_TIMEOUT = 20.0
_MARGIN = timedelta(days=2)  # covers every UTC offset for floating and all-day events


class CalDavSource:
    """One CalDAV calendar, addressed by its collection URL (no principal discovery)."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        zone: ZoneInfo,
        me: Sequence[str] = (),
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        network: NetworkPolicy | None = None,
    ) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise CalendarError(
                f"{name or url}: a CalDAV calendar URL must start with http:// or https://"
            )
        self.url = url
        self.username = username
        self.password = password
        self.zone = zone
        self.me = tuple(me)
        self.name = name or url  # what messages show
        self.timeout = timeout
        self.network = network or NetworkPolicy()

    def busy(self, interval: Interval) -> list[Interval]:
        """Busy intervals overlapping `interval`; raises CalendarError if the server fails."""
        return list(self.busy_report(interval).intervals)

    def busy_report(self, interval: Interval) -> BusyReport:
        """Busy intervals plus warnings (objects that could not be parsed are skipped)."""
        return self.report_from(self.fetch(interval), interval)

    def report_from(self, objects: Sequence[tuple[str, bytes]], interval: Interval) -> BusyReport:
        """Busy time of fetched objects (see `fetch`) within `interval`."""
        from integrations.calendars.ics import parse_busy

        busy: list[Interval] = []
        warnings: list[CalendarWarning] = []
        for href, data in objects:
            label = f"{self.name} ({href})"
            try:
                report = parse_busy(data, interval, zone=self.zone, me=self.me, source=label)
            except CalendarError as exc:
                warnings.append(CalendarWarning.of(self.name, f"skipped: {exc}"))
                continue
            busy.extend(report.intervals)
            # Worded "<name> (<object>): ...": about this calendar, not a calendar of that name.
            warnings.extend(CalendarWarning.of(self.name, str(w)) for w in report.warnings)
        return BusyReport(tuple(merge(busy)), tuple(warnings))

    def fetch(self, interval: Interval) -> list[tuple[str, bytes]]:
        """(href, iCalendar bytes) of the objects the server selects around `interval`."""
        with dav_client(
            self.url, self.username, self.password, self.timeout, self.network
        ) as client:
            calendar = client.calendar(url=self.url)
            objects = guarded(
                self.name,
                lambda: calendar.search(
                    start=interval.start - _MARGIN,
                    end=interval.end + _MARGIN,
                    event=True,
                    expand=False,
                    post_filter=False,
                ),
            )
            result: list[tuple[str, bytes]] = []
            for obj in objects:
                data = obj.data
                if isinstance(data, str):
                    data = data.encode("utf-8")
                result.append((str(getattr(obj, "url", "") or ""), data or b""))
            return result


def test_connection(
    url: str,
    username: str,
    password: str,
    *,
    zone: ZoneInfo | None = None,
    now: datetime | None = None,
    network: NetworkPolicy | None = None,
) -> str:
    """Read the calendar once and say what was found, for the web app's "test connection".

    Raises CalendarError with the reason when the calendar cannot be read.
    """
    from datetime import UTC

    zone = zone or ZoneInfo("UTC")
    start = (now or datetime.now(UTC)).astimezone(zone)
    interval = Interval(start, start + timedelta(days=14))
    network = network or NetworkPolicy()
    source = CalDavSource(url, username, password, zone=zone, network=network)
    display = _describe_collection(url, username, password, network)
    objects = source.fetch(interval)
    report = source.report_from(objects, interval)
    count = len(report.intervals)
    events = counted(count, "busy time")
    note = f" ({len(report.warnings)} objects skipped)" if report.warnings else ""
    return (
        f"Connected to calendar {display!r}: {events} in the next 14 days "
        f"({len(objects)} calendar objects read){note}."
    )


def _describe_collection(url: str, username: str, password: str, network: NetworkPolicy) -> str:
    """The display name of the calendar at `url`; CalendarError if it is not a calendar."""
    from caldav.elements import dav

    calendar_type = "{urn:ietf:params:xml:ns:caldav}calendar"
    with dav_client(url, username, password, DEFAULT_TIMEOUT, network) as client:
        collection = client.calendar(url=url)
        props = guarded(
            url, lambda: collection.get_properties([dav.ResourceType(), dav.DisplayName()])
        )
        kinds = props.get("{DAV:}resourcetype") or []
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if calendar_type in kinds:
            return str(props.get("{DAV:}displayname") or url)
        hint = ""
        if "{DAV:}principal" in kinds:
            from caldav.collection import Principal

            found = guarded(url, lambda: Principal(client=client, url=url).get_calendars())
            names = [f"{c.get_display_name() or c.url} ({c.url})" for c in found]
            if names:
                hint = ": its calendars are " + ", ".join(names)
        raise CalendarError(
            f"{url}: this is not a calendar but a CalDAV "
            f"{'account' if '{DAV:}principal' in kinds else 'folder'}; give the URL of one "
            f"calendar{hint}"
        )


def dav_client(
    url: str, username: str, password: str, timeout: float, network: NetworkPolicy
) -> Any:
    """A caldav client for `url` whose every connection goes through the network policy."""
    from caldav.davclient import DAVClient

    client = DAVClient(
        url=url,
        username=username or None,
        password=password or None,
        timeout=max(1, math.ceil(timeout)),  # the caldav library takes whole seconds
        enable_rfc6764=False,  # no DNS discovery: only the URL given is contacted
    )
    # DAVClient sends every request through `session` (a niquests Session); ours checks each
    # address it connects to. Its own session has not connected yet: closing it costs nothing.
    client.session.close()
    client.session = open_session(network)
    return client


def guarded(label: str, call: Any) -> Any:
    """Run a caldav call, turning its many error types into one CalendarError line."""
    from caldav.lib import error as dav_error

    try:
        return call()
    except dav_error.AuthorizationError:
        raise CalendarError(
            f"{label}: the CalDAV server refused the username or password (HTTP 401/403)"
        ) from None
    except dav_error.NotFoundError:
        raise CalendarError(f"{label}: no calendar at this URL (HTTP 404)") from None
    except dav_error.DAVError as exc:
        # Only the status code: the reason and body the server sent are never shown.
        status = re.match(r"\s*(\d{3})\b", str(getattr(exc, "reason", "")))
        reason = f"HTTP {status.group(1)}" if status else type(exc).__name__
        raise CalendarError(
            f"{label}: the CalDAV server answered with an error: {reason}"
        ) from None
    except Exception as exc:  # niquests connection errors have no common base here
        raise CalendarError(f"{label}: cannot reach the CalDAV server: {why(exc)}") from None
