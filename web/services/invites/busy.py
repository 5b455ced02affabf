"""The owner's live busy times, read when an invitee accepts (calendars opened once, cached)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from integrations.calendars.errors import CalendarError, about
from integrations.calendars.registry import GoogleAccess, open_source
from integrations.config import Config, ConfigError, with_user_settings
from integrations.crypto import DecryptionError
from integrations.net import NetworkPolicy
from integrations.storage.db import snapshot
from integrations.storage.invites import CalendarRow, InviteStore, OwnerCalendarRows
from scheduler.intervals import merge
from scheduler.model import BusyReport, CalendarWarning, Interval, SchedulingPolicy
from web.composition import Runtime

# Seconds: the longest an accept waits for any one answer (connect, each read) of a calendar
# server (Google, CalDAV, a feed). The invitee waits for the answer (no lock is held while
# calendars are read); a server that does not answer in time becomes a warning.
LIVE_TIMEOUT = 5
LIVE_DEADLINE = 8  # seconds: the longest an accept waits for all of them together


@dataclass
class OwnerCalendars:
    """The owner's calendars, opened (credentials fetched) before any lock is taken.

    Getting Google credentials may refresh and save a token; both that and reading them happen
    before the booking transaction, which does no network I/O.
    """

    sources: list[Any]
    warnings: list[CalendarWarning]
    # The owner's booking rules (buffer, caps) and zone, read with the calendars.
    policy: SchedulingPolicy = field(default_factory=SchedulingPolicy)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))


def owner_calendars(runtime: Runtime, user_id: int) -> OwnerCalendars:
    """Open every calendar of the user that counts as busy, bypassing the busy cache."""
    with snapshot(runtime.engine) as conn:
        found = InviteStore(conn).owner_calendars(user_id=user_id)
    assert found is not None, f"no user {user_id}"
    return open_calendars(runtime, found)


def open_calendars(runtime: Runtime, found: OwnerCalendarRows) -> OwnerCalendars:
    """Open the calendars read from the store (Google's credentials fetched here, before any
    lock is taken)."""
    owner_id, email, timezone, settings = found.user_id, found.email, found.timezone, found.settings
    rows = found.calendars
    # Opening is pure given these rows and the config, except that a local file is checked to
    # exist: reuse what was opened for exactly the same rows when every source is a LiveFile
    # (which looks at the file again on every read). Google is opened each time (credentials).
    raw_settings = json.dumps(settings, sort_keys=True)
    key = (id(runtime.config), owner_id, email, timezone, raw_settings, rows)
    opened = _OPENED.get(key)
    if opened is None or opened.base is not runtime.config:
        opened = _open_calendars(runtime, rows, email, timezone, settings)
        if not opened.warnings and all(isinstance(src, LiveFile) for src in opened.sources):
            if len(_OPENED) >= 256:
                _OPENED.clear()
            _OPENED[key] = opened
    sources = list(opened.sources)
    warnings = list(opened.warnings)
    google_rows = [r for r in rows if r.kind == "google"]
    if google_rows:
        # Opened each time: getting the credentials may refresh (and save) the token.
        access = _google_access(runtime, owner_id)
        if access.credentials is None:
            # One line for all of them (about one calendar when the owner has one).
            which = google_rows[0].name if len(google_rows) == 1 else ""
            warnings.append(
                CalendarWarning.of(
                    which, "Google Calendar is not connected; its busy time was not checked"
                )
            )
            google_rows = []
        for row in google_rows:
            try:
                source = _open_row(runtime, row, zone=opened.zone, me=opened.me, google=access)
                sources.append(source)
            except (CalendarError, DecryptionError) as exc:  # reported, never fatal here
                warnings.append(CalendarWarning.of(row.name, about(row.name, exc)))
    return OwnerCalendars(sources, warnings, opened.policy, opened.zone)


@dataclass(frozen=True)
class _Opened:
    base: Config
    sources: tuple[Any, ...]
    warnings: tuple[CalendarWarning, ...]
    policy: SchedulingPolicy
    zone: ZoneInfo
    me: tuple[str, ...] = ()


_OPENED: dict[tuple[Any, ...], _Opened] = {}


def _open_calendars(
    runtime: Runtime,
    rows: Sequence[CalendarRow],
    email: str,
    timezone: str | None,
    settings: Any,
) -> _Opened:
    try:
        config = with_user_settings(runtime.config, settings or {}, timezone or "")
    except ConfigError:
        config = runtime.config
    zone = ZoneInfo(config.owner.timezone or timezone or "UTC")
    me = (email, *config.owner.emails)
    sources: list[Any] = []
    warnings: list[CalendarWarning] = []
    for row in rows:
        if row.kind == "google":
            continue
        try:
            sources.append(_open_row(runtime, row, zone=zone, me=me))
        except (CalendarError, DecryptionError) as exc:  # reported, never fatal here
            warnings.append(CalendarWarning.of(row.name, about(row.name, exc)))
    return _Opened(runtime.config, tuple(sources), tuple(warnings), config.scheduling, zone, me)


def read_busy(calendars: OwnerCalendars, interval: Interval) -> BusyReport:
    """Read the opened calendars now for `interval`: local files here, calendar servers side
    by side, for at most LIVE_DEADLINE seconds in all.

    A calendar that cannot be read (in time) becomes a warning, not a refusal: the owner offered
    these times when they were free, the owner's notice names what went unchecked, and inside
    meetagain the bookings table and its unique index still rule out double booking.
    """
    warnings = list(calendars.warnings)
    local = [s for s in calendars.sources if isinstance(s, LiveFile)]
    remote = [s for s in calendars.sources if not isinstance(s, LiveFile)]
    reports = [_read_one(source, interval) for source in local]
    if remote:
        # Each server's waits are bounded by LIVE_TIMEOUT, but a server may be asked several
        # times (CalDAV, Google's retry) and an owner may have several: one deadline for all.
        pool = ThreadPoolExecutor(max_workers=len(remote), thread_name_prefix="live-calendar")
        try:
            futures = {pool.submit(_read_one, s, interval): s for s in remote}
            done, late = wait(futures, timeout=LIVE_DEADLINE)
            reports += [f.result() for f in done]
            reports += [
                BusyReport(
                    (), (CalendarWarning(futures[f].name, f"no answer within {LIVE_DEADLINE:g} s"),)
                )
                for f in late
            ]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # the late ones end on their timeouts
    intervals = [i for r in reports for i in r.intervals if i.overlaps(interval)]
    warnings += [w for r in reports for w in r.warnings]
    return BusyReport(tuple(merge(intervals)), tuple(warnings))


def _read_one(source: Any, interval: Interval) -> BusyReport:
    """One calendar's busy time and warnings; any failure is a warning naming it."""
    from integrations.calendars.sources import source_report
    from integrations.calendars.sync import named

    name = str(getattr(source, "name", "calendar"))
    try:
        return source_report(source, interval)
    except CalendarError as exc:  # named as the owner named it, never by its address
        return BusyReport((), (CalendarWarning.of(name, named(str(exc), source)),))
    except Exception as exc:
        # The accept's one catch-all: an adapter's surprise about one calendar must not fail
        # the invitee's booking (the other calendars were read; the owner's notice names it).
        said = named(f"{exc.__class__.__name__}: {exc}", source)
        return BusyReport((), (CalendarWarning.of(name, said),))


