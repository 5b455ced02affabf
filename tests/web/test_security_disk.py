"""A full disk on save: a clear 507 page that says nothing was saved, and no orphan file.

The disk is made full for real, without touching our code: SQLite is capped with
`PRAGMA max_page_count` on every connection (it then answers "database or disk is full"), and
file writes hit the process's file-size limit (RLIMIT_FSIZE, the errno a quota gives).
"""

from __future__ import annotations

import io
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from integrations.storage import models
from integrations.storage.db import transaction
from tests.web.support import Web, ics_bytes, instance_uploads, text
from web.composition import Runtime

NOT_SAVED = "Not saved: the server&#39;s disk is full"


def _fill_database(runtime: Runtime, owner: int) -> None:
    """Cap the database at its current size and fill what room is left, as a full disk would."""

    def cap(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages + 2}")
        cursor.close()

    runtime.engine.dispose()  # new connections only, each capped
    event.listen(runtime.engine, "connect", cap)
    filler = 0
    for size in (2000, 300, 50, 0):  # big rows first, then smaller ones into what is left
        with pytest.raises(OperationalError, match="database or disk is full"):  # noqa: PT012
            while True:
                with transaction(runtime.sessions) as session:
                    session.add(
                        models.Calendar(
                            user_id=owner,
                            name=f"f{filler}",
                            kind="ics",
                            location="x" * size,
                            last_error="",
                            created_at=datetime.now(UTC),
                        )
                    )
                filler += 1


def _calendar_count(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(models.Calendar)) or 0


def _upload(site: Web, data: bytes) -> Any:
    site.get("/calendars")
    return site.post(
        "/calendars/ics",
        {"name": "Work", "file": (io.BytesIO(data), "work.ics")},
        content_type="multipart/form-data",
    )


CALENDAR = ics_bytes(("Stand-up", "20300107T090000Z", "20300107T091500Z"))


def test_a_calendar_upload_into_a_full_database_is_507_and_leaves_no_file(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/calendars")  # the page's token, before the database fills up
    _fill_database(sqlite_runtime, owner)
    before = _calendar_count(sqlite_runtime)
    response = _upload(site, CALENDAR)
    assert response.status_code == 507
    page = text(response)
    assert NOT_SAVED in page and "it was not saved" in page
    assert _calendar_count(sqlite_runtime) == before
    assert instance_uploads(sqlite_runtime) == []  # the written file went with the failed save


def test_a_contact_import_into_a_full_database_is_507_and_imports_nothing(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/contacts/import")
    _fill_database(sqlite_runtime, owner)
    rows = "".join(f"Person {n},person{n}@example.com\n" for n in range(400))
    response = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(f"name,email\n{rows}".encode()), "people.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 507
    assert NOT_SAVED in text(response)
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(models.Contact)) == 0


@contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """Writes past `limit` bytes fail (EFBIG) in this process, as on a full quota."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_an_upload_the_disk_cannot_hold_is_507_and_leaves_no_partial_file(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    events = [(f"Meeting {n}", "20300107T090000Z", "20300107T091500Z") for n in range(3000)]
    big = ics_bytes(*events)
    assert len(big) > 200_000
    site.get("/calendars")
    with _file_size_limit(64 * 1024):
        response = _upload(site, big)
    assert response.status_code == 507
    assert NOT_SAVED in text(response)
    assert _calendar_count(sqlite_runtime) == 0
    folder = sqlite_runtime.config.instance_dir / "uploads"
    assert [p for p in folder.rglob("*") if p.is_file()] == []  # no 0-byte or partial file


def test_the_file_outbox_leaves_no_partial_message_when_the_disk_is_full(tmp_path: Path) -> None:
    from integrations.mail import FileMailer, MailError

    mailer = FileMailer(tmp_path / "outbox")
    message = b"Message-ID: <m1@example.com>\r\nSubject: hi\r\n\r\n" + b"x" * 200_000
    with _file_size_limit(64 * 1024), pytest.raises(MailError) as caught:
        mailer.send(message, sender="a@example.com", recipients=["b@example.com"])
    assert str(caught.value) == "cannot write to the mail outbox folder: File too large"
    assert list((tmp_path / "outbox").iterdir()) == []
