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


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_postgresql_server_that_does_not_answer_is_a_503_on_every_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart or a failover while no pooled connection is left: a 503 to try again (with
    /healthz), not a 500 with a traceback in the log."""
    from tests.conftest import make_config
    from web.http.app import create_app
    from web.instance import create_secret, ensure_instance

    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    config = make_config(tmp_path, f"postgresql://nobody@127.0.0.1:{_closed_port()}/gone")
    create_secret(ensure_instance(config.instance_dir))
    client = create_app(config).test_client()
    for method, path in (("GET", "/login"), ("GET", "/"), ("GET", "/i/abc"), ("POST", "/i/abc")):
        form = {"action": "accept", "start": "2027-01-04T12:00:00+00:00"}
        response = client.open(path, method=method, data=form)
        assert response.status_code == 503, (method, path)
        assert response.headers["Retry-After"] == "5"
        assert "could not reach its database" in response.get_data(as_text=True)
    assert client.get("/healthz").status_code == 503


@pytest.mark.parametrize("command", [["due"], ["slots"], ["contacts", "list"]])
def test_the_cli_says_an_unreachable_postgresql_in_one_line(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from web.cli import main

    url = f"postgresql://nobody@127.0.0.1:{_closed_port()}/gone"
    with pytest.raises(SystemExit) as done:
        main(["--db", url, *command])
    assert done.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "error: meetagain could not reach its database and did nothing; run it again "
        '(database: connection failed: connection to server at "127.0.0.1", port '
    )


def test_a_mistyped_sqlite_path_is_not_set_up_and_nothing_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read command on a path where no database is says so; it makes no folders or empty
    database there (only `init` and `db upgrade` create one)."""
    from web.cli import main

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'typo' / 'sub' / 'x.db'}"
    for command in (["due"], ["contacts", "list"], ["plan"]):
        with pytest.raises(SystemExit) as done:
            main(["--db", url, *command])
        assert done.value.code == 2
        assert "is not set up: run `meetagain init`" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()
    with pytest.raises(SystemExit) as done:
        main(["--db", url, "init"])
    assert done.value.code == 0
    assert (tmp_path / "typo" / "sub" / "x.db").is_file()
