"""The invite fast path answers exactly as the Flask views do, and hands them everything else.

`app` goes through the fast path (it is app.wsgi_app); `flask_only` is the Flask app beneath it,
so every comparison is the same request answered both ways.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import Client, TestResponse

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from web.app import create_app
from web.blueprints.invites import ACCEPT_OUTCOME_KEY
from web.composition import Runtime
from web.invite_fastpath import InviteFastPath
from web.services import invites as svc

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def app(sqlite_runtime: Runtime) -> Flask:
    """The app as served (fast path in front), for an owner with no account yet; the
    per-address rate limit is off, as every request here comes from one address."""
    make_owner(sqlite_runtime)
    return create_app(runtime=sqlite_runtime, invite_rate_limit=None)


@pytest.fixture
def owner(app: Flask, sqlite_runtime: Runtime) -> int:
    with transaction(sqlite_runtime.sessions) as session:
        return int(session.scalar(select(models.User.id)) or 0)


def _fast_path(app: Flask) -> InviteFastPath:
    """The fast path among the app's WSGI middleware (beneath the request observer)."""
    layer: Any = app.wsgi_app
    while not isinstance(layer, InviteFastPath):
        layer = layer.wsgi_app
    return layer


@pytest.fixture
def flask_only(app: Flask) -> Client:
    """The Flask app beneath the fast path."""
    return Client(_fast_path(app).wsgi_app)


def _invite(
    runtime: Runtime, owner: int, email: str, *days: int, share: bool = False
) -> tuple[str, list[datetime]]:
    now = datetime.now(UTC)
    contact = make_contact(runtime, owner, name=email.split("@")[0].title(), email=email)
    starts = [next_weekday_at(now, d, 12, 0, BERLIN) for d in days or (3, 4)]
    created = svc.create_invite(
        runtime, owner, contact, times_at(*starts), now=now, share_times=share
    )
    return urlsplit(created.url).path, starts


def _same(a: TestResponse, b: TestResponse, *, skip: tuple[str, ...] = ()) -> None:
    skip = (*skip, "X-Request-ID")  # every request has its own (web.observe adds it)
    assert a.status == b.status
    assert sorted((k, v) for k, v in a.headers.items() if k not in skip) == sorted(
        (k, v) for k, v in b.headers.items() if k not in skip
    )
    assert a.get_data() == b.get_data()


def _without_views(app: Flask, monkeypatch: Any, *endpoints: str) -> None:
    """Take views out of the app: a request they would have answered is now a 500, so a
    good answer can only come from the fast path."""
    monkeypatch.setattr(app, "view_functions", {**app.view_functions, **dict.fromkeys(endpoints)})


def _bookings(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(models.Booking)) or 0)


def test_a_cached_invite_page_is_the_page_flask_renders(
    app: Flask, flask_only: Client, sqlite_runtime: Runtime, owner: int, monkeypatch: Any
) -> None:
    path, _ = _invite(sqlite_runtime, owner, "ana@example.org")
    client = app.test_client()
    first = client.get(path)  # rendered by the view, which caches it
    _without_views(app, monkeypatch, "invites.page")
    second = client.get(path)
    assert second.status_code == 200 and b"<form" in second.get_data()
    _same(second, first)
    monkeypatch.undo()
    _same(second, flask_only.get(path))


