"""Parsed busy intervals cached per calendar source in the `busy_cache` table.

An entry holds the intervals of one source over a covered range plus a validator: for files
"stat:MTIME_NS:SIZE|sha256:HEX" (either part matches, so an untouched file is not even read and a
touched-but-identical one is not re-parsed), for feeds whatever the feed chose (ETag or
Last-Modified). The payload is compact: little-endian int64 epoch seconds, then JSON warnings.

The cache is optional: before `meetagain init` there is no database and `open_cache` returns None.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import struct
from array import array
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from integrations.storage.dbapi import Db, aware_utc, sqlite_time
from integrations.storage.dbapi import sqlite_file as sqlite_file  # re-exported
from scheduler.model import BusyReport, CalendarWarning, Interval

_MAGIC = b"MAB1"
# Entries not refreshed for this long are dropped on the next write, so calendars no longer
# used do not pile up; an unchanged calendar just gets parsed once more.
STALE_AFTER = timedelta(days=90)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def source_key(identity: str, zone: ZoneInfo | str, me: Sequence[str] = ()) -> str:
    """The cache key of a source as read for one zone and one set of owner addresses."""
    who = ",".join(sorted(m.strip().lower() for m in me))
    raw = f"{identity}\n{zone}\n{who}".encode()
    return hashlib.sha256(raw).hexdigest()


def _epoch(value: datetime) -> int:
    return int((value - _EPOCH).total_seconds())


def _from_epoch(value: int) -> datetime:
    return _EPOCH + timedelta(seconds=value)


def encode_payload(
    intervals: Sequence[Interval], warnings: Sequence[CalendarWarning] = ()
) -> bytes:
    """Pack intervals (whole seconds, UTC) and warnings into bytes."""
    flat = array("q")
    for interval in intervals:
        # Whole seconds, rounded outwards: a cached busy interval never shrinks.
        flat.append(math.floor((interval.start - _EPOCH).total_seconds()))
        flat.append(math.ceil((interval.end - _EPOCH).total_seconds()))
    if flat.itemsize != 8:  # pragma: no cover - every supported platform has 8-byte long long
        raise RuntimeError("array('q') is not 64-bit here")
    body = flat.tobytes() if struct.pack("=h", 1) == struct.pack("<h", 1) else _swapped(flat)
    notes = json.dumps([[w.calendar, w.problem, w.said] for w in warnings]).encode()
    return _MAGIC + struct.pack("<I", len(intervals)) + body + notes


def _swapped(flat: array[int]) -> bytes:  # pragma: no cover - big-endian hosts only
    copy = array("q", flat)
    copy.byteswap()
    return copy.tobytes()


def decode_payload(payload: bytes) -> tuple[list[tuple[int, int]], list[CalendarWarning]]:
    """The (start, end) epoch pairs and warnings packed by `encode_payload`."""
    if payload[:4] != _MAGIC:
        raise ValueError("not a busy cache payload")
    (count,) = struct.unpack_from("<I", payload, 4)
    flat = array("q")
    flat.frombytes(payload[8 : 8 + 16 * count])
    if struct.pack("=h", 1) != struct.pack("<h", 1):  # pragma: no cover
        flat.byteswap()
    notes = json.loads(payload[8 + 16 * count :].decode() or "[]")
    # A line stored before warnings had fields is shown as it was, about no one calendar.
    warnings = [
        CalendarWarning(*n) if isinstance(n, list) else CalendarWarning("", n) for n in notes
    ]
    return list(zip(flat[0::2], flat[1::2], strict=True)), warnings


@dataclass(frozen=True)
class CacheEntry:
    """What is stored for one source, without its payload decoded."""

    validator: str
    etag: str
    last_modified: str
    covers: Interval
    fetched_at: datetime


@dataclass(frozen=True)
class _Row:
    validator: str
    etag: str
    last_modified: str
    covers_start: datetime
    covers_end: datetime
    fetched_at: datetime
    payload: bytes


_COLUMNS = "validator, etag, last_modified, covers_start, covers_end, fetched_at, payload"


class BusyCache:
    """Busy intervals per source, valid while the source's validator holds.

    Give it an SQLAlchemy `engine`, or for SQLite just the file (`sqlite_path`): the warm path
    of `meetagain slots` then needs neither SQLAlchemy nor the ICS libraries.
    """

    def __init__(
        self,
        engine: Any = None,
        *,
        sqlite_path: str | os.PathLike[str] | None = None,
        user_id: int | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if (engine is None) == (sqlite_path is None):
            raise ValueError("BusyCache needs exactly one of engine or sqlite_path")
        self.engine = engine
        self.sqlite_path = None if sqlite_path is None else os.fspath(sqlite_path)
        self.user_id = user_id
        self._now = now or (lambda: datetime.now(UTC))
        self.last_warnings: list[CalendarWarning] = []

    @staticmethod
    def covering(interval: Interval) -> Interval:
        """The range to parse and store when asked for `interval`: whole UTC days plus a week
        ahead, so that tomorrow's plan over the same calendars still hits."""
        start = interval.start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        end = interval.end.astimezone(UTC)
        end_day = end.replace(hour=0, minute=0, second=0, microsecond=0)
        if end_day < end:
            end_day += timedelta(days=1)
        return Interval(start, end_day + timedelta(days=7))

    # --- storage: sqlite3 for SQLite files, SQLAlchemy Core for everything else ---------------

    def _user_sql(self) -> tuple[str, tuple[Any, ...]]:
        if self.user_id is None:
            return "user_id IS NULL", ()
        return "user_id = ?", (self.user_id,)

    def _sqlite(self) -> sqlite3.Connection:
        assert self.sqlite_path is not None
        conn = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def _row(self, key: str) -> _Row | None:
        if self.sqlite_path is not None:
            user_sql, user_args = self._user_sql()
            with closing(self._sqlite()) as conn:
                found = conn.execute(
                    f"SELECT {_COLUMNS} FROM busy_cache WHERE source_key = ? AND {user_sql} "
                    "ORDER BY id DESC LIMIT 1",
                    (key, *user_args),
                ).fetchone()
            if found is None:
                return None
            v, etag, lm, c_start, c_end, fetched, payload = found
            return _Row(
                v,
                etag,
                lm,
                _from_sqlite(c_start),
                _from_sqlite(c_end),
                _from_sqlite(fetched),
                bytes(payload),
            )
        from sqlalchemy import select

        table = self._table()
        query = (
            select(
                table.c.validator,
                table.c.etag,
                table.c.last_modified,
                table.c.covers_start,
                table.c.covers_end,
                table.c.fetched_at,
                table.c.payload,
            )
            .where(self._where(table, key))
            .order_by(table.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return _Row(
            row.validator,
            row.etag,
            row.last_modified,
            aware_utc(row.covers_start),
            aware_utc(row.covers_end),
            aware_utc(row.fetched_at),
            bytes(row.payload),
        )

    def _table(self) -> Any:
        from integrations.storage.models import BusyCache as Model

        return Model.__table__

    def _where(self, table: Any, key: str) -> Any:
        user = (
            table.c.user_id.is_(None) if self.user_id is None else (table.c.user_id == self.user_id)
        )
        return (table.c.source_key == key) & user

    def _replace(self, key: str, values: dict[str, Any]) -> None:
        if self.sqlite_path is not None:
            user_sql, user_args = self._user_sql()
            row = dict(values)
            for name in ("covers_start", "covers_end", "fetched_at"):
                row[name] = _to_sqlite(row[name])
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            with closing(self._sqlite()) as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        f"DELETE FROM busy_cache WHERE (source_key = ? AND {user_sql}) "
                        "OR fetched_at < ?",
                        (key, *user_args, _to_sqlite(values["fetched_at"] - STALE_AFTER)),
                    )
                    conn.execute(
                        f"INSERT INTO busy_cache ({names}) VALUES ({marks})", tuple(row.values())
                    )
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            return
        from sqlalchemy import delete, insert

        table = self._table()
        stale = table.c.fetched_at < values["fetched_at"] - STALE_AFTER
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(self._where(table, key) | stale))
            conn.execute(insert(table).values(**values))

    def _set_validator(self, key: str, validator: str) -> None:
        if self.sqlite_path is not None:
            user_sql, user_args = self._user_sql()
            with closing(self._sqlite()) as conn:
                conn.execute(
                    f"UPDATE busy_cache SET validator = ? WHERE source_key = ? AND {user_sql}",
                    (validator, key, *user_args),
                )
            return
        from sqlalchemy import update

        table = self._table()
        with self.engine.begin() as conn:
            conn.execute(update(table).where(self._where(table, key)).values(validator=validator))

    # --- the API ------------------------------------------------------------------------------

    def peek(self, key: str) -> CacheEntry | None:
        """The stored validators and range for `key` (for a conditional GET), or None."""
        row = self._row(key)
        if row is None:
            return None
        return CacheEntry(
            validator=row.validator,
            etag=row.etag,
            last_modified=row.last_modified,
            covers=Interval(row.covers_start, row.covers_end),
            fetched_at=row.fetched_at,
        )

    def get_report(self, key: str, validator: str, interval: Interval) -> BusyReport | None:
        """Cached busy time within `interval` if `validator` still holds and the stored range
        covers `interval`; else None. A validator matches the stored one or one of its
        "|"-separated alternatives."""
        if not validator:
            return None
        row = self._row(key)
        if row is None or validator not in {row.validator, *row.validator.split("|")}:
            return None
        if row.covers_start > interval.start or row.covers_end < interval.end:
            return None
        try:
            pairs, warnings = decode_payload(row.payload)
        except (ValueError, TypeError, struct.error, UnicodeDecodeError, json.JSONDecodeError):
            return None  # an unreadable entry is a miss; the next put replaces it
        lo, hi = _epoch(interval.start), _epoch(interval.end)
        intervals = tuple(
            Interval(_from_epoch(s), _from_epoch(e)) for s, e in pairs if s < hi and lo < e
        )
        self.last_warnings = warnings
        return BusyReport(intervals, tuple(warnings))

    def get(self, key: str, validator: str, interval: Interval) -> list[Interval] | None:
        """Cached busy intervals within `interval`, or None on a miss (see get_report)."""
        report = self.get_report(key, validator, interval)
        return None if report is None else list(report.intervals)

    def put(
        self,
        key: str,
        validator: str,
        covers: Interval,
        intervals: Sequence[Interval],
        *,
        etag: str = "",
        last_modified: str = "",
        warnings: Sequence[CalendarWarning] = (),
    ) -> None:
        """Store the busy intervals of a source over `covers`, replacing what was there."""
        self._replace(
            key,
            {
                "user_id": self.user_id,
                "source_key": key,
                "validator": validator[:500],
                "etag": etag[:500],
                "last_modified": last_modified[:200],
                "covers_start": covers.start.astimezone(UTC),
                "covers_end": covers.end.astimezone(UTC),
                "payload": encode_payload(intervals, warnings),
                "fetched_at": self._now().astimezone(UTC),
            },
        )

    def revalidate(self, key: str, validator: str) -> None:
        """Record a new validator for an entry whose content is known to be unchanged."""
        self._set_validator(key, validator[:500])


