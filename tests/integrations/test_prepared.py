"""Statements compiled once and run on the driver cursor read and write exactly what
SQLAlchemy's own execute does, and fail the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from integrations.storage import models
from integrations.storage.db import transaction
from integrations.storage.prepared import compiled, run, run_many
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


def test_many_rows_with_json_payloads_are_inserted_in_one_call(runtime: Runtime) -> None:
    owner = _owner(runtime)
    rows = [
        {
            "user_id": owner,
            "kind": "email_render",
            "payload": {"n": n, "when": NOW.isoformat()},
            "message_id": f"<{n}@example.org>",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": NOW + timedelta(minutes=n),
            "last_error": "",
            "created_at": NOW,
        }
        for n in range(3)
    ]
    with transaction(runtime.sessions) as session:
        conn = session.connection()
        run_many(conn, compiled(conn, "test.outbox", lambda: insert(OUTBOX), sorted(rows[0])), rows)
    with transaction(runtime.sessions) as session:
        stored = session.execute(
            select(OUTBOX.c.payload, OUTBOX.c.next_attempt_at).order_by(OUTBOX.c.id)
        ).all()
    assert [tuple(r) for r in stored] == [
        ({"n": n, "when": NOW.isoformat()}, NOW + timedelta(minutes=n)) for n in range(3)
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
