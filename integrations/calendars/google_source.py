"""Google Calendar: busy time through freebusy.query, the calendar list, and writing events.

Every call builds its own service (`build` with the bundled discovery document, ~2 ms): httplib2
is not thread-safe, and a service per call keeps workers and web threads independent. Retries
are our own small loop around `execute()` rather than `num_retries`, so that Retry-After is
honoured and tests can inject the sleep function.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from integrations.calendars.errors import CalendarError
from scheduler.model import BusyReport, CalendarWarning, Interval

MAX_DAYS_PER_QUERY = 60
MAX_CALENDARS_PER_QUERY = 50
MAX_ATTEMPTS = 5
TIMEOUT = 20.0  # seconds for one HTTP call; config: [google] timeout
MAX_RETRY_WAIT = 30.0  # seconds; a longer Retry-After fails now instead of blocking a request
_RETRY_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})

Sleep = Callable[[float], None]


def google_service(credentials: Any, api_endpoint: str, *, timeout: float = TIMEOUT) -> Any:
    """A Calendar v3 service for `credentials`, talking to `api_endpoint` (…/calendar/v3/),
    waiting at most `timeout` seconds for each HTTP answer (the library's default is 60)."""
    import google_auth_httplib2
    from googleapiclient.discovery import build
    from googleapiclient.http import build_http

    # What build() makes from `credentials` itself, with our timeout on the transport.
    http = build_http()
    http.timeout = timeout
    return build(
        "calendar",
        "v3",
        http=google_auth_httplib2.AuthorizedHttp(credentials, http=http),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": api_endpoint},
    )


def execute(
    request: Any,
    *,
    what: str,
    sleep: Sleep = time.sleep,
    attempts: int = MAX_ATTEMPTS,
    rand: Callable[[], float] = random.random,
) -> Any:
    """Run a googleapiclient request, retrying 429, 403 rate limits and 5xx with backoff.

    Honours Retry-After (seconds or an HTTP date). 400, 403 quotaExceeded/forbidden and other
    errors raise CalendarError at once; RefreshError from the credentials propagates untouched.
    """
    import httplib2
    from google.auth.exceptions import TransportError
    from googleapiclient.errors import HttpError

    for attempt in range(attempts):
        try:
            return request.execute()
        except HttpError as exc:
            status = int(exc.resp.status)
            reason = error_reason(exc)
            retryable = (
                status == 429 or status >= 500 or (status == 403 and reason in _RETRY_REASONS)
            )
            if not retryable or attempt == attempts - 1:
                raise CalendarError(describe_http_error(what, exc)) from exc
            wait = _retry_after(exc)
            if wait is None:
                wait = (2**attempt) * (0.5 + rand() / 2)
            if wait > MAX_RETRY_WAIT:
                raise CalendarError(
                    f"{what}: Google asks to wait {wait:.0f} s before retrying "
                    f"(HTTP {status} {reason})"
                ) from exc
            sleep(wait)
        except (OSError, httplib2.HttpLib2Error, TransportError) as exc:
            # refused, reset, DNS, token endpoint unreachable: Google can't be reached
            raise CalendarError(f"{what}: cannot reach Google Calendar: {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def error_reason(exc: Any) -> str:
    """Google's machine-readable reason from an HttpError ("rateLimitExceeded", ...)."""
    try:
        data = json.loads(exc.content.decode("utf-8"))
        errors = data["error"].get("errors") or []
        if errors and errors[0].get("reason"):
            return str(errors[0]["reason"])
        return str(data["error"].get("status", ""))
    except (ValueError, KeyError, AttributeError, TypeError, IndexError):
        return ""


def describe_http_error(what: str, exc: Any) -> str:
    status = int(exc.resp.status)
    reason = error_reason(exc)
    message = getattr(exc, "reason", "") or ""
    detail = " ".join(p for p in (reason, message and f"({message})") if p)
    return f"{what}: Google answered HTTP {status} {detail}".rstrip()


def _retry_after(exc: Any) -> float | None:
    value = exc.resp.get("retry-after") if hasattr(exc.resp, "get") else None
    if not value:
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_google_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def chunk_interval(interval: Interval, days: int = MAX_DAYS_PER_QUERY) -> list[Interval]:
    """Split `interval` into consecutive pieces of at most `days` days (of 24 real hours)."""
    step = timedelta(days=days)
    pieces: list[Interval] = []
    # In UTC: adding days to a zoned datetime adds wall-clock days, which span 60 days and an
    # hour across an autumn DST change, and Google refuses a range over its limit.
    start, stop = interval.start.astimezone(UTC), interval.end.astimezone(UTC)
    while start < stop:
        end = min(start + step, stop)
        pieces.append(Interval(start, end))
        start = end
    return pieces or [interval]


class GoogleFreeBusySource:
    """Busy time of the selected Google calendars, read with freebusy.query."""

    def __init__(
        self,
        credentials: Any,
        calendar_ids: Sequence[str],
        *,
        api_endpoint: str,
        name: str = "google",
        zone: ZoneInfo | None = None,
        sleep: Sleep = time.sleep,
        timeout: float = TIMEOUT,
        attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.credentials = credentials
        self.calendar_ids = tuple(calendar_ids)
        self.api_endpoint = api_endpoint
        self.name = name
        self.zone = zone
        self.sleep = sleep
        self.timeout = timeout
        self.attempts = attempts

    def busy(self, interval: Interval) -> list[Interval]:
        """Busy intervals; raises CalendarError only when no selected calendar could be read."""
        return list(self.busy_report(interval).intervals)

    def busy_report(self, interval: Interval) -> BusyReport:
        """Busy intervals plus one warning per calendar Google could not answer for.

        When not one selected calendar could be read, raises CalendarError instead: an empty
        answer would make the owner look free all week.
        """
        if not self.calendar_ids:
            return BusyReport(())
        zone = self.zone or interval.start.tzinfo
        busy: list[Interval] = []
        failed: dict[str, str] = {}
        with google_service(self.credentials, self.api_endpoint, timeout=self.timeout) as service:
            self._query(service, interval, zone, busy, failed)
        warnings = tuple(
            CalendarWarning(self.name, f"calendar {cid!r} could not be read ({reason})")
            for cid, reason in failed.items()
        )
        if len(failed) >= len(set(self.calendar_ids)):
            raise CalendarError("; ".join(str(w) for w in warnings))
        return BusyReport(tuple(sorted(busy)), warnings)

    def _query(
        self,
        service: Any,
        interval: Interval,
        zone: Any,
        busy: list[Interval],
        failed: dict[str, str],
    ) -> None:
        for piece in chunk_interval(interval):
            for i in range(0, len(self.calendar_ids), MAX_CALENDARS_PER_QUERY):
                ids = self.calendar_ids[i : i + MAX_CALENDARS_PER_QUERY]
                body = {
                    "timeMin": _rfc3339(piece.start),
                    "timeMax": _rfc3339(piece.end),
                    "items": [{"id": cid} for cid in ids],
                }
                answer = execute(
                    service.freebusy().query(body=body),
                    what=f"{self.name}: freeBusy",
                    sleep=self.sleep,
                    attempts=self.attempts,
                )
                calendars = answer.get("calendars", {})
                for cid in ids:
                    entry = calendars.get(cid)
                    if entry is None:
                        failed.setdefault(cid, "missing from Google's answer")
                        continue
                    errors = entry.get("errors") or []
                    if errors:
                        reasons = ", ".join(str(e.get("reason", "unknown")) for e in errors)
                        failed.setdefault(cid, reasons)
                        continue
                    for span in entry.get("busy", []):
                        start = _parse_google_time(span["start"]).astimezone(zone)
                        end = _parse_google_time(span["end"]).astimezone(zone)
                        if start < end:
                            busy.append(Interval(start, end))


def calendar_list(
    credentials: Any, api_endpoint: str, *, sleep: Sleep = time.sleep, timeout: float = TIMEOUT
) -> list[dict[str, Any]]:
    """The user's calendars: dicts with id, summary, primary, access_role (all pages)."""
    result: list[dict[str, Any]] = []
    token: str | None = None
    with google_service(credentials, api_endpoint, timeout=timeout) as service:
        while True:
            kwargs: dict[str, Any] = {"maxResults": 250}
            if token:
                kwargs["pageToken"] = token
            page = execute(
                service.calendarList().list(**kwargs), what="Google calendar list", sleep=sleep
            )
            for item in page.get("items", []):
                result.append(
                    {
                        "id": item["id"],
                        "summary": item.get("summaryOverride") or item.get("summary") or item["id"],
                        "primary": bool(item.get("primary", False)),
                        "access_role": item.get("accessRole", ""),
                    }
                )
            token = page.get("nextPageToken")
            if not token:
                return result


def event_id_for(uid: str) -> str:
    """A Google event id derived from our UID (base32hex alphabet), so a retried insert is a 409."""
    return "ma" + hashlib.sha256(uid.encode("utf-8")).hexdigest()[:40]


class GoogleEventWriter:
    """Writes booked coffees to one Google calendar, inviting the attendee."""

    def __init__(
        self,
        credentials: Any,
        calendar_id: str,
        *,
        api_endpoint: str,
        meet: bool = False,
        zone: str = "UTC",
        sleep: Sleep = time.sleep,
        timeout: float = TIMEOUT,
    ) -> None:
        self.credentials = credentials
        self.calendar_id = calendar_id
        self.api_endpoint = api_endpoint
        self.meet = meet
        self.zone = ZoneInfo(zone)  # the owner's: events are written in it, with its name
        self.sleep = sleep
        self.timeout = timeout

    def create_event(
        self,
        *,
        summary: str,
        interval: Interval,
        attendee: str,
        description: str,
        uid: str,
        meet: bool | None = None,
        location: str = "",
    ) -> str:
        """events.insert with the attendee and sendUpdates=all; returns the Google event id.

        The event id is derived from `uid`, so inserting the same booking twice (an outbox retry
        after a lost answer) finds the first event instead of creating a second.
        """
        from googleapiclient.errors import HttpError

        event_id = event_id_for(uid)
        body: dict[str, Any] = {
            "id": event_id,
            "summary": summary,
            "description": description,
            "start": _event_time(interval.start, self.zone),
            "end": _event_time(interval.end, self.zone),
            "attendees": [{"email": attendee}],
            "extendedProperties": {"private": {"meetagain_uid": uid}},
            "reminders": {"useDefault": True},
        }
        if location:
            body["location"] = location
        kwargs: dict[str, Any] = {"calendarId": self.calendar_id, "sendUpdates": "all"}
        if self.meet if meet is None else meet:
            body["conferenceData"] = {
                "createRequest": {
                    "requestId": uuid.uuid4().hex,
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                }
            }
            kwargs["conferenceDataVersion"] = 1
        what = f"Google calendar {self.calendar_id!r}: create event"
        try:
            with google_service(
                self.credentials, self.api_endpoint, timeout=self.timeout
            ) as service:
                created = execute(
                    service.events().insert(body=body, **kwargs), what=what, sleep=self.sleep
                )
        except CalendarError as exc:
            cause = exc.__cause__
            if isinstance(cause, HttpError) and int(cause.resp.status) == 409:
                return event_id  # inserted by an earlier attempt
            raise
        return str(created.get("id", event_id))

    def move_event(self, event_id: str, interval: Interval, *, sequence: int) -> None:
        """events.patch of start, end (and SEQUENCE) with sendUpdates=all: the same event at a
        new time, so the attendee's calendar moves it rather than cancelling it."""
        what = f"Google calendar {self.calendar_id!r}: move event {event_id}"
        body = {
            "start": _event_time(interval.start, self.zone),
            "end": _event_time(interval.end, self.zone),
            "sequence": sequence,
        }
        with google_service(self.credentials, self.api_endpoint, timeout=self.timeout) as service:
            execute(
                service.events().patch(
                    calendarId=self.calendar_id, eventId=event_id, body=body, sendUpdates="all"
                ),
                what=what,
                sleep=self.sleep,
            )

    def delete_event(self, event_id: str) -> None:
        """events.delete with sendUpdates=all; an event already gone counts as deleted."""
        from googleapiclient.errors import HttpError

        what = f"Google calendar {self.calendar_id!r}: delete event {event_id}"
        try:
            with google_service(
                self.credentials, self.api_endpoint, timeout=self.timeout
            ) as service:
                execute(
                    service.events().delete(
                        calendarId=self.calendar_id, eventId=event_id, sendUpdates="all"
                    ),
                    what=what,
                    sleep=self.sleep,
                )
        except CalendarError as exc:
            cause = exc.__cause__
            if isinstance(cause, HttpError) and int(cause.resp.status) in (404, 410):
                return
            raise


def _event_time(value: datetime, zone: ZoneInfo) -> dict[str, str]:
    """An event's start or end as Google stores it: local time in `zone`, and the zone's name
    (without it, Google keeps the event in UTC and the owner's calendar shows it so)."""
    return {"dateTime": value.astimezone(zone).isoformat(), "timeZone": zone.key}