def _to_sqlite(value: datetime) -> str:
    return sqlite_time(value)


def _from_sqlite(value: Any) -> datetime:
    parsed = Db.time(value)
    assert parsed is not None
    return parsed


def open_cache(source: Any, *, user_id: int | None = None) -> BusyCache | None:
    """A BusyCache on the database of a Runtime or Config, or None when there is no migrated
    database yet. A missing SQLite file is not created: `slots` and `busy` work before `init`.
    """
    if source is None:
        return None
    config = getattr(source, "config", source)
    try:
        url = config.database_url
        path = sqlite_file(url)
        if path is not None:
            if not os.path.isfile(path):
                return None
            with closing(sqlite3.connect(path, timeout=30)) as conn:
                found = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'busy_cache'"
                ).fetchone()
            return BusyCache(sqlite_path=path, user_id=user_id) if found else None
        from sqlalchemy import inspect

        engine = getattr(source, "engine", None)
        if engine is None:
            from integrations.storage.db import make_engine

            engine = make_engine(url)
        if not inspect(engine).has_table("busy_cache"):
            return None
    except Exception:  # no reachable database means no cache, never a failed command
        return None
    return BusyCache(engine, user_id=user_id)


@dataclass(frozen=True)
class StoredFeed:
    """A feed's cached busy time and the validators to send in a conditional GET."""

    report: BusyReport
    etag: str
    last_modified: str

    @property
    def intervals(self) -> tuple[Interval, ...]:
        return self.report.intervals

    @property
    def warnings(self) -> tuple[CalendarWarning, ...]:
        return self.report.warnings


