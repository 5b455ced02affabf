"""The units of work: `transaction` (an ORM session) and `writing` (a Core connection) commit
together or not at all, and on SQLite take the writer's turn the same way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from integrations.storage import models
from integrations.storage.db import transaction, writing
from web.composition import Runtime

USERS = models.User.__table__


def _name(runtime: Runtime, owner: int) -> str:
    with transaction(runtime.sessions, read_only=True) as session:
        return str(session.scalar(select(USERS.c.name).where(USERS.c.id == owner)))


def test_writing_commits_on_success_and_rolls_back_on_error(runtime: Runtime) -> None:
    owner = runtime.owner_id(create=True)
    with writing(runtime.engine) as conn:
        conn.execute(update(USERS).where(USERS.c.id == owner).values(name="Kept"))
    with pytest.raises(ValueError), writing(runtime.engine) as conn:
        conn.execute(update(USERS).where(USERS.c.id == owner).values(name="Lost"))
        raise ValueError("the booking failed half-way")
    assert _name(runtime, owner) == "Kept"


def test_a_write_inside_another_on_one_thread_is_refused_at_once_on_sqlite(
    sqlite_runtime: Runtime,
) -> None:
    """It would wait for its own thread's lock until the busy timeout: a bug, said at once."""
    owner = sqlite_runtime.owner_id(create=True)
    started = datetime.now(UTC)
    with transaction(sqlite_runtime.sessions) as session:
        session.execute(update(USERS).where(USERS.c.id == owner).values(name="Outer"))
        with pytest.raises(RuntimeError, match="inside another"), writing(sqlite_runtime.engine):
            pass
    with writing(sqlite_runtime.engine):
        with (
            pytest.raises(RuntimeError, match="inside another"),
            transaction(sqlite_runtime.sessions),
        ):
            pass
        # A read-only unit never waits for the writer, so it may run inside.
        with transaction(sqlite_runtime.sessions, read_only=True) as session:
            assert session.scalar(select(USERS.c.name).where(USERS.c.id == owner)) == "Outer"
    assert (datetime.now(UTC) - started).total_seconds() < 2
    # The refusals gave the turn back: the next writer is not refused.
    with writing(sqlite_runtime.engine) as conn:
        conn.execute(update(USERS).where(USERS.c.id == owner).values(name="After"))
    assert _name(sqlite_runtime, owner) == "After"
