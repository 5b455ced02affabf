"""The sync engine: read one calendar into occurrences, incrementally where the server allows.

- Google: events.list with singleEvents=true; a full read over the horizon returns a sync token,
  later reads send only that token and get the changes (a 410 Gone means: read in full again).
- ICS feeds: a conditional GET (ETag / Last-Modified), then a hash of the content: unchanged
  bytes are not parsed again.
- Local and uploaded files: a hash of the content (an upload is parsed once).
- CalDAV: the collection's sync token (RFC 6578) first: unchanged, nothing more is asked; else a
  time-range query over the horizon, and unchanged objects (same hash) are not parsed.

`sync_source` does the network I/O and parsing and returns what to store; it holds no lock and
knows no database. The caller (the sync service) writes the result in one short transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from integrations.calendars.errors import CalendarError
from integrations.calendars.events import Occurrence, ParseLimits, parse_occurrences
from scheduler.model import CalendarWarning, Interval

PAST_DAYS = 90  # the store keeps this much of the past, for past meetings
AHEAD_MARGIN_DAYS = 30  # and the planning horizon plus this much of the future
GOOGLE_PAGE_SIZE = 2500  # events.list maxResults (Google's maximum)

UNCHANGED = "unchanged"
REPLACE = "replace"
DELTA = "delta"


@dataclass(frozen=True)
class SyncState:
    """What the last sync left to send next time, and the range the stored occurrences cover."""

    sync_token: str = ""
    etag: str = ""
    last_modified: str = ""
    content_hash: str = ""
    covers: Interval | None = None


@dataclass(frozen=True)
class SyncResult:
    """What to store: all occurrences (REPLACE), changes by key (DELTA) or nothing (UNCHANGED)."""

    state: SyncState
    mode: str
    occurrences: tuple[Occurrence, ...] = ()
    removed: tuple[str, ...] = ()  # DELTA: keys of occurrences gone
    warnings: tuple[CalendarWarning, ...] = ()  # what was skipped, about this calendar
    requests: int = 0  # calls made to the calendar server


@dataclass(frozen=True)
class Horizon:
    """The range a sync must cover: `wanted` is read in full; a stored range still holding
    `needed` is good enough for an incremental sync."""

    wanted: Interval
    needed: Interval


def horizon(now: datetime, horizon_days: int) -> Horizon:
    """90 days back, the planning horizon plus 30 days ahead; a stored range is renewed when
    it no longer reaches a week past the planning horizon."""
    start = now - timedelta(days=PAST_DAYS)
    wanted = Interval(start, now + timedelta(days=horizon_days + AHEAD_MARGIN_DAYS))
    needed = Interval(start + timedelta(days=7), now + timedelta(days=horizon_days + 7))
    return Horizon(wanted, needed)


def _covers(state: SyncState, span: Horizon) -> bool:
    return state.covers is not None and state.covers.contains(span.needed)


def sync_source(
    source: Any,
    state: SyncState,
    span: Horizon,
    *,
    zone: ZoneInfo,
    me: Sequence[str] = (),
    limits: ParseLimits | None = None,
) -> SyncResult:
    """Read `source` (a CalendarSource from the registry) since `state`.

    Raises CalendarError naming the calendar when it cannot be read or breaks a limit.
    """
    from integrations.calendars.caldav_source import CalDavSource
    from integrations.calendars.feed import IcsFeedSource
    from integrations.calendars.google_source import GoogleFreeBusySource
    from integrations.calendars.ics import IcsFileSource

    name = source.name
    read = _Reading(span, zone, tuple(me), limits or ParseLimits(), name)
    try:
        if isinstance(source, GoogleFreeBusySource):
            return _sync_google(source, state, span, zone=zone)
        if isinstance(source, IcsFeedSource):
            return _sync_feed(source, state, read)
        if isinstance(source, IcsFileSource):
            return _sync_file(source, state, read)
        if isinstance(source, CalDavSource):
            return _sync_caldav(source, state, read)
    except CalendarError as exc:
        raise CalendarError(named(str(exc), source)) from None
    raise CalendarError(f"{name}: this kind of calendar cannot be synced")


def named(message: str, source: Any) -> str:
    """`message` with the calendar's address (URL, path) replaced by the owner's name for it."""
    name = str(getattr(source, "name", "calendar"))
    for attr in ("url", "fetch_url", "path", "location"):
        where = getattr(source, attr, None)
        if where and str(where) != name:
            message = message.replace(str(where), name)
    if not message.startswith(name):
        message = f"{name}: {message}"
    return message


def _hash(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class _Reading:
    """How an iCalendar-based source is read: over which range, in which zone, for whom."""

    span: Horizon
    zone: ZoneInfo
    me: tuple[str, ...]
    limits: ParseLimits
    label: str

    def about(self, lines: Iterable[str]) -> tuple[CalendarWarning, ...]:
        """The parse's warning lines, each about the calendar being read."""
        return tuple(CalendarWarning.of(self.label, line) for line in lines)

    def parse(self, data: bytes) -> tuple[list[Occurrence], list[str]]:
        return parse_occurrences(
            data,
            self.span.wanted,
            zone=self.zone,
            me=self.me,
            source=self.label,
            limits=self.limits,
        )


