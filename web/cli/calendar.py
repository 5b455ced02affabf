"""`meetagain slots` and `meetagain busy`: free meal slots and merged busy time from calendars.

The output formats are a stable contract (see issue 3): `--format json` prints one JSON object
with RFC 3339 times in the user's UTC offset; `--format text` is a table grouped by day.
Flags override the config; without them the config and its defaults apply.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from web.cli import State, format_option, pass_state
from web.errors import UserError

if TYPE_CHECKING:
    from integrations.storage.dbapi import Db

_WINDOW = re.compile(r"^\s*([A-Za-z][\w-]*)\s*=\s*([^-\s]+)\s*-\s*(\S+)\s*$")


@dataclass(frozen=True)
class Reading:
    """What `slots` and `busy` both read: which calendars, in which zone, over which days, for
    whom, and how the answer is printed."""

    calendars: tuple[str, ...]
    tz: str | None
    from_: str | None
    days: int | None
    me: tuple[str, ...]
    fmt: str


def _common(command: Any) -> Any:
    """Options shared by `slots` and `busy` (applied bottom-up, so listed in reverse), handed
    to the command as one `Reading` after the state."""

    # Click calls the outermost function with keyword arguments only; `pass_state` (applied
    # first, so inside) puts the state before the positional `Reading`.
    @functools.wraps(command)
    def with_reading(
        *args: Any,
        calendars: tuple[str, ...],
        tz: str | None,
        from_: str | None,
        days: int | None,
        me: tuple[str, ...],
        fmt: str,
        **kwargs: Any,
    ) -> Any:
        reading = Reading(calendars, tz, from_, days, me, fmt)
        return command(reading, *args, **kwargs)

    options = [
        format_option,
        click.option(
            "--me",
            "me",
            multiple=True,
            metavar="EMAIL",
            help="The owner's address(es): events they declined are free (default: config).",
        ),
        click.option(
            "--days",
            type=int,
            default=None,
            metavar="N",
            help="How many days (default: horizon_days).",
        ),
        click.option(
            "--from",
            "from_",
            default=None,
            metavar="YYYY-MM-DD",
            help="First day (default: today in the zone).",
        ),
        click.option(
            "--tz", default=None, metavar="ZONE", help="IANA time zone (default: config owner)."
        ),
        click.option(
            "--calendar",
            "calendars",
            multiple=True,
            metavar="SRC",
            help="ICS path, http(s)/webcal URL or a calendar's name as the app shows it; "
            "repeatable (default: your calendars that count as busy).",
        ),
    ]
    wrapped: Any = with_reading
    for option in options:
        wrapped = option(wrapped)
    return wrapped


@dataclass(frozen=True)
class _Range:
    zone: ZoneInfo
    first: date
    days: int

    @property
    def interval(self) -> Any:
        from scheduler.model import Interval
        from scheduler.slots import local

        return Interval(
            local(self.first, time(0), self.zone),
            local(self.first + timedelta(days=self.days), time(0), self.zone),
        )


def _zone(config: Any, tz: str | None) -> ZoneInfo:
    from integrations.config import check_zone

    name = tz if tz is not None else config.owner.timezone
    try:
        return ZoneInfo(check_zone(name))
    except ValueError as exc:
        raise UserError(f"--tz: {exc}") from None


def _now(value: str | None, zone: ZoneInfo) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise UserError(
            f'--now: "{value}" is not an ISO 8601 time like 2026-03-23T08:00:00+01:00'
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _range(
    config: Any, zone: ZoneInfo, from_: str | None, days: int | None, now: datetime
) -> _Range:
    if from_ is None:
        first = now.astimezone(zone).date()
    else:
        try:
            first = date.fromisoformat(from_.strip())
        except ValueError:
            raise UserError(f'--from: "{from_}" is not a date YYYY-MM-DD') from None
    count = days if days is not None else config.scheduling.horizon_days
    if count < 1:
        raise UserError(f"--days: must be at least 1, got {count}")
    if count > 3660:
        raise UserError(f"--days: at most 3660 days, got {count}")
    return _Range(zone, first, count)


def _read_busy(
    state: State, specs: Sequence[str], zone: ZoneInfo, me: Sequence[str], interval: Any
) -> Any:
    """Merged busy time; warnings go to stderr; failures are UserErrors.

    A file or URL given with --calendar is read now (ad hoc). Any other name, and no
    --calendar at all, means the user's calendars as the app shows them, from the store (read
    first if due). Before `meetagain init` there is no store: [[calendars]] are read now.
    """
    from pathlib import Path

    from integrations.calendars.errors import CalendarError
    from integrations.calendars.registry import is_url
    from scheduler.intervals import merge
    from scheduler.model import BusyReport

    adhoc = [s for s in specs if is_url(s) or Path(s).expanduser().exists()]
    named = [s for s in specs if s not in adhoc]
    reports: list[Any] = []
    if named or not specs:
        stored = _store_busy(state, named, interval)
        if stored is None:  # no database yet: the config's calendars, read now
            names = named or [c.name for c in state.config.calendars]
            if not names:
                raise UserError(
                    "no calendar given: use --calendar PATH|URL|NAME, add [[calendars]] to the "
                    "config or add calendars in the web app"
                )
            adhoc = [*named, *adhoc] if named else names
        else:
            reports.append(stored)
    if adhoc:
        reports.append(_live_busy(state, adhoc, zone, me, interval))
    try:
        report = BusyReport(
            tuple(merge([i for r in reports for i in r.intervals])),
            tuple(w for r in reports for w in r.warnings),
        )
    except CalendarError as exc:  # pragma: no cover - merge raises nothing of this kind
        raise UserError(str(exc)) from None
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    return report


@dataclass(frozen=True)
class _Store:
    """The calendar store, ready to read over a plain connection, and whose calendars."""

    db: Db
    user_id: int


_STORE = "meetagain.calendar_store"


def _store(state: State) -> _Store | None:
    """The store to read (opened once per command), or None before `meetagain init`.

    When nothing needs a refresh or a sync first (the usual case), the store is read over
    `sqlite3` (or the engine's raw connection) and SQLAlchemy is never imported; otherwise the
    config's calendars are made rows and due calendars synced first (`before_reading`).
    """
    meta = click.get_current_context().meta
    if _STORE not in meta:
        meta[_STORE] = _open_store(state)
    found: _Store | None = meta[_STORE]
    return found


def _open_store(state: State) -> _Store | None:
    from integrations.storage import calendar_reads
    from integrations.storage.dbapi import Db, connect_sqlite, sqlite_file
    from web.services import calendar_read

    config = state.config
    path = sqlite_file(config.database_url)
    if path is not None:
        db = connect_sqlite(path)
        if db is None:
            return None  # no database yet: nothing is created by reading
        click.get_current_context().call_on_close(db.close)
    else:
        raw = state.runtime.engine.raw_connection()
        click.get_current_context().call_on_close(raw.close)  # back to the engine's pool
        db = Db(raw.driver_connection)
    email = (state.user or config.owner.emails[0]).strip().lower()
    try:
        with db.snapshot():
            owners = calendar_reads.owners(db, [email])
            if owners and calendar_read.nothing_to_sync(
                db, config, owners[0].id, now=datetime.now(UTC)
            ):
                return _Store(db, owners[0].id)
    except db.Error:
        pass  # an empty or older database: the full path below says what to do
    if not _store_ready(state):
        return None
    from web.services import calendar_sync

    user_id = state.owner_id()
    calendar_sync.before_reading(state.runtime, user_id)
    return _Store(db, user_id)


def _store_ready(state: State) -> bool:
    """True when there is a database with the calendar store; an older database is an error
    that says to upgrade (without loading Alembic to find out)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with state.runtime.engine.connect() as conn:
        try:
            conn.execute(text("SELECT 1 FROM calendar_sync LIMIT 1"))
        except DBAPIError:
            conn.rollback()
            try:
                conn.execute(text("SELECT 1 FROM users LIMIT 1"))
            except DBAPIError:
                return False  # an empty file: not set up yet
            raise UserError("the database is not up to date: run `meetagain db upgrade`") from None
    return True


def _store_busy(state: State, names: Sequence[str], interval: Any) -> Any:
    """Busy time of the user's stored calendars (all that count as busy, or `names`), synced
    first where due; None when there is no database yet."""
    from integrations.calendars.errors import CalendarError
    from web.services import calendar_read

    store = _store(state)
    if store is None:
        return None
    with store.db.snapshot():
        try:
            found = calendar_read.read_busy(
                store.db, state.config, store.user_id, interval, names=names
            )
        except CalendarError as exc:
            raise UserError(str(exc)) from None
    return found.report


def _live_busy(
    state: State, specs: Sequence[str], zone: ZoneInfo, me: Sequence[str], interval: Any
) -> Any:
    """Read ad-hoc calendars (files, URLs, [[calendars]] names before `init`) now."""
    from integrations.calendars.cache import open_cache
    from integrations.calendars.errors import CalendarError
    from integrations.calendars.registry import open_source, resolve_spec
    from integrations.calendars.sources import collect_busy
    from integrations.net import NetworkPolicy

    config = state.config
    cache = open_cache(config)
    try:
        sources = []
        for spec in specs:
            calendar = resolve_spec(spec, config)
            if calendar.kind == "google":  # stored calendars come from the store
                raise CalendarError(
                    f"{calendar.name}: Google calendars need the database: run `meetagain init`, "
                    "then connect Google in the web app"
                )
            entry = config.calendar(spec)
            max_bytes = entry.max_bytes if entry is not None else None
            sources.append(
                open_source(
                    calendar,
                    zone=zone,
                    me=me,
                    cache=cache,
                    max_bytes=max_bytes,
                    network=NetworkPolicy.from_config(config),
                )
            )
        return collect_busy(sources, interval)
    except CalendarError as exc:
        raise UserError(str(exc)) from None


def _me(config: Any, me: Sequence[str]) -> tuple[str, ...]:
    return tuple(me) if me else tuple(config.owner.emails)


def _settings(state: State, specs: Sequence[str]) -> Any:
    """The config as the user sees it (their windows, rules and zone set in the web app) when
    the user's calendars are read from the store; for files and URLs alone, the config file."""
    from pathlib import Path

    from integrations.calendars.registry import is_url

    if specs and all(is_url(s) or Path(s).expanduser().exists() for s in specs):
        return state.config
    store = _store(state)
    if store is None:
        return state.config
    from web.services.calendar_read import user_config

    with store.db.snapshot():
        return user_config(store.db, state.config, store.user_id)


def _windows(config: Any, specs: Sequence[str], weekdays: str | None) -> tuple[Any, ...]:
    from integrations.config import parse_time, parse_weekdays
    from scheduler.model import Window

    days: frozenset[int] | None = None
    if weekdays is not None:
        try:
            days = parse_weekdays(weekdays)
        except ValueError as exc:
            raise UserError(f"--weekdays: {exc}") from None
    configured = {w.name: w for w in config.windows}
    if not specs:
        windows = tuple(config.windows)
        return tuple(replace(w, weekdays=days) for w in windows) if days else windows
    result = []
    for spec in specs:
        match = _WINDOW.match(spec)
        if not match:
            raise UserError(f'--window: "{spec}" is not NAME=HH:MM-HH:MM (like lunch=12:00-13:30)')
        name, raw_start, raw_end = match.groups()
        try:
            start, end = parse_time(raw_start), parse_time(raw_end)
        except ValueError as exc:
            raise UserError(f'--window "{spec}": {exc}') from None
        if end <= start:
            raise UserError(f'--window "{spec}": the end {raw_end} is not after the start')
        default_days = configured[name].weekdays if name in configured else frozenset(range(5))
        result.append(Window(name, start, end, days or default_days))
    return tuple(result)


def _minutes(value: int | None, flag: str, default: timedelta) -> timedelta:
    if value is None:
        return default
    if value < 0:
        raise UserError(f"{flag}: must not be negative, got {value}")
    return timedelta(minutes=value)


def _rfc3339(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat()


def _span_text(start: datetime, end: datetime) -> str:
    if end.date() == start.date():
        return f"{start:%H:%M}-{end:%H:%M}"
    if end.time() == time(0) and end.date() == start.date() + timedelta(days=1):
        return f"{start:%H:%M}-24:00"
    return f"{start:%H:%M}-{end:%a %Y-%m-%d %H:%M}"


def _length(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest:02d} min"
    return f"{hours} h" if hours else f"{rest} min"


def _heading(what: str, rng: _Range) -> str:
    last = rng.first + timedelta(days=rng.days - 1)
    return f"{what} in {rng.zone.key}, {rng.first:%a %Y-%m-%d} to {last:%a %Y-%m-%d}"


@click.command()
@_common
@click.option(
    "--now",
    "now_",
    default=None,
    metavar="ISO8601",
    help="Pretend it is this time (default: the real now).",
)
@click.option(
    "--window",
    "windows",
    multiple=True,
    metavar="NAME=HH:MM-HH:MM",
    help="Meal window in the zone; repeatable; replaces the config's windows.",
)
@click.option("--weekdays", default=None, metavar="mon,tue,...", help="Days the windows apply.")
@click.option("--duration", type=int, default=None, metavar="MIN", help="Meeting length.")
@click.option("--buffer", type=int, default=None, metavar="MIN", help="Gap kept around busy time.")
@click.option("--notice", type=int, default=None, metavar="MIN", help="Minimum notice.")
@pass_state
def slots(
    state: State,
    reading: Reading,
    now_: str | None,
    windows: tuple[str, ...],
    weekdays: str | None,
    duration: int | None,
    buffer: int | None,
    notice: int | None,
) -> None:
    """Free breakfast and lunch slots from calendars."""
    from scheduler.model import Interval
    from scheduler.slots import free_slots

    config = _settings(state, reading.calendars)
    zone = _zone(config, reading.tz)
    now = _now(now_, zone)
    rng = _range(config, zone, reading.from_, reading.days, now)
    chosen_windows = _windows(config, windows, weekdays)
    policy = config.scheduling
    policy = replace(
        policy,
        duration=_minutes(duration, "--duration", policy.duration),
        buffer=_minutes(buffer, "--buffer", policy.buffer),
        notice=_minutes(notice, "--notice", policy.notice),
    )
    if policy.duration <= timedelta(0):
        raise UserError("--duration: must be at least 1 minute")
    interval = rng.interval
    # Busy time just outside the range still matters once widened by the buffer.
    # In UTC: wall-clock arithmetic at a midnight clock change (Santiago) could move it inwards.
    wider = Interval(
        interval.start.astimezone(UTC) - policy.buffer, interval.end.astimezone(UTC) + policy.buffer
    )
    report = _read_busy(state, reading.calendars, zone, _me(config, reading.me), wider)
    found = free_slots(
        report.intervals,
        chosen_windows,
        zone=zone,
        start=rng.first,
        days=rng.days,
        now=now,
        policy=policy,
    )
    if reading.fmt == "json":
        payload = {
            "slots": [
                {
                    "window": s.window,
                    "start": _rfc3339(s.start, zone),
                    "end": _rfc3339(s.end, zone),
                }
                for s in found
            ]
        }
        click.echo(json.dumps(payload))
        return
    click.echo(_heading("Free slots", rng))
    if not found:
        click.echo("  no free slots")
        return
    width = max(len(s.window) for s in found)
    current: date | None = None
    for s in found:
        start, end = s.start.astimezone(zone), s.end.astimezone(zone)
        if start.date() != current:
            current = start.date()
            click.echo(f"{start:%a %Y-%m-%d}")
        # Interval.duration is elapsed time; `end - start` in one zone ignores a DST change.
        length = _length(s.interval.duration)
        click.echo(f"  {s.window:<{width}}  {_span_text(start, end)}  ({length})")


@click.command()
@_common
@pass_state
def busy(state: State, reading: Reading) -> None:
    """Merged busy time from calendars."""
    config = _settings(state, reading.calendars)
    zone = _zone(config, reading.tz)
    rng = _range(config, zone, reading.from_, reading.days, datetime.now(UTC))
    report = _read_busy(state, reading.calendars, zone, _me(config, reading.me), rng.interval)
    intervals = report.intervals
    if reading.fmt == "json":
        payload = {
            "busy": [
                {"start": _rfc3339(i.start, zone), "end": _rfc3339(i.end, zone)} for i in intervals
            ]
        }
        click.echo(json.dumps(payload))
        return
    click.echo(_heading("Busy", rng))
    if not intervals:
        click.echo("  nothing busy")
        return
    current: date | None = None
    for i in intervals:
        start, end = i.start.astimezone(zone), i.end.astimezone(zone)
        if start.date() != current:
            current = start.date()
            click.echo(f"{start:%a %Y-%m-%d}")
        click.echo(f"  {_span_text(start, end)}  ({_length(i.duration)})")
