"""DB-API plumbing for hot paths: compiled statements, a per-thread SQLite reader, writes."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from integrations.storage.db import is_sqlite
from integrations.storage.types import UTCDateTime
from web.composition import Runtime

_Compiled = tuple[str, tuple[str, ...] | None, dict[str, Any]]


@lru_cache(maxsize=32)
def _compiled(dialect: Any, stmt: Any) -> _Compiled:
    """A prebuilt statement compiled once per dialect: SQL text, bind parameter order (None
    for drivers that take named parameters) and the values fixed in the statement (LIMIT)."""
    c = stmt.compile(dialect=dialect)
    order = tuple(c.positiontup) if c.positional and c.positiontup is not None else None
    return c.string, order, dict(c.params)


def _fetch(cursor: Any, compiled: _Compiled, **params: Any) -> list[Any]:
    sql, order, fixed = compiled
    values = {**fixed, **params}
    cursor.execute(sql, tuple(values[n] for n in order) if order is not None else values)
    return list(cursor.fetchall())


_readers = threading.local()


def _sqlite_reader(engine: Any) -> Any:
    """This thread's own connection to a SQLite file, kept for single-statement reads.

    It runs in autocommit mode (see db._tune_sqlite), so no transaction or snapshot outlives a
    statement; keeping it spares the pool's check-out and reset on every page view. Dropped
    with the engine, and never shared across a fork.
    """
    pid = os.getpid()
    if getattr(_readers, "pid", None) != pid:
        _readers.pid = pid
        _readers.by_engine = weakref.WeakKeyDictionary()
    conn = _readers.by_engine.get(engine)
    if conn is None:
        fairy = engine.raw_connection()
        fairy.detach()  # ours from now on: the pool forgets it
        conn = fairy.dbapi_connection
        _readers.by_engine[engine] = conn
    return conn


@contextmanager
def _driver_cursor(runtime: Runtime) -> Iterator[Any]:
    """A DB-API cursor, for hot reads that are one statement each: no ORM, no SQLAlchemy
    result processing and no transaction of our own around them."""
    engine = runtime.engine
    if is_sqlite(engine) and (engine.url.database or "") not in ("", ":memory:"):
        cursor = _sqlite_reader(engine).cursor()
        try:
            yield cursor
        finally:
            cursor.close()
        return
    raw = engine.raw_connection()
    # PostgreSQL: one statement is one snapshot, so no transaction around it: no BEGIN and
    # ROLLBACK round trips. (An SQLite database in memory keeps the pool's handling.)
    server = not is_sqlite(engine)
    dbapi: Any = raw.dbapi_connection
    if server:
        dbapi.autocommit = True
    try:
        cursor = raw.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    finally:
        if server and not dbapi.closed:
            dbapi.autocommit = False  # as the pool hands connections out
        raw.close()  # back to the pool (which rolls back whatever the driver began)


def _utc(value: Any) -> datetime:
    """A UTCDateTime column read through the driver directly: SQLite hands back the stored
    text, PostgreSQL an aware datetime; both become aware UTC, as the column type does."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class _DriverSql:
    """A Core statement compiled once for one dialect, to run on the driver's own cursor."""

    sql: str
    fixed: dict[str, Any]  # the statement's own values, already processed
    # SQLAlchemy's bind processors for the typed parameters (UTC datetimes, JSON), applied as
    # its own execution would: what is stored is exactly what the ORM and Core store.
    processors: dict[str, Callable[[Any], Any]]
    pick: Callable[[dict[str, Any]], Any] | None  # positional drivers: the values in order

    def params(self, values: dict[str, Any]) -> Any:
        merged = self.fixed.copy()
        processors = self.processors
        for name, value in values.items():
            process = processors.get(name)
            merged[name] = value if process is None else process(value)
        return merged if self.pick is None else self.pick(merged)


@lru_cache(maxsize=64)
def _driver_sql(dialect: Any, stmt: Any) -> _DriverSql:
    c = stmt.compile(dialect=dialect)
    processors: dict[str, Callable[[Any], Any]] = {}
    for bind, name in c.bind_names.items():  # names as in positiontup and c.params
        if isinstance(bind.type, UTCDateTime):
            processors[name] = _stored_time(dialect)
            continue
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    fixed = {
        name: value if value is None or name not in processors else processors[name](value)
        for name, value in c.params.items()
    }
    pick: Callable[[dict[str, Any]], Any] | None = None
    if c.positional and c.positiontup is not None:
        order = tuple(c.positiontup)
        pick = itemgetter(*order) if len(order) > 1 else lambda d: tuple(d[n] for n in order)
    return _DriverSql(c.string, fixed, processors, pick)


@lru_cache(maxsize=8)
def _stored_time(dialect: Any) -> Callable[[Any], Any]:
    """UTCDateTime's bind processing for `dialect`: an aware datetime as the column stores it
    (SQLite: text, which sorts like the instants; PostgreSQL: an aware UTC datetime). On
    SQLite, `isoformat` does what SQLAlchemy's formatting does, faster; it is used only when
    both give the same text for a set of samples."""
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return lambda value: None if value is None else _check_aware(value).astimezone(UTC)
    if dialect.name != "sqlite":
        return process

    @lru_cache(maxsize=256)  # an accept stores `now` six times, and its start and end twice
    def text(value: Any) -> Any:
        if value is None:
            return None
        utc = _check_aware(value).astimezone(UTC).replace(tzinfo=None)
        return utc.isoformat(" ", "microseconds")

    samples = (
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 59, 59, 999999, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(999, 12, 31, 23, 0, 0, 5, tzinfo=timezone(timedelta(hours=-5))),
    )
    return text if all(text(v) == process(v) for v in samples) else process


def _check_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing to store naive datetime {value.isoformat()}")
    return value


class _Tx:
    """The accept transaction's cursor and dialect: prebuilt statements in, plain rows out."""

    def __init__(self, cursor: Any, dialect: Any) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def run(self, stmt: Any, **params: Any) -> Any:
        prepared = _driver_sql(self.dialect, stmt)
        self.cursor.execute(prepared.sql, prepared.params(params))
        return self.cursor

    def run_many(self, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
        prepared = _driver_sql(self.dialect, stmt)
        self.cursor.executemany(prepared.sql, [prepared.params(r) for r in rows])


@contextmanager
def _write_transaction(runtime: Runtime) -> Iterator[_Tx]:
    """One write transaction on the driver's connection: committed when the block ends,
    rolled back on any error. SQLite: BEGIN IMMEDIATE takes the database's write lock up front
    (the connection is in autocommit mode, so BEGIN and COMMIT are ours); PostgreSQL: the
    driver begins, and the statements lock rows with FOR UPDATE."""
    engine = runtime.engine
    sqlite = is_sqlite(engine)
    fairy = None
    if sqlite and (engine.url.database or "") not in ("", ":memory:"):
        dbapi = _sqlite_reader(engine)  # this thread's connection, never inside a transaction
    else:
        fairy = engine.raw_connection()
        dbapi = fairy.dbapi_connection
    try:
        cursor = dbapi.cursor()
        try:
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            yield _Tx(cursor, engine.dialect)
            dbapi.commit()
        except BaseException:
            dbapi.rollback()
            raise
        finally:
            cursor.close()
    finally:
        if fairy is not None:
            fairy.close()  # back to the pool