class FeedStore:
    """The feed adapter's view of a BusyCache: get(key, interval) / put(key, interval, report)."""

    def __init__(self, cache: BusyCache, *, zone: ZoneInfo | str, me: Sequence[str] = ()) -> None:
        self.cache = cache
        self.zone = zone
        self.me = tuple(me)

    def _key(self, key: str) -> str:
        return source_key(key, self.zone, self.me)

    def get(self, key: str, interval: Interval) -> StoredFeed | None:
        """What was stored for the feed if it covers `interval`, else None."""
        full = self._key(key)
        entry = self.cache.peek(full)
        if entry is None or not (entry.etag or entry.last_modified):
            return None
        report = self.cache.get_report(full, entry.validator, interval)
        if report is None:
            return None
        return StoredFeed(report, entry.etag, entry.last_modified)

    def get_same_content(self, key: str, content: str, interval: Interval) -> BusyReport | None:
        """The stored busy time if it was parsed from bytes with this hash and covers `interval`."""
        return self.cache.get_report(self._key(key), content, interval) if content else None

    def put(
        self,
        key: str,
        interval: Interval,
        report: BusyReport,
        *,
        etag: str = "",
        last_modified: str = "",
        content: str = "",
        **_: str,
    ) -> None:
        """Remember the feed's busy time over `interval` with its validators and content hash."""
        parts = [f"etag:{etag}" if etag else "", f"lm:{last_modified}" if last_modified else ""]
        validator = "|".join(p for p in (*parts, content) if p) or "none"
        self.cache.put(
            self._key(key),
            validator,
            interval,
            list(report.intervals),
            etag=etag,
            last_modified=last_modified,
            warnings=report.warnings,
        )
