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

from scheduler.model import POLICY_LIMITS, SHORTEST_MEETING_MINUTES
from web.cli import State, format_option, pass_state
from web.cli.values import minutes, parse_day, parse_moment
from web.errors import UserError

if TYPE_CHECKING:
    from web.services.busy_reading import CalendarReader

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
    from scheduler.zones import check_zone

    name = tz if tz is not None else config.owner.timezone
    try:
        return ZoneInfo(check_zone(name))
    except ValueError as exc:
        raise UserError(f"--tz: {exc}") from None


def _now(value: str | None, zone: ZoneInfo) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return parse_moment(value, "--now", zone)


def _range(
    config: Any, zone: ZoneInfo, from_: str | None, days: int | None, now: datetime
) -> _Range:
    first = now.astimezone(zone).date() if from_ is None else parse_day(from_, "--from")
    count = days if days is not None else config.scheduling.horizon_days
    if count < 1:
        raise UserError(f"--days: must be at least 1, got {count}")
    if count > POLICY_LIMITS["horizon_days"]:
        raise UserError(f"--days: at most {POLICY_LIMITS['horizon_days']} days, got {count}")
    return _Range(zone, first, count)


def _reader(state: State) -> CalendarReader:
    """This command's calendar reader (one per command: the store is opened once)."""
    from web.services.busy_reading import CalendarReader

    ctx = click.get_current_context()
    if _READER not in ctx.meta:
        reader = CalendarReader(state.config, lambda: state.runtime, state.owner_id, state.user)
        ctx.call_on_close(reader.close)
        ctx.meta[_READER] = reader
    found: CalendarReader = ctx.meta[_READER]
    return found


_READER = "meetagain.calendar_reader"


def _read_busy(
    state: State, specs: Sequence[str], zone: ZoneInfo, me: Sequence[str], interval: Any
) -> Any:
    """Merged busy time; warnings go to stderr."""
    report = _reader(state).busy(specs, zone, me, interval)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    return report


def _me(config: Any, me: Sequence[str]) -> tuple[str, ...]:
    return tuple(me) if me else tuple(config.owner.emails)


def _settings(state: State, specs: Sequence[str]) -> Any:
    """The config as the user sees it (see CalendarReader.settings)."""
    return _reader(state).settings(specs)


def _windows(config: Any, specs: Sequence[str], weekdays: str | None) -> tuple[Any, ...]:
    from scheduler.model import Window, parse_time, parse_weekdays

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
        duration=minutes(
            duration, "--duration", policy.duration, POLICY_LIMITS["duration_minutes"]
        ),
        buffer=minutes(buffer, "--buffer", policy.buffer, POLICY_LIMITS["buffer_minutes"]),
        notice=minutes(notice, "--notice", policy.notice, POLICY_LIMITS["min_notice_hours"] * 60),
    )
    if policy.duration < timedelta(minutes=SHORTEST_MEETING_MINUTES):
        raise UserError(f"--duration: must be at least {SHORTEST_MEETING_MINUTES} minutes")
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
