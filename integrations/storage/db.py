"""Engines, sessions and migrations. SQLite gets WAL and foreign keys; PostgreSQL works by URL."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import Connection, Engine, Result, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

from integrations.config import ConfigError
from integrations.storage.dbapi import BUSY_TIMEOUT as BUSY_TIMEOUT  # re-exported

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


_URL_HINT = "use sqlite:///PATH or postgresql://USER@HOST/NAME"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite files get WAL, foreign keys and a busy timeout.

    A URL that names no known database or driver is a ConfigError worded for the user.
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database URL {url!r} is not a URL ({_URL_HINT})") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            kwargs.setdefault("connect_args", {"timeout": BUSY_TIMEOUT, "check_same_thread": False})
            engine = create_engine(url, **kwargs)
            _tune_sqlite(engine)
            return engine
        engine = create_engine(url, **kwargs)
        _ping_when_idle(engine)
        return engine
    except NoSuchModuleError:
        raise ConfigError(
            f"database URL {shown!r} names an unknown database {parsed.drivername!r} ({_URL_HINT})"
        ) from None
    except ImportError as exc:
        raise ConfigError(
            f"database URL {shown!r} needs the Python package {exc.name!r}, which is not "
            "installed (for PostgreSQL: pip install 'meetagain[postgres]')"
        ) from None


# A pooled server connection idle longer than this is pinged before use (the server may have
# restarted or timed it out meanwhile). One in steady use is not: SQLAlchemy's pool_pre_ping
# would add a round trip to every unit of work, two to each accept. A statement that finds
# the server gone anyway invalidates its connection (SQLAlchemy does so on `execute`,
# `prepared.run` likewise), so the next unit of work gets a fresh one.
PING_AFTER_IDLE = 1.0  # seconds


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            # The pool drops this connection and checks out another (SQLAlchemy's contract).
            raise DisconnectionError("the database closed an idle connection")


def _tune_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves (the
    # documented SQLAlchemy recipe) so that every transaction begins IMMEDIATE: in WAL mode a
    # transaction that reads and then writes cannot wait for the write lock (SQLite answers
    # "database is locked" at once, whatever the busy timeout, when another writer committed
    # since its read), while one that takes the lock at BEGIN simply waits its turn. Known
    # read-only units of work opt out with the execution option sqlite_begin="BEGIN".
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # SQLite's own checkpoint runs inside a commit, so within the writer's turn: every
        # other writer would wait on its fsyncs. Writers checkpoint after their turn instead
        # (`_checkpoint_now_and_then`); this one is only the backstop for a long write.
        cursor.execute(f"PRAGMA wal_autocheckpoint = {_AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT * 1000}")
        # No memory map (SQLite's default, mmap_size 0): with several processes (gunicorn
        # workers) every commit by one empties the others' page caches, and the first
        # statement after that cost twice as much with the file mapped as with read() calls
        # (about 64 against 31 µs for the accept's two reads; the accept's CPU ~6% more).
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "BEGIN IMMEDIATE")
        # Straight to the driver: BEGIN returns nothing, and every unit of work sends one. Its
        # errors (a write lock not had within the busy timeout) are SQLAlchemy's, as usual.
        try:
            conn.connection.driver_connection.execute(mode)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(mode, (), exc, sqlite3.Error) from exc


def rows_affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched. (Session.execute types its result as the
    base Result, which has no rowcount; a data-changing statement's is a CursorResult.)"""
    return cast("CursorResult[Any]", result).rowcount


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


_writing = threading.local()  # the SQLite engines this thread holds a write transaction on


