"""Instance-folder files written whole or not at all, and a full disk told apart from bugs."""

from __future__ import annotations

import errno
from pathlib import Path

import psycopg.errors
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from integrations.files import is_disk_full, write_atomically


def test_a_written_file_replaces_the_old_one_whole(tmp_path: Path) -> None:
    target = tmp_path / "cal.ics"
    target.write_bytes(b"old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["cal.ics"]


def test_a_full_sqlite_database_is_a_full_disk(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'full.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x BLOB)"))
    with pytest.raises(OperationalError) as caught, engine.begin() as conn:
        conn.execute(text("PRAGMA max_page_count = 3"))
        conn.execute(text("INSERT INTO t VALUES (randomblob(100000))"))
    engine.dispose()
    assert is_disk_full(caught.value)


def test_postgresqls_disk_full_and_a_full_file_system_are_a_full_disk() -> None:
    driver = psycopg.errors.DiskFull("could not extend file: No space left on device")
    assert is_disk_full(OperationalError("INSERT ...", {}, driver))
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))


def test_other_failures_are_not_a_full_disk() -> None:
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert not is_disk_full(ValueError("bad value"))
