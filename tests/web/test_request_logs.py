"""One access line per request with a request id (honoured or made, echoed), text or JSON, and
no invite tokens or credentials in it."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from integrations.config import LogConfig
from scheduler.invites import utc_iso
from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from web.composition import Runtime
from web.http import logs
from web.services import invites as svc

BERLIN = ZoneInfo("Europe/Berlin")


def _access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "meetagain.access"]


def _invite(runtime: Runtime, owner: int) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    contact = make_contact(runtime, owner, email="ana@example.org")
    start = next_weekday_at(now, 3, 12, 0, BERLIN)
    created = svc.create_invite(runtime, owner, contact, times_at(start), now=now)
    return urlsplit(created.url).path, start


def test_every_request_gets_a_request_id_echoed_and_logged(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="meetagain.access")
    client = app.test_client()
    made = client.get("/healthz")
    kept = client.get("/login", headers={"X-Request-ID": "edge-42.abc"})
    unsafe = client.get("/nowhere", headers={"X-Request-ID": "two words; <script>"})
    made_id = made.headers["X-Request-ID"]
    assert len(made_id) == 32 and int(made_id, 16) >= 0
    assert kept.headers["X-Request-ID"] == "edge-42.abc"
    replaced = unsafe.headers["X-Request-ID"]
    assert len(replaced) == 32 and int(replaced, 16) >= 0
    lines = _access(caplog)
    assert [(r.request_id, r.method, r.path, r.status, r.endpoint) for r in lines] == [  # type: ignore[attr-defined]
        (made_id, "GET", "/healthz", 200, "health.healthz"),
        ("edge-42.abc", "GET", "/login", 302, "auth.login"),
        (unsafe.headers["X-Request-ID"], "GET", "/nowhere", 404, "unmatched"),
    ]


def test_invite_tokens_never_reach_the_access_log(
    app: Flask, sqlite_runtime: Runtime, owner: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="meetagain.access")
    path, start = _invite(sqlite_runtime, owner)
    token = path.rsplit("/", 1)[1]
    client = app.test_client()
    client.get(path)  # rendered by Flask
    client.get(path)  # from the page cache
    client.post(path, data={"action": "accept", "start": utc_iso(start)})
    client.get(f"{path}/booking?tz=Europe/Paris")
    client.get("/setup/google/callback?state=s3cr3t&code=4/0AbCdEf")
    lines = [r.getMessage() for r in _access(caplog)]
    assert len(lines) == 5
    assert all(token not in line for line in lines)
    assert "s3cr3t" not in lines[4] and "4/0AbCdEf" not in lines[4]
    assert [r.path for r in _access(caplog)][:4] == [  # type: ignore[attr-defined]
        "/i/[redacted]",
        "/i/[redacted]",
        "/i/[redacted]",
        "/i/[redacted]/booking?tz=Europe/Paris",
    ]
    assert [r.endpoint for r in _access(caplog)][:3] == [  # type: ignore[attr-defined]
        "invites.page",
        "invites.page",
        "invites.answer",
    ]


def test_json_lines_carry_the_request_id_and_fields(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure(LogConfig(format="json", level="info"), stream)
    try:
        path, _ = _invite(sqlite_runtime, owner)
        app.test_client().get(path, headers={"X-Request-ID": "req-1"})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [e for e in entries if e["logger"] == "meetagain.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "req-1" and entry["status"] == 200
    assert entry["path"] == "/i/[redacted]" and entry["method"] == "GET"
    assert entry["endpoint"] == "invites.page" and entry["level"] == "info"
    assert isinstance(entry["duration_ms"], float) and entry["remote_addr"] == "127.0.0.1"
    assert path.rsplit("/", 1)[1] not in stream.getvalue()


def test_text_lines_name_the_request_id() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure(LogConfig(format="text", level="warning"), stream)
    token = logs.request_id.set("abc123")
    try:
        logging.getLogger("meetagain.test").warning("something odd")
        logging.getLogger("meetagain.test").info("not at warning level")
    finally:
        logs.request_id.reset(token)
        root.removeHandler(handler)
        root.setLevel(level)
    [line] = stream.getvalue().splitlines()
    assert line.endswith("WARNING meetagain.test [abc123] something odd")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("/i/abcDEF123_-xyz0123456789", "/i/[redacted]"),
        ("GET /i/abcDEF123_-xyz0/event.ics HTTP/1.1", "GET /i/[redacted]/event.ics HTTP/1.1"),
        ("/setup?token=abc&next=/x", "/setup?token=[redacted]&next=/x"),
        ("/cb?code=1&state=2", "/cb?code=[redacted]&state=[redacted]"),
        ("/contacts?q=ana", "/contacts?q=ana"),
    ],
)
def test_redact_removes_tokens_and_credentials(raw: str, shown: str) -> None:
    assert logs.redact(raw) == shown
