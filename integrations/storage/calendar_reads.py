"""The calendar store's reads: plain SQL statements over a DB-API connection (`dbapi.Db`).

The calendar store is one set of tables (`calendars`, `calendar_sync`, `calendar_occurrences`)
with one writer, the sync (`calendar_store`, through SQLAlchemy Core in the sync's units of
work). Its reads live here, once, as plain statements, so that they run the same way inside a
SQLAlchemy unit of work (`Db.of_session`: `calendar_store.busy` and `.statuses` call these) and
in a process that never imports SQLAlchemy: `meetagain slots` and `busy` read the store over
`sqlite3` (or the engine's raw connection for PostgreSQL) in about the time the warm busy cache
takes, rather than paying ~0.3 s for SQLAlchemy and the ORM models before the first row.

Statements use `?` parameters (`Db` rewrites them for psycopg) and only portable SQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.storage.dbapi import Db
from scheduler.model import Interval


@dataclass(frozen=True)
class CalendarStatus:
    """What a page shows about one calendar's sync."""

    calendar_id: int
    name: str
    kind: str
    origin: str
    counts_as_busy: bool
    last_synced_at: datetime | None
    last_error: str
    warnings: str
    queued: bool  # a sync is due now ("Read now", or never synced)
    running: bool  # a worker holds it
    covers: Interval | None = None  # the range the stored occurrences cover


_STATUSES = """
SELECT c.id, c.name, c.kind, c.origin, c.counts_as_busy, s.last_synced_at, s.last_error,
       s.warnings, s.next_sync_at, s.claimed_until, s.covers_start, s.covers_end
FROM calendars c LEFT OUTER JOIN calendar_sync s ON s.calendar_id = c.id
WHERE c.user_id = ?
ORDER BY c.kind, c.name
"""


def statuses(db: Db, user_id: int, *, now: datetime) -> list[CalendarStatus]:
    """Every calendar of the user with its sync state, ordered by kind and name."""
    result = []
    for row in db.rows(_STATUSES, (user_id,)):
        (cid, name, kind, origin, busy, synced, error, warnings, next_at, claimed) = row[:10]
        claimed_until, next_sync_at = db.time(claimed), db.time(next_at)
        covers_start, covers_end = db.time(row[10]), db.time(row[11])
        running = claimed_until is not None and claimed_until > now
        queued = next_sync_at is None or (next_sync_at <= now and not running)
        result.append(
            CalendarStatus(
                cid,
                name,
                kind,
                origin,
                bool(busy),
                db.time(synced),
                error or "",
                warnings or "",
                queued,
                running,
                Interval(covers_start, covers_end)
                if covers_start is not None and covers_end is not None
                else None,
            )
        )
    return result


def busy(db: Db, user_id: int, interval: Interval, calendar_ids: Sequence[int]) -> list[Interval]:
    """Busy occurrences of the given calendars overlapping `interval` (unmerged)."""
    if not calendar_ids:
        return []
    marks = ", ".join("?" for _ in calendar_ids)
    sql = (
        'SELECT start, "end" FROM calendar_occurrences WHERE user_id = ? '
        f'AND calendar_id IN ({marks}) AND busy = ? AND start < ? AND "end" > ?'
    )
    rows = db.rows(sql, (user_id, *calendar_ids, True, interval.end, interval.start))
    time = db.time
    return [Interval(time(start), time(end)) for start, end in rows]  # type: ignore[arg-type]


def calendars_due(db: Db, user_id: int, *, now: datetime) -> bool:
    """Whether a calendar of the user has no sync state or is due (what a CLI read syncs first),
    or some calendar of anyone has no sync state yet."""
    sql = (
        "SELECT c.user_id, s.next_sync_at FROM calendars c "
        "LEFT OUTER JOIN calendar_sync s ON s.calendar_id = c.id "
        "WHERE c.user_id = ? OR s.calendar_id IS NULL"
    )
    for owner, next_at in db.rows(sql, (user_id,)):
        due = db.time(next_at)
        if due is None or (owner == user_id and due <= now):
            return True
    return False


@dataclass(frozen=True)
class ConfigRow:
    """A calendar row copied from config.toml's [[calendars]], as the refresh compares it."""

    name: str
    kind: str
    location: str
    username: str
    external_id: str
    has_secret: bool
    last_error: str


def config_rows(db: Db, user_id: int) -> list[ConfigRow]:
    """The user's calendars that come from config.toml."""
    sql = (
        "SELECT name, kind, location, username, external_id, secret_encrypted, last_error "
        "FROM calendars WHERE user_id = ? AND origin = ? ORDER BY name"
    )
    return [
        ConfigRow(name, kind, location or "", username or "", ext or "", secret is not None, err)
        for name, kind, location, username, ext, secret, err in db.rows(sql, (user_id, "config"))
    ]


def app_calendar_names(db: Db, user_id: int) -> set[str]:
    """Names of the user's calendars added in the app (not from config.toml)."""
    sql = "SELECT name FROM calendars WHERE user_id = ? AND origin <> ?"
    return {name for (name,) in db.rows(sql, (user_id, "config"))}


# --- the owner whose calendars are read ----------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """A user as the calendar reads need them: id, zone and per-user settings."""

    id: int
    email: str
    timezone: str
    settings: dict[str, Any]


def owners(db: Db, emails: Sequence[str]) -> list[Owner]:
    """The users with one of these (lowercased) addresses, by id."""
    if not emails:
        return []
    marks = ", ".join("?" for _ in emails)
    sql = f"SELECT id, email, timezone, settings FROM users WHERE email IN ({marks}) ORDER BY id"
    return [_owner(row) for row in db.rows(sql, tuple(emails))]


def config_owner(db: Db, emails: Sequence[str]) -> Owner | None:
    """The user config.toml's [owner] emails (lowercased) name, the first added should several
    match; else the only user there is (the web setup may have given the owner another
    address); else None. The one rule of who "the owner" is for the CLI and config calendars."""
    found = owners(db, emails)
    if found:
        return found[0]
    rows = db.rows("SELECT id, email, timezone, settings FROM users ORDER BY id LIMIT 2")
    return _owner(rows[0]) if len(rows) == 1 else None


def owner(db: Db, user_id: int) -> Owner | None:
    rows = db.rows("SELECT id, email, timezone, settings FROM users WHERE id = ?", (user_id,))
    return _owner(rows[0]) if rows else None


def _owner(row: tuple[Any, ...]) -> Owner:
    uid, email, zone, settings = row
    if isinstance(settings, str | bytes):  # SQLite keeps JSON as text
        settings = json.loads(settings or "null")
    return Owner(uid, email, zone or "", settings or {})
