"""Helpers for the web tests: an app on a migrated SQLite runtime and a CSRF-aware client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from web.composition import Runtime
from web.http.app import create_app
from web.services.accounts import create_first_account, create_user

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


class Web:
    """A test client that remembers the CSRF token of the pages it loads, like a browser."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        response = self.client.get(url, **kwargs)
        self._remember(response)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        if not self.token:
            self.get("/settings")
            if not self.token:
                self.get("/login")
            if not self.token:
                self.get("/setup")
        body = {"csrf_token": self.token, **(data or {})}
        response = self.client.post(url, data=body, **kwargs)
        if 300 <= response.status_code < 400:
            self.token = ""  # sign-in and sign-out start a new session with a new token
        self._remember(response)
        return response

    def _remember(self, response: TestResponse) -> None:
        if response.mimetype == "text/html":
            found = CSRF.search(response.get_data(as_text=True))
            if found:
                self.token = found.group(1)

    def sign_in(self, email: str, password: str = PASSWORD) -> TestResponse:
        self.token = ""
        self.get("/login")
        return self.post("/login", {"email": email, "password": password})


def make_app(runtime: Runtime) -> Flask:
    """The app for tests: the invite pages' per-address rate limit is off, since every request
    of a test comes from one address (the tests of that limit build their own app)."""
    app = create_app(runtime=runtime, invite_rate_limit=None)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def app(sqlite_runtime: Runtime) -> Flask:
    return make_app(sqlite_runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A plain test client (no CSRF token handling): the invite pages need none."""
    return app.test_client()


@pytest.fixture
def site(app: Flask) -> Iterator[Web]:
    with app.test_client() as client:
        yield Web(client)


@pytest.fixture
def owner(sqlite_runtime: Runtime, site: Web) -> int:
    """The first account, signed in on `site`."""
    user_id = create_first_account(sqlite_runtime, "owner@example.com", PASSWORD, "Olivia Owner")
    response = site.sign_in("owner@example.com")
    assert response.status_code == 303, response.get_data(as_text=True)
    return user_id


def second_user(runtime: Runtime, email: str = "bob@example.com") -> int:
    return create_user(runtime, email, PASSWORD, "Bob")


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def ics_bytes(*events: tuple[str, str, str]) -> bytes:
    """A small calendar: (summary, dtstart, dtend) in UTC basic format."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for n, (summary, start, end) in enumerate(events):
        lines += [
            "BEGIN:VEVENT",
            f"UID:test-{n}@example.com",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{start}",
            f"DTEND:{end}",
            f"SUMMARY:{summary}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def trip_ics(first: date, last: date, city: str = "Boston") -> bytes:
    """A calendar with one all-day "Trip to CITY" event from `first` to `last` (included)."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{city.lower()}@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART;VALUE=DATE:{first:%Y%m%d}\r\n"
        f"DTEND;VALUE=DATE:{last + timedelta(days=1):%Y%m%d}\r\n"
        f"SUMMARY:Trip to {city}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def instance_uploads(runtime: Runtime) -> list[Path]:
    folder = runtime.config.instance_dir / "uploads"
    return sorted(folder.rglob("*.ics")) if folder.exists() else []


def sign_in_as(client: FlaskClient, runtime: Runtime, user_id: int) -> None:
    """Put `client` in the session web.http.auth.sign_in makes for `user_id`, without the forms."""
    from datetime import UTC, datetime

    from web.http.auth import SESSION_TOKEN
    from web.services.user_sessions import start_session

    token = start_session(
        runtime, user_id, user_agent="test", address="127.0.0.1", now=datetime.now(UTC)
    )
    with client.session_transaction() as session:
        session[SESSION_TOKEN] = token
