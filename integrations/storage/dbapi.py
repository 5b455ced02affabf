"""A plain DB-API connection for the stores' reads that must not cost a SQLAlchemy import.

`meetagain slots` from the calendar store is a short process: importing SQLAlchemy and the ORM
models alone costs it several times the read. So the calendar store keeps its read statements as
plain SQL (`calendar_reads`), run over `Db`, a thin wrapper of one DB-API connection:

- in a SQLAlchemy unit of work, `Db.of_session(session)` is the session's own driver connection
  (same transaction), so the app, the worker and the CLI run the very same statements;
- for the embedded database (an SQLite file) the CLI opens one with `sqlite3` (`connect`);
  for other databases it takes the raw connection of the SQLAlchemy engine.

`Db` knows the two things that differ between drivers: how parameters are written (`?` in the
statements, `%s` for psycopg) and how times come back (SQLAlchemy stores aware UTC times on
SQLite as naive "YYYY-MM-DD HH:MM:SS.ffffff" text; PostgreSQL returns aware datetimes).
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

# Seconds a SQLite writer waits for another's write lock before giving up (then the error is
# a 503 "try again", never a lost save): writers hold it for milliseconds, never across I/O.
BUSY_TIMEOUT = 20

# SQLAlchemy's SQLite DateTime storage format (always with microseconds): text in this shape
# compares in time order, so range conditions work on it directly.


class Db:
    """One DB-API connection and its driver's spelling of parameters and times."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sqlite = isinstance(conn, sqlite3.Connection)
        module = sys.modules.get(type(conn).__module__.split(".")[0])
        # The driver's base error (DB-API 2.0): what a missing table or a lost server raises.
        self.Error: type[Exception] = sqlite3.Error if self.sqlite else module.Error  # type: ignore[union-attr]

    @classmethod
    def of_session(cls, session: Any) -> Db:
        """The driver connection of a SQLAlchemy session, inside its transaction."""
        return cls(session.connection().connection.driver_connection)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement written with `?` parameters; datetimes are bound as the
        database stores them."""
        bound = [self._bind(p) for p in params]
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, bound)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _bind(self, value: Any) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"refusing to compare with naive datetime {value.isoformat()}")
            return sqlite_time(value) if self.sqlite else value.astimezone(UTC)
        return value

    @staticmethod
    def time(value: Any) -> datetime | None:
        """A stored time as an aware UTC datetime (None stays None)."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            value = datetime.fromisoformat(str(value))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @contextmanager
    def snapshot(self) -> Iterator[Db]:
        """Several reads that see one state of the database (SQLite: one read transaction;
        other drivers begin one implicitly and it is rolled back here)."""
        if self.sqlite and not self.conn.in_transaction:
            self.conn.execute("BEGIN")
            try:
                yield self
            finally:
                self.conn.execute("COMMIT")
            return
        try:
            yield self
        finally:
            if not self.sqlite:
                self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def sqlite_time(value: datetime) -> str:
    """An aware time as SQLAlchemy stores it on SQLite (naive UTC text), so that statements
    run over sqlite3 and through SQLAlchemy read and compare what the other wrote."""
    # The first 26 characters of the UTC time's isoformat are the naive text ("+00:00"
    # follows): cheaper than datetime.replace(tzinfo=None), which costs more than the format.
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def sqlite_file(url: str) -> str | None:
    """The file of an SQLite URL ("sqlite:///path"), or None for other databases and memory."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+")[0] != "sqlite":
        return None
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return path


def connect_sqlite(path: str, timeout: float = BUSY_TIMEOUT) -> Db | None:
    """A reading connection to an existing SQLite file (autocommit; `Db.snapshot` groups reads),
    or None when there is no such file (nothing is created)."""
    if not os.path.isfile(path):
        return None
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return Db(conn)


def aware_utc(value: datetime) -> datetime:
    """A time read back raw (SQLite keeps naive UTC) or given by a caller: naive means UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