@contextmanager
def transaction(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error.

    On SQLite it takes the write lock at BEGIN (waiting for it up to BUSY_TIMEOUT), so two
    writers serialise instead of one failing late. Writers to a SQLite file first queue on an
    OS file lock (`_queued_writer`): SQLite's busy handler polls with growing sleeps, so under
    load a waiting writer would sleep far longer than the transaction it waits for (the
    invite benchmark's accepts: a p50 of 32 ms for 2.5 ms of work without it).
    `read_only=True` (for a unit that never writes) begins a plain snapshot instead, which
    never waits. PostgreSQL callers lock rows
    with SELECT ... FOR UPDATE where a read decides a write.
    """
    bind = factory.kw.get("bind")
    with _writer_turn(bind, read_only=read_only):
        session = factory()
        if read_only and bind is not None and is_sqlite(bind):
            session.connection(execution_options={"sqlite_begin": "BEGIN"})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """`transaction` for the stores that run Core statements (the accept's): the same unit of
    work and locking, on a plain Connection, without an ORM session to set up and tear down."""
    with _writer_turn(engine, read_only=False), engine.begin() as conn:
        yield conn


@contextmanager
def _writer_turn(bind: Any, *, read_only: bool) -> Iterator[None]:
    """On a SQLite file, the writer's turn (see `transaction`); elsewhere nothing to wait for."""
    if read_only or bind is None or not is_sqlite(bind):
        yield
        return
    held: set[int] = _writing.__dict__.setdefault("engines", set())
    if id(bind) in held:
        # Another connection of this thread holds the write lock: this one would wait
        # for it until the busy timeout. Say so at once (a bug in the caller).
        raise RuntimeError("a write transaction inside another one on the same thread")
    held.add(id(bind))
    try:
        queue = _queued_writer(bind)
    except BaseException:
        held.discard(id(bind))
        raise
    try:
        yield
    finally:
        held.discard(id(bind))
        if queue >= 0:
            fcntl.flock(queue, fcntl.LOCK_UN)
            os.close(queue)
    if queue >= 0:
        _checkpoint_now_and_then(bind)


# Every this many write turns of a process, the writer checkpoints the WAL once its turn is
# over (PASSIVE: it waits for nobody, and writers go on meanwhile). A turn writes a few pages,
# so the WAL stays far below SQLite's own threshold, which then hardly ever fires in a turn.
_CHECKPOINT_EVERY = 64
_AUTOCHECKPOINT_PAGES = 10000
_turns: dict[int, int] = {}


def _checkpoint_now_and_then(engine: Engine) -> None:
    count = _turns.get(id(engine), 0) + 1
    _turns[id(engine)] = count
    if count % _CHECKPOINT_EVERY:
        return
    with engine.connect() as conn:
        # Straight to the driver (in autocommit mode): no BEGIN IMMEDIATE, no write lock.
        conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]


def _queued_writer(engine: Engine) -> int:
    """Wait for this SQLite file's writer lock (flock on FILE.write-lock) at most BUSY_TIMEOUT
    seconds, as SQLite's own busy timeout would; its descriptor, or -1 for a database in
    memory. Past the timeout: SQLite's "database is locked" (a 503 "try again", one line on
    the command line), never a wait without end behind a writer that does not finish."""
    database = engine.url.database or ""
    if database in ("", ":memory:"):
        return -1
    fd = os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _flock_within(fd, BUSY_TIMEOUT)
    except BaseException:
        os.close(fd)
        raise
    return fd


# Seconds between tries for a held writer lock (flock itself cannot wait with a timeout).
# Writers hold it for a millisecond or so: the first tries come quickly, so a waiter takes
# its turn soon after it is free (a fixed 0.5 ms step left a core idle for a quarter of a
# millisecond per wait under load); later ones no further apart than that 0.5 ms, so one
# that has waited long is not outrun by every newcomer.
_LOCK_STEP = 0.0001
_LOCK_STEP_MAX = 0.0005


def _flock_within(fd: int, seconds: float) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    deadline = time.monotonic() + seconds
    step = _LOCK_STEP
    while True:
        time.sleep(step)
        step = min(step * 1.25, _LOCK_STEP_MAX)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise OperationalError(
                    "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
                ) from None


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only unit of work without an ORM session, for the hot reads of the stores'
    prepared statements (the invite page, the calendars an accept asks). Each statement sees
    what was committed when it began, on SQLite as on PostgreSQL (READ COMMITTED there), and
    none opens a transaction to BEGIN and COMMIT: two round trips (on SQLite two statements)
    fewer per read, with the same answers. Writes go through `transaction` or `writing`."""
    with engine.connect() as conn:
        if not is_sqlite(engine):
            conn.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite's driver connection is in autocommit mode (see _tune_sqlite): the statements
        # `prepared.run` sends on it begin no transaction either.
        yield conn


def alembic_config(url: str) -> Any:
    """An Alembic Config pointing at our migrations and the given database."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run migrations up to `revision` (default: the newest); a new SQLite file's folder is
    made here, the one place a database is meant to be created."""
    from alembic import command

    file = _sqlite_file(url)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def _sqlite_file(url: str | Any) -> Path | None:
    """The file of a SQLite URL (None for another database or one in memory)."""
    parsed = make_url(normalise_url(url)) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _missing_file(engine: Engine) -> bool:
    """A SQLite database whose file is not there: nothing is set up, and a read must not
    create it (SQLite would, with any folders missing on the way refused)."""
    file = _sqlite_file(engine.url)
    return file is not None and not file.exists()


def current_revision(engine: Engine) -> str | None:
    """The schema's revision (Alembic's version table), or None before the first migration.

    Read with one query rather than through Alembic, which every command would otherwise import.
    """
    from sqlalchemy import text

    if _missing_file(engine):
        return None
    with engine.connect() as conn:
        # A read: on SQLite it must not wait for (or, busy, be mistaken for a missing table by)
        # another process's write lock.
        conn.execution_options(sqlite_begin="BEGIN")
        if not conn.dialect.has_table(conn, "alembic_version"):
            return None  # nothing migrated yet
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    return str(rows[0][0]) if rows else None


def schema_state(engine: Engine) -> Literal["empty", "old", "ready"]:
    """ "empty" (nothing set up), "old" (set up before the calendar store: upgrade it) or
    "ready", found with a query or two rather than by loading Alembic."""
    if _missing_file(engine):
        return "empty"
    with engine.connect() as conn:
        conn.execution_options(sqlite_begin="BEGIN")  # a read (see current_revision)
        if conn.dialect.has_table(conn, "calendar_sync"):
            return "ready"
        return "old" if conn.dialect.has_table(conn, "users") else "empty"


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
