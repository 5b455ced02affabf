"""Invite links and owner pages: forged, expired and reused tokens, access rules, headers."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from tests.web.support import sign_in_as
from web.composition import Runtime
from web.http.app import create_app
from web.services import invites as svc

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def owner(sqlite_runtime: Runtime) -> int:
    return make_owner(sqlite_runtime, password="correct horse battery")


def _created(runtime: Runtime, owner: int, now: datetime | None = None) -> svc.CreatedInvite:
    now = now or datetime.now(UTC)
    contact = make_contact(runtime, owner, email=f"{secrets.token_hex(4)}@example.org")
    starts = (next_weekday_at(now, 3, 12, 0, BERLIN), next_weekday_at(now, 4, 12, 0, BERLIN))
    return svc.create_invite(runtime, owner, contact, times_at(*starts), now=now)


def _path(url: str) -> str:
    return urlsplit(url).path


def _bookings(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(models.Booking)) or 0)


def _assert_public_headers(resp: object) -> None:
    headers = resp.headers  # type: ignore[attr-defined]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["Cache-Control"] == "no-store"


def test_a_forged_token_gets_404_and_reveals_nothing(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    _created(sqlite_runtime, owner)
    forged = secrets.token_urlsafe(24)
    page = client.get(f"/i/{forged}")
    assert page.status_code == 404
    _assert_public_headers(page)
    text = page.get_data(as_text=True)
    assert "Olivia" not in text and "Ana" not in text
    post = client.post(f"/i/{forged}", data={"action": "accept", "start": "2030-01-01T12:00:00Z"})
    assert post.status_code == 404
    assert client.get(f"/i/{forged}/event.ics").status_code == 404
    assert client.post(f"/i/{forged}/booking", data={"action": "cancel"}).status_code == 404


def test_an_expired_invite_gets_410(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    created = _created(sqlite_runtime, owner, now=long_ago)
    page = client.get(_path(created.url))
    assert page.status_code == 410
    _assert_public_headers(page)
    start = utc_iso(created.times[0].start)
    assert (
        client.post(_path(created.url), data={"action": "accept", "start": start}).status_code
        == 410
    )
    assert client.post(_path(created.url), data={"action": "decline"}).status_code == 410
    assert _bookings(sqlite_runtime) == 0
    # The worker's pass marks it expired (it then counts as ignored).
    assert svc.expire_invites(sqlite_runtime, now=datetime.now(UTC)) == 1


def test_a_used_token_cannot_book_again(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    created = _created(sqlite_runtime, owner)
    first, second = (utc_iso(t.start) for t in created.times)
    assert (
        client.post(_path(created.url), data={"action": "accept", "start": first}).status_code
        == 303
    )
    assert client.get(_path(created.url)).status_code == 410
    again = client.post(_path(created.url), data={"action": "accept", "start": second})
    assert again.status_code == 409
    assert "already picked a time" in again.get_data(as_text=True)
    assert client.post(_path(created.url), data={"action": "decline"}).status_code == 410
    assert _bookings(sqlite_runtime) == 1
    # The invitee keeps their confirmation page and calendar file.
    assert client.get(_path(created.url) + "/booking").status_code == 200


def test_a_malformed_answer_is_a_400(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    created = _created(sqlite_runtime, owner)
    path = _path(created.url)
    assert client.post(path, data={"action": "accept", "start": "tomorrow"}).status_code == 400
    naive = created.times[0].start.replace(tzinfo=None).isoformat()
    assert client.post(path, data={"action": "accept", "start": naive}).status_code == 400
    assert client.post(path, data={"action": "explode"}).status_code == 400


def test_public_pages_send_the_security_headers_on_every_answer(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    created = _created(sqlite_runtime, owner)
    path = _path(created.url)
    _assert_public_headers(client.get(path))
    wrong = utc_iso(created.times[0].start + timedelta(minutes=5))
    conflict = client.post(path, data={"action": "accept", "start": wrong})
    assert conflict.status_code == 409
    _assert_public_headers(conflict)
    done = client.post(path, data={"action": "accept", "start": utc_iso(created.times[0].start)})
    _assert_public_headers(done)
    _assert_public_headers(client.get(path + "/booking"))
    _assert_public_headers(client.get(path + "/event.ics"))


def test_the_script_is_served_from_a_static_file(client: FlaskClient) -> None:
    with client.get("/static/invites/invite.js") as resp:
        assert resp.status_code == 200 and b"Intl.DateTimeFormat" in resp.data


def test_owner_pages_need_sign_in(app: Flask, sqlite_runtime: Runtime, owner: int) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # sign-in alone must refuse, not only CSRF
    client = app.test_client()
    created = _created(sqlite_runtime, owner)
    token = created.url.rsplit("/", 1)[1]
    booking = svc.accept_invite(
        sqlite_runtime, token, created.times[0].start, now=datetime.now(UTC)
    )
    for method, url in (
        ("get", f"/invites/bookings/{booking.id}"),
        ("post", f"/invites/bookings/{booking.id}"),
        ("post", f"/invites/bookings/{booking.id}/met"),
        ("post", f"/invites/{created.invite_id}/cancel"),
        ("get", "/dev/outbox"),
    ):
        resp = getattr(client, method)(url, data={"action": "cancel", "met": "yes"})
        assert resp.status_code in (302, 303), url
        assert "/login" in resp.headers["Location"] or "/setup" in resp.headers["Location"]
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.Booking, booking.id)
        assert row is not None and row.status == "active" and row.met is None


def test_another_users_bookings_and_invites_are_404(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    created = _created(sqlite_runtime, owner)
    token = created.url.rsplit("/", 1)[1]
    booking = svc.accept_invite(
        sqlite_runtime, token, created.times[0].start, now=datetime.now(UTC)
    )
    mallory = make_owner(
        sqlite_runtime, email="mallory@example.com", name="Mallory", password="another password"
    )
    app.config["WTF_CSRF_ENABLED"] = False  # this test is about ownership, not CSRF
    client = app.test_client()
    sign_in_as(client, sqlite_runtime, mallory)
    assert client.get(f"/invites/bookings/{booking.id}").status_code == 404
    assert (
        client.post(f"/invites/bookings/{booking.id}", data={"action": "cancel"}).status_code == 404
    )
    assert (
        client.post(f"/invites/bookings/{booking.id}/met", data={"met": "yes"}).status_code == 404
    )
    assert client.post(f"/invites/{created.invite_id}/cancel").status_code == 404
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.Booking, booking.id)
        assert row is not None and row.status == "active" and row.met is None
        invite = session.get(models.Invite, created.invite_id)
        assert invite is not None and invite.status == "accepted"
    sign_in_as(client, sqlite_runtime, owner)
    assert client.get(f"/invites/bookings/{booking.id}").status_code == 200


def test_owner_forms_still_need_the_csrf_token(
    client: FlaskClient, sqlite_runtime: Runtime, owner: int
) -> None:
    created = _created(sqlite_runtime, owner)
    sign_in_as(client, sqlite_runtime, owner)
    resp = client.post(f"/invites/{created.invite_id}/cancel")
    assert resp.status_code == 400


def test_invite_pages_are_rate_limited_per_client_address(
    sqlite_runtime: Runtime, owner: int
) -> None:
    app = create_app(runtime=sqlite_runtime, invite_rate_limit="3 per minute")
    client = app.test_client()
    created = _created(sqlite_runtime, owner)
    path = _path(created.url)
    codes = [client.get(path).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get(path)
    assert limited.headers["Retry-After"] == "60"
    _assert_public_headers(limited)
    other = client.get(path, environ_base={"REMOTE_ADDR": "127.0.0.9"})
    assert other.status_code == 200
