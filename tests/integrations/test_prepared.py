"""Statements compiled once and run on the driver cursor read and write exactly what
SQLAlchemy's own execute does, and fail the same way."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import bindparam, insert, literal_column, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from integrations.storage import db, models
from integrations.storage.db import transaction
from integrations.storage.outbox import NewJob, enqueue_all
from integrations.storage.prepared import compiled, run
from web.composition import Runtime

NOW = datetime(2026, 3, 16, 7, 30, 15, 123456, tzinfo=UTC)
USERS = models.User.__table__
OUTBOX = models.OutboxMessage.__table__


def _owner(runtime: Runtime) -> int:
    return runtime.owner_id(create=True)


def test_rows_read_through_prepared_equal_those_of_execute(runtime: Runtime) -> None:
    owner = _owner(runtime)
    query = select(USERS.c.id, USERS.c.email, USERS.c.settings, USERS.c.created_at).where(
        USERS.c.id == bindparam("owner")
    )
    with transaction(runtime.sessions) as session:
        conn = session.connection()
        conn.execute(
            update(USERS)
            .where(USERS.c.id == owner)
            .values(settings={"a": [1, "ü"]}, created_at=NOW)
        )
        expected = conn.execute(query, {"owner": owner}).one()
        (row,) = run(conn, compiled(conn, "test.user", lambda: query), {"owner": owner})
    assert tuple(row) == tuple(expected)
    assert row.settings == {"a": [1, "ü"]}
    assert row.created_at == NOW and row.created_at.tzinfo is not None


def test_literal_values_written_in_the_statement_are_bound(runtime: Runtime) -> None:
    owner = _owner(runtime)
    rename = (
        update(USERS)
        .where(USERS.c.id == bindparam("owner"), USERS.c.name != "nobody")
        .values(name="Renamed", created_at=bindparam("at"))
    )
    with transaction(runtime.sessions) as session:
        conn = session.connection()
        run(conn, compiled(conn, "test.rename", lambda: rename), {"owner": owner, "at": NOW})
    with transaction(runtime.sessions) as session:
        user = session.get(models.User, owner)
        assert user is not None and user.name == "Renamed" and user.created_at == NOW


def test_queued_jobs_with_json_payloads_are_inserted_in_one_statement(runtime: Runtime) -> None:
    owner = _owner(runtime)
    jobs = [
        NewJob("email_render", {"n": n, "when": NOW.isoformat(), "name": "Zoë"}, f"<{n}@x.org>")
        for n in range(3)
    ]
    with transaction(runtime.sessions) as session:
        enqueue_all(session, user_id=owner, jobs=jobs[:1], now=NOW)
        enqueue_all(session, user_id=owner, jobs=jobs, now=NOW + timedelta(minutes=1))
    with transaction(runtime.sessions) as session:
        stored = session.execute(
            select(OUTBOX.c.payload, OUTBOX.c.message_id, OUTBOX.c.next_attempt_at).order_by(
                OUTBOX.c.id
            )
        ).all()
    later = NOW + timedelta(minutes=1)
    assert [tuple(r) for r in stored] == [
        (jobs[0].payload, "<0@x.org>", NOW),
        *((job.payload, job.message_id, later) for job in jobs),
    ]


def test_a_unique_index_refusal_is_sqlalchemys_integrity_error(runtime: Runtime) -> None:
    owner = _owner(runtime)
    again = insert(USERS)
    with transaction(runtime.sessions) as session:
        email = session.get(models.User, owner).email  # type: ignore[union-attr]
    row = {
        "email": email,
        "name": "Twin",
        "password_hash": "",
        "timezone": "UTC",
        "settings": {},
        "setup_step": 0,
        "created_at": NOW,
        "role": "user",
        "disabled": False,
        "message_template": "",
        "signature": "",
    }
    with pytest.raises(IntegrityError), transaction(runtime.sessions) as session:
        conn = session.connection()
        run(conn, compiled(conn, "test.twin", lambda: again, sorted(row)), row)


def test_an_insert_that_leaves_out_a_python_default_is_refused_before_it_runs(
    runtime: Runtime,
) -> None:
    with transaction(runtime.sessions) as session:
        conn = session.connection()
        with pytest.raises(ValueError, match="password_hash"):
            compiled(conn, "test.partial", lambda: insert(USERS), ["created_at", "email", "name"])


def test_an_expanding_in_list_is_refused_before_it_runs(runtime: Runtime) -> None:
    listed = select(USERS.c.id).where(USERS.c.id.in_(bindparam("ids", expanding=True)))
    with transaction(runtime.sessions) as session:
        conn = session.connection()
        with pytest.raises(ValueError, match="expanding"):
            compiled(conn, "test.listed", lambda: listed)


@pytest.mark.postgres
def test_a_connection_the_server_closed_is_replaced_not_reused(postgres_url: str) -> None:
    """A statement on a connection the server ended fails once and invalidates it; the next
    unit of work gets a fresh connection, and one idle past PING_AFTER_IDLE is pinged first."""
    engine = db.make_engine(postgres_url)
    query = select(literal_column("pg_backend_pid()").label("pid"))

    def backend() -> int:
        with db.snapshot(engine) as conn:
            (row,) = run(conn, compiled(conn, "test.pid", lambda: query), {})
            return int(row.pid)

    def end_backend(pid: int) -> None:
        with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    first = backend()
    end_backend(first)
    with pytest.raises(DBAPIError) as failed:
        backend()  # used again at once: not pinged, so the statement finds the server gone
    assert failed.value.connection_invalidated
    second = backend()
    assert second != first
    end_backend(second)
    time.sleep(db.PING_AFTER_IDLE + 0.2)
    assert backend() not in (first, second)  # the idle one was pinged and replaced unseen
    engine.dispose()
