"""Reading the user's busy time from the calendar store, without SQLAlchemy.

The pages, planning and the worker call `read_busy` through `planning.read_busy` inside
their units of work (`Db.of_session`); `meetagain slots` and `busy` call it over a plain
connection (`integrations.storage.dbapi`), after `nothing_to_sync` said the store needs no
refresh or sync first. When it does, the CLI takes the full path (`calendar_sync.before_reading`,
which writes through SQLAlchemy) and then reads here all the same: one read, two ways in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from integrations.config import Config, ConfigError, with_user_settings
from integrations.storage import calendar_reads
from integrations.storage.dbapi import Db
from scheduler.intervals import merge
from scheduler.model import BusyReport, CalendarWarning, Interval
from scheduler.text import moment_text
from web.errors import NotFound


@dataclass(frozen=True)
class StoredBusy:
    report: BusyReport
    stale: tuple[str, ...]  # calendars whose data is older than twice the sync interval


def interval_of(config: Config) -> timedelta:
    """How often a calendar is synced ([sync] interval_minutes)."""
    return timedelta(minutes=config.sync.interval_minutes)


def user_config(db: Db, config: Config, user_id: int) -> Config:
    """The config as the user sees it, read over a plain connection (as
    `accounts.user_config`: settings the file no longer allows give way to its values)."""
    found = calendar_reads.owner(db, user_id)
    if found is None:
        raise NotFound(f"no user with id {user_id}")
    try:
        return with_user_settings(config, found.settings, found.timezone)
    except ConfigError:
        return config


def nothing_to_sync(db: Db, config: Config, user_id: int, *, now: datetime) -> bool:
    """True when what a CLI command does before reading (`calendar_sync.before_reading`: the
    config's calendars made rows, states made, due calendars synced) would change nothing, so
    the store can be read as it is. Anything unsure answers False (the full path decides)."""
    from integrations.calendars.registry import from_config

    if calendar_reads.calendars_due(db, user_id, now=now):
        return False
    emails = [e.strip().lower() for e in config.owner.emails]
    found = calendar_reads.owners(db, emails)
    if len(found) > 1:
        return False  # which one the refresh picks is the full path's business
    if not found:
        return True  # no owner: the refresh has nothing to do
    rows = {r.name: r for r in calendar_reads.config_rows(db, found[0].id)}
    wanted = [c for entry in config.calendars for c in from_config(entry, config.base_dir)]
    if len(wanted) != len(rows) or len({w.calendar.name for w in wanted}) != len(wanted):
        return False
    if calendar_reads.app_calendar_names(db, found[0].id) & set(rows):
        return False
    for entry in wanted:
        cal, row = entry.calendar, rows.get(entry.calendar.name)
        if row is None or entry.problem or cal.password or row.has_secret:
            return False  # secrets are (re-)encrypted by the refresh
        if "(password_env)" in row.last_error:
            return False
        if (row.kind, row.location, row.username, row.external_id) != (
            cal.kind,
            cal.location,
            cal.username,
            cal.external_id,
        ):
            return False
    return True


def read_busy(
    db: Db,
    config: Config,
    user_id: int,
    interval: Interval,
    *,
    names: Sequence[str] = (),
    now: datetime | None = None,
    exclude: Sequence[Interval] = (),
) -> StoredBusy:
    """Busy time of the user's calendars that count as busy (or of `names`), from the store,
    leaving out occurrences spanning exactly one of `exclude` (all-day trip markers).

    Warnings name each calendar never read yet or whose last read failed.
    """
    now = now or datetime.now(UTC)
    statuses = calendar_reads.statuses(db, user_id, now=now)
    if names:
        known = {s.name: s for s in statuses}
        missing = [n for n in names if n not in known]
        if missing:
            shown = ", ".join(sorted(known)) or "none"
            # A spec that looks like a file was meant as one: say that it is not there first.
            looks_like_file = "/" in missing[0] or missing[0].lower().endswith(".ics")
            file = "no such calendar file, and " if looks_like_file else ""
            raise NotFound(f"{missing[0]}: {file}no calendar of that name (yours: {shown})")
        chosen = [known[n] for n in names]
    else:
        chosen = [s for s in statuses if s.counts_as_busy]
    warnings: list[CalendarWarning] = []
    stale: list[str] = []
    limit = 2 * interval_of(config)
    zone: ZoneInfo | None = None  # the user's, read once a warning names a time
    for s in chosen:
        if s.last_synced_at is None:
            detail = s.last_error.removeprefix(f"{s.name}: ")
            why = f" ({detail})" if detail else ""
            warnings.append(
                CalendarWarning(s.name, f"not read yet{why}; its busy time is not counted")
            )
            continue
        if s.last_error:
            zone = zone or user_config(db, config, user_id).zone
            read = moment_text(s.last_synced_at.astimezone(zone))
            warnings.append(
                CalendarWarning.of(s.name, f"{s.last_error} (busy time as of {read} is used)")
            )
        if now - s.last_synced_at > limit:
            stale.append(s.name)
        # Events skipped when read: stored as lines, each about this calendar.
        warnings.extend(CalendarWarning.of(s.name, w) for w in s.warnings.splitlines() if w)
    if not statuses and not names:
        warnings.append(CalendarWarning("", "No calendar connected: every window counts as free"))
    outside = [
        s.name for s in chosen if s.last_synced_at is not None and not _holds(s.covers, interval)
    ]
    if outside:
        # The store keeps a horizon around the day of the sync; busy time outside is not known.
        # One line for all of them (about one calendar when only one is short).
        warnings.append(
            CalendarWarning.of(
                outside[0] if len(outside) == 1 else "",
                f"{', '.join(outside)}: busy time is kept only for the days around today, not "
                "all of the days asked for, so some of them are not counted (name a calendar "
                "file with --calendar to read it directly)",
            )
        )
    intervals = calendar_reads.busy(db, user_id, interval, [s.calendar_id for s in chosen])
    if exclude:
        markers = {(i.start, i.end) for i in exclude}
        intervals = [i for i in intervals if (i.start, i.end) not in markers]
    return StoredBusy(BusyReport(tuple(merge(intervals)), tuple(warnings)), tuple(stale))


def _holds(covers: Interval | None, interval: Interval) -> bool:
    return covers is not None and covers.start <= interval.start and interval.end <= covers.end