def _open_row(
    runtime: Runtime,
    row: CalendarRow,
    *,
    zone: ZoneInfo,
    me: Sequence[str],
    google: GoogleAccess | None = None,
) -> Any:
    """A stored calendar through the registry, with the accept's short waits."""
    from web.services.calendar_sync import stored_calendar

    calendar = stored_calendar(runtime, row)
    # Read inside the booking's lock: a slow or failing server must not hold every other
    # accept up, so short waits and (Google) one retry after a 5xx or 429 only.
    source = open_source(
        calendar,
        zone=zone,
        me=me,
        google=google,
        timeout=LIVE_TIMEOUT,
        sleep=short_sleep,
        attempts=2,
        network=NetworkPolicy.from_config(runtime.config),
    )
    if row.kind == "ics" and not calendar.is_feed and Path(row.location).is_file():
        source = LiveFile(source, Path(row.location), zone=str(zone), me=tuple(me))
    return source


# (file stamp, interval covered, busy intervals, their (start, end) in UTC for filtering)
_Parsed = tuple[tuple[int, int, int], Interval, list[Interval], list[tuple[datetime, datetime]]]


class LiveFile:
    """A local calendar file read live: every call looks at the file as it is now.

    Parsing costs milliseconds, so the parse of a wide window is kept in memory and reused only
    while the file is exactly the one parsed (same inode, size and modification time in ns);
    any change to the file is seen by the next call.
    """

    WINDOW = timedelta(days=120)
    _memo: ClassVar[dict[tuple[str, str, tuple[str, ...]], _Parsed]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, source: Any, path: Path, *, zone: str, me: tuple[str, ...]) -> None:
        self.source = source
        self.path = path
        self.name = getattr(source, "name", str(path))
        self.key = (str(path.resolve()), zone, me)

    def busy(self, interval: Interval) -> list[Interval]:
        st = self.path.stat()
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._memo.get(self.key)
        if hit is not None and hit[0] == stamp and hit[1].contains(interval):
            # Interval.overlaps, on UTC bounds computed once per parse.
            lo, hi = interval.start.astimezone(UTC), interval.end.astimezone(UTC)
            return [i for i, (s, e) in zip(hit[2], hit[3], strict=True) if s < hi and lo < e]
        covered = Interval(interval.start, max(interval.end, interval.start + self.WINDOW))
        found = list(self.source.busy(covered))
        after = self.path.stat()
        if (after.st_ino, after.st_size, after.st_mtime_ns) == stamp:  # unchanged while parsed
            spans = [(i.start.astimezone(UTC), i.end.astimezone(UTC)) for i in found]
            with self._lock:
                self._memo[self.key] = (stamp, covered, found, spans)
        return [i for i in found if i.overlaps(interval)]


def _google_access(runtime: Runtime, user_id: int) -> GoogleAccess:
    from web.services.calendar_sync import google_access

    return google_access(runtime, user_id)


def short_sleep(seconds: float) -> None:
    # Quick in-call retries for a blip; longer outages are the outbox's backoff's job.
    import time

    time.sleep(min(seconds, 1.0))
