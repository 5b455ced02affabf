"""The services' error hierarchy: which database errors are "unavailable, try again" (503 in
the app, one line and exit 2 on the command line) and which are real errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from web.errors import Unavailable, database_unavailable


def test_a_lock_not_had_in_time_and_a_lost_connection_are_unavailable() -> None:
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    lost = OperationalError("SELECT", {}, Exception("server closed the connection"))
    lost.connection_invalidated = True
    for exc, says in ((locked, "busy saving"), (lost, "lost its connection")):
        found = database_unavailable(exc)
        assert isinstance(found, Unavailable) and found.status == 503
        assert says in str(found)


def test_other_database_errors_are_not() -> None:
    missing = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: users"))
    taken = IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert database_unavailable(missing) is None
    assert database_unavailable(taken) is None
    assert database_unavailable(ValueError("x")) is None


def test_the_cli_says_a_locked_database_in_one_line_to_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A write waits BUSY_TIMEOUT for SQLite's lock; held longer, the command says so and
    exits 2 (run in this process, so the wait can be one second instead of twenty)."""
    from integrations.storage import db
    from web.cli import main

    monkeypatch.chdir(tmp_path)
    database = tmp_path / "meetagain.db"
    monkeypatch.setenv("MEETAGAIN_DATABASE_URL", f"sqlite:///{database}")
    with pytest.raises(SystemExit) as done:
        main(["init"])
    assert done.value.code == 0
    people = tmp_path / "people.csv"
    people.write_text("name,emails\nAna,ana@example.org\n", encoding="utf-8")
    monkeypatch.setattr(db, "BUSY_TIMEOUT", 1)
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(["contacts", "import", str(people)])
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert done.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: meetagain was busy saving something else and did not save this; run it again"
    ]