def _sync_feed(source: Any, state: SyncState, read: _Reading) -> SyncResult:
    span, limits = read.span, read.limits
    fresh = not _covers(state, span)
    etag, last_modified = ("", "") if fresh else (state.etag, state.last_modified)
    source.max_bytes = min(source.max_bytes, limits.max_bytes)
    body, new_etag, new_lm = source.fetch_if_changed(etag, last_modified)
    if body is None:
        kept = replace(state, etag=new_etag, last_modified=new_lm)
        return SyncResult(kept, UNCHANGED, requests=1)
    content = _hash(body)
    validators = {"etag": new_etag, "last_modified": new_lm}
    if not fresh and content == state.content_hash:
        return SyncResult(replace(state, **validators), UNCHANGED, requests=1)
    found, warnings = read.parse(body)
    new = SyncState(content_hash=content, covers=span.wanted, **validators)
    return SyncResult(new, REPLACE, tuple(found), warnings=read.about(warnings), requests=1)


def _sync_file(source: Any, state: SyncState, read: _Reading) -> SyncResult:
    span, limits = read.span, read.limits
    data = source.read(limits.max_bytes)
    content = _hash(data)
    if _covers(state, span) and content == state.content_hash:
        return SyncResult(state, UNCHANGED)
    found, warnings = read.parse(data)
    new = SyncState(content_hash=content, covers=span.wanted)
    return SyncResult(new, REPLACE, tuple(found), warnings=read.about(warnings))


def _sync_caldav(source: Any, state: SyncState, read: _Reading) -> SyncResult:
    span, limits = read.span, read.limits
    token = _collection_token(source)
    if token and token == state.sync_token and _covers(state, span):
        return SyncResult(state, UNCHANGED, requests=1)  # nothing changed in the collection
    objects = source.fetch(span.wanted)
    total = sum(len(data) for _, data in objects)
    if total > limits.max_bytes:
        raise CalendarError(
            f"{source.name}: the calendar is larger than the limit of "
            f"{limits.max_bytes // 1024} KiB ([sync] ics_max_bytes)"
        )
    content = _hash(*(href.encode() + b"\n" + data for href, data in sorted(objects)))
    if _covers(state, span) and content == state.content_hash:
        return SyncResult(state, UNCHANGED, requests=1)
    found: list[Occurrence] = []
    warnings: list[str] = []
    for href, data in objects:
        try:
            occs, notes = read.parse(data)
        except CalendarError as exc:
            warnings.append(f"skipped an event ({href.rsplit('/', 1)[-1]}): {exc}")
            continue
        found.extend(occs)
        warnings.extend(notes)
    found.sort(key=lambda o: (o.start, o.end, o.uid))
    new = SyncState(sync_token=token, content_hash=content, covers=span.wanted)
    return SyncResult(new, REPLACE, tuple(found), warnings=read.about(warnings), requests=2)


def _collection_token(source: Any) -> str:
    """The collection's DAV:sync-token (RFC 6578), which changes whenever anything in it does;
    "" when the server keeps none (then the objects are fetched and hashed every time)."""
    from caldav.elements import dav

    from integrations.calendars.caldav_source import dav_client, guarded

    with dav_client(
        source.url, source.username, source.password, source.timeout, source.network
    ) as client:
        calendar = client.calendar(url=source.url)
        token = guarded(source.url, lambda: calendar.get_property(dav.SyncToken()))
    return str(token or "")


# --- Google ------------------------------------------------------------------------------------


class _Gone(Exception):
    """Google answered 410: the sync token is no longer valid."""


def _sync_google(source: Any, state: SyncState, span: Horizon, *, zone: ZoneInfo) -> SyncResult:
    from integrations.calendars.google_source import google_service

    calendar_id = source.calendar_ids[0] if source.calendar_ids else "primary"
    requests = 0
    with google_service(source.credentials, source.api_endpoint, timeout=source.timeout) as svc:
        if state.sync_token and _covers(state, span):
            try:
                token_now = state.sync_token
                items, token, requests = _list(source, svc, calendar_id, sync_token=token_now)
            except _Gone:
                requests += 1
            else:
                changed, removed = _google_changes(items, span, zone)
                mode = DELTA if (changed or removed) else UNCHANGED
                new = replace(state, sync_token=token)
                return SyncResult(new, mode, changed, removed, requests=requests)
        items, token, more = _list(source, svc, calendar_id, window=span.wanted)
        changed, _ = _google_changes(items, span, zone)
    new = SyncState(sync_token=token, covers=span.wanted)
    return SyncResult(new, REPLACE, changed, requests=requests + more)