def test_invite_page_cases_the_fast_path_leaves_to_flask_look_the_same_both_ways(
    app: Flask, flask_only: Client, sqlite_runtime: Runtime, owner: int
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org")
    client = app.test_client()
    client.get(path)
    for url in (
        f"{path}?tz=America/New_York",  # a query string
        "/i/not-a-token",  # not a token's shape
        "/i/" + "x" * 32,  # unknown
    ):
        _same(client.get(url), flask_only.get(url))
    svc.decline_invite(sqlite_runtime, path.rsplit("/", 1)[1], now=datetime.now(UTC))
    gone = client.get(path)
    assert gone.status_code == 410
    _same(gone, flask_only.get(path))


def test_accept_through_the_fast_path_answers_as_the_view_does(
    app: Flask, flask_only: Client, sqlite_runtime: Runtime, owner: int, monkeypatch: Any
) -> None:
    fast_path, fast_starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    view_path, view_starts = _invite(sqlite_runtime, owner, "bo@example.org", 4)
    view = flask_only.post(view_path, data={"action": "accept", "start": utc_iso(view_starts[0])})
    _without_views(app, monkeypatch, "invites.answer")
    fast = app.test_client().post(
        fast_path, data={"action": "accept", "start": utc_iso(fast_starts[0])}
    )
    assert fast.status_code == view.status_code == 303
    assert fast.headers["Location"] == f"{fast_path}/booking"
    assert view.headers["Location"] == f"{view_path}/booking"
    _same(fast, view, skip=("Location",))
    assert _bookings(sqlite_runtime) == 2


def test_a_refused_accept_is_tried_once_and_rendered_by_the_view(
    app: Flask, flask_only: Client, sqlite_runtime: Runtime, owner: int, monkeypatch: Any
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3, 4)
    other, _ = _invite(sqlite_runtime, owner, "bo@example.org", 3, share=True)
    client = app.test_client()
    body = {"action": "accept", "start": utc_iso(starts[0])}
    assert client.post(other, data=body).status_code == 303  # takes the shared time
    calls: list[str] = []
    real = svc.accept_invite

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(svc, "accept_invite", counted)
    fast = _fast_path(app)
    handed: list[Any] = []
    flask_app = fast.wsgi_app

    def seen_by_flask(environ: dict[str, Any], start_response: Any) -> Any:
        handed.append(environ.get(ACCEPT_OUTCOME_KEY))
        return flask_app(environ, start_response)

    monkeypatch.setattr(fast, "wsgi_app", seen_by_flask)
    refused = client.post(path, data=body)
    assert refused.status_code == 409
    assert calls == [path.rsplit("/", 1)[1]]  # tried once, by the fast path
    assert isinstance(handed[0], svc.TimeUnavailable)  # how it failed, handed to the view
    assert utc_iso(starts[1]) in refused.get_data(as_text=True)  # the time still open
    _same(refused, flask_only.post(path, data=body))
    assert _bookings(sqlite_runtime) == 1


def test_requests_the_fast_path_does_not_take_still_work(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    client = app.test_client()
    start = utc_iso(starts[0])
    # A bad start is Flask's 400; a JSON body is not the contract; decline is another action.
    assert client.post(path, data={"action": "accept", "start": "soon"}).status_code == 400
    assert client.post(path, json={"action": "accept", "start": start}).status_code == 400
    declined = client.post(path, data={"action": "decline", "note": "Busy month, sorry"})
    assert declined.status_code == 303 and declined.headers["Location"].endswith("/thanks")
    assert _bookings(sqlite_runtime) == 0


def test_the_fast_path_keeps_the_rate_limit(sqlite_runtime: Runtime, owner: int) -> None:
    app = create_app(runtime=sqlite_runtime, invite_rate_limit="3 per minute")
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    client = app.test_client()
    codes = [client.get(path).status_code for _ in range(3)]
    accept = client.post(path, data={"action": "accept", "start": utc_iso(starts[0])})
    assert codes == [200, 200, 200]
    assert accept.status_code == 429 and accept.headers["Retry-After"] == "60"
    assert _bookings(sqlite_runtime) == 0


def test_mounted_below_a_prefix_the_fast_path_links_below_it(
    app: Flask, sqlite_runtime: Runtime, owner: int, monkeypatch: Any
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    client = Client(app)
    environ = {"SCRIPT_NAME": "/coffee"}
    first = client.get(path, environ_overrides=environ)
    _without_views(app, monkeypatch, "invites.page", "invites.answer")
    second = client.get(path, environ_overrides=environ)
    assert b'href="/coffee/static/' in second.get_data()
    assert second.get_data() == first.get_data()
    accepted = client.post(
        path,
        data={"action": "accept", "start": utc_iso(starts[0])},
        environ_overrides=environ,
    )
    assert accepted.headers["Location"] == f"/coffee{path}/booking"


def test_an_owner_signed_in_gets_the_same_public_page_as_anyone(
    app: Flask, sqlite_runtime: Runtime, owner: int, monkeypatch: Any
) -> None:
    # The owner clicks their own invite link while signed in: the public page neither
    # refreshes nor varies on the session cookie, whichever path answers it.
    path, _ = _invite(sqlite_runtime, owner, "ana@example.org")
    client = app.test_client()
    client.set_cookie(
        "meetagain_session", _signed_session(app, {"user_id": owner, "_permanent": True})
    )
    rendered = client.get(path)
    _without_views(app, monkeypatch, "invites.page")
    cached = client.get(path)
    for response in (rendered, cached):
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers and "Vary" not in response.headers
    _same(rendered, cached)


def test_a_body_shorter_than_its_content_length_is_left_to_flask(
    app: Flask, sqlite_runtime: Runtime, owner: int
) -> None:
    path, starts = _invite(sqlite_runtime, owner, "ana@example.org", 3)
    body = f"action=accept&start={utc_iso(starts[0])}".encode()
    environ = {
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body) + 10),  # the client went away mid-body
        "wsgi.input": io.BytesIO(body),
    }
    answer = Client(app).post(path, environ_overrides=environ)
    assert answer.status_code == 400
    assert _bookings(sqlite_runtime) == 0


def _signed_session(app: Flask, data: dict[str, Any]) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return str(serializer.dumps(data))