def _list(
    source: Any,
    service: Any,
    calendar_id: str,
    *,
    sync_token: str = "",
    window: Interval | None = None,
) -> tuple[list[dict[str, Any]], str, int]:
    """Every page of events.list: (items, next sync token, requests made)."""
    from googleapiclient.errors import HttpError

    from integrations.calendars.google_source import execute

    items: list[dict[str, Any]] = []
    page = ""
    requests = 0
    while True:
        params: dict[str, Any] = {
            "calendarId": calendar_id,
            "singleEvents": True,
            "maxResults": GOOGLE_PAGE_SIZE,
            "showDeleted": bool(sync_token),
        }
        if sync_token:
            params["syncToken"] = sync_token
        elif window is not None:
            params["timeMin"] = window.start.isoformat()
            params["timeMax"] = window.end.isoformat()
        if page:
            params["pageToken"] = page
        requests += 1
        try:
            answer = execute(
                service.events().list(**params),
                what=f"{source.name}: events.list",
                sleep=source.sleep,
                attempts=min(source.attempts, 3),
            )
        except CalendarError as exc:
            cause = exc.__cause__
            if isinstance(cause, HttpError) and int(cause.resp.status) == 410:
                raise _Gone() from None
            raise
        items.extend(answer.get("items", []))
        page = answer.get("nextPageToken", "")
        if not page:
            return items, str(answer.get("nextSyncToken", "")), requests


def _google_time(value: dict[str, Any], zone: ZoneInfo) -> datetime | None:
    if value.get("dateTime"):
        parsed = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    if value.get("date"):
        return datetime.combine(date.fromisoformat(value["date"]), time(0), tzinfo=zone)
    return None


def _google_changes(
    items: Sequence[dict[str, Any]], span: Horizon, zone: ZoneInfo
) -> tuple[tuple[Occurrence, ...], tuple[str, ...]]:
    """Occurrences to store (within the horizon) and keys to remove, from events.list items."""
    changed: list[Occurrence] = []
    removed: list[str] = []
    for item in items:
        key = str(item.get("id", ""))
        start = _google_time(item.get("start") or {}, zone)
        end = _google_time(item.get("end") or {}, zone)
        if item.get("status") == "cancelled" or start is None or end is None or end <= start:
            removed.append(key)
            continue
        if not (start < span.wanted.end and span.wanted.start < end):
            removed.append(key)  # moved out of the horizon
            continue
        attendees = item.get("attendees") or []
        declined = any(a.get("self") and a.get("responseStatus") == "declined" for a in attendees)
        people = [
            str(a.get("email", "")).lower()
            for a in attendees
            if not a.get("self") and a.get("responseStatus") != "declined" and a.get("email")
        ]
        organizer = item.get("organizer") or {}
        if organizer.get("email") and not organizer.get("self"):
            people.append(str(organizer["email"]).lower())
        busy = item.get("transparency") != "transparent" and not declined
        changed.append(
            Occurrence(
                start,
                end,
                busy,
                uid=str(item.get("iCalUID", "") or key),
                summary=str(item.get("summary", ""))[:500],
                location=str(item.get("location", ""))[:500],
                attendees=tuple(dict.fromkeys(people)),
                key=key,
            )
        )
    return tuple(changed), tuple(removed)


@dataclass
class SyncStats:
    """Counts for a pass of the sync loop (logged; used by the bench)."""

    synced: int = 0
    failed: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)


# --- Google push channels ----------------------------------------------------------------------

CHANNEL_TTL = timedelta(days=7)  # what we ask for; Google may grant less
RENEW_BEFORE = timedelta(days=1)  # a channel is replaced this long before it expires


@dataclass(frozen=True)
class Channel:
    """A push channel Google opened for a calendar (events.watch)."""

    id: str
    resource_id: str
    expires_at: datetime


def watch_google(source: Any, *, address: str, channel_id: str, token: str) -> Channel:
    """Ask Google to POST to `address` whenever the calendar of `source` changes.

    Google sends `token` back in X-Goog-Channel-Token with every notification.
    """
    from integrations.calendars.google_source import execute, google_service

    calendar_id = source.calendar_ids[0] if source.calendar_ids else "primary"
    body = {
        "id": channel_id,
        "type": "web_hook",
        "address": address,
        "token": token,
        "params": {"ttl": str(int(CHANNEL_TTL.total_seconds()))},
    }
    with google_service(source.credentials, source.api_endpoint, timeout=source.timeout) as svc:
        answer = execute(
            svc.events().watch(calendarId=calendar_id, body=body),
            what=f"{source.name}: events.watch",
            sleep=source.sleep,
            attempts=min(source.attempts, 3),
        )
    expires_ms = int(answer.get("expiration") or 0)
    expires = datetime.fromtimestamp(expires_ms / 1000, tz=UTC) if expires_ms else datetime.now(UTC)
    return Channel(str(answer.get("id", channel_id)), str(answer.get("resourceId", "")), expires)


def stop_google_channel(source: Any, channel_id: str, resource_id: str) -> None:
    """Close a push channel (channels.stop); a channel Google no longer knows is fine."""
    from integrations.calendars.google_source import execute, google_service

    with google_service(source.credentials, source.api_endpoint, timeout=source.timeout) as svc:
        execute(
            svc.channels().stop(body={"id": channel_id, "resourceId": resource_id}),
            what=f"{source.name}: channels.stop",
            sleep=source.sleep,
            attempts=1,
        )
