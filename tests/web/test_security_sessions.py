"""Sessions live on the server: signing out, "sign out everywhere", ending one session and a
password change end them, so a copied cookie stops working (issue 13, item 2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import event, select

from integrations.storage import models
from integrations.storage.db import transaction
from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from tests.web.support import PASSWORD, Web, second_user, text
from web.composition import Runtime
from web.services import invites as svc

COOKIE = "meetagain_session"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def _cookie(site: Web) -> str:
    cookie = site.client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> Web:
    """Another browser that replays a stolen or remembered cookie."""
    other = Web(app.test_client())
    other.client.set_cookie(COOKIE, value)
    return other


def _signed_out(response: Any) -> bool:
    return response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_the_cookie_from_before_sign_out_is_refused_after_it(
    app: Flask, site: Web, owner: int
) -> None:
    before = _cookie(site)
    assert _with_cookie(app, before).get("/settings").status_code == 200  # a working copy
    site.post("/logout")
    assert _signed_out(_with_cookie(app, before).get("/settings"))
    assert _signed_out(_with_cookie(app, before).get("/contacts"))


def test_sign_out_everywhere_ends_every_browser_including_this_one(
    app: Flask, site: Web, owner: int
) -> None:
    phone = Web(app.test_client())
    assert phone.sign_in("owner@example.com").status_code == 303
    ended = site.post("/settings/sessions/end-all")
    assert _signed_out(ended)
    assert _signed_out(phone.get("/settings"))
    assert _signed_out(site.get("/settings"))
    with transaction(app.extensions["meetagain"].sessions) as session:
        assert session.scalar(select(models.UserSession)) is None


def test_the_sessions_list_names_each_browser_and_can_end_one(
    app: Flask, site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    laptop = Web(app.test_client())
    laptop.client.environ_base["HTTP_USER_AGENT"] = FIREFOX
    assert laptop.sign_in("owner@example.com").status_code == 303
    page = text(site.get("/settings"))
    assert "Where you are signed in" in page
    assert "Firefox on Linux" in page and "This browser" in page
    with transaction(sqlite_runtime.sessions) as session:
        laptop_id = session.scalar(
            select(models.UserSession.id).where(models.UserSession.user_agent == FIREFOX)
        )
    ended = site.post(f"/settings/sessions/{laptop_id}/end")
    assert ended.status_code == 303
    assert _signed_out(laptop.get("/settings"))
    assert site.get("/settings").status_code == 200  # only that one ended
    assert "Firefox on Linux" not in text(site.get("/settings"))


def test_nobody_can_end_another_users_session(
    app: Flask, site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    second_user(sqlite_runtime)
    bob = Web(app.test_client())
    assert bob.sign_in("bob@example.com").status_code == 303
    with transaction(sqlite_runtime.sessions) as session:
        bobs = session.scalar(
            select(models.UserSession.id)
            .join(models.User)
            .where(models.User.email == "bob@example.com")
        )
    assert site.post(f"/settings/sessions/{bobs}/end").status_code == 404
    assert bob.get("/settings").status_code == 200


def test_a_password_change_ends_the_sessions_elsewhere_and_their_copied_cookies(
    app: Flask, site: Web, owner: int
) -> None:
    phone = Web(app.test_client())
    assert phone.sign_in("owner@example.com").status_code == 303
    copied = _cookie(phone)
    changed = site.post(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "a fresh passphrase",
            "confirm_password": "a fresh passphrase",
        },
    )
    assert changed.status_code == 303
    assert site.get("/settings").status_code == 200
    assert _signed_out(_with_cookie(app, copied).get("/settings"))


def test_a_cookie_signed_before_sessions_lived_on_the_server_is_worth_nothing(
    app: Flask, owner: int
) -> None:
    old = app.test_client()
    with old.session_transaction() as session:  # what the previous release put in the cookie
        session["user_id"] = owner
        session["password"] = "0123456789abcdef"
    assert _signed_out(old.get("/settings"))


@contextmanager
def _session_lookups(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL statements that read the session table while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "user_sessions" in statement:
            seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)


def test_requests_without_a_cookie_and_invite_pages_never_look_a_session_up(
    app: Flask, site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    now = datetime.now(UTC)
    contact = make_contact(sqlite_runtime, owner)
    start = next_weekday_at(now, 3, 12, 0, ZoneInfo("Europe/Berlin"))
    path = urlsplit(svc.create_invite(sqlite_runtime, owner, contact, times_at(start), now=now).url)
    with _session_lookups(sqlite_runtime) as seen:
        assert app.test_client().get("/login").status_code in (200, 302)
        assert app.test_client().get(path.path).status_code == 200
        # The owner opening their own invite link: still no session work on that page.
        assert site.client.get(path.path).status_code == 200
        assert site.client.get(path.path + "?tz=UTC").status_code == 200
    assert seen == []
    with _session_lookups(sqlite_runtime) as seen:
        assert site.get("/settings").status_code == 200
    assert seen  # owner pages do check the session


def test_a_session_unused_for_two_weeks_is_over_and_a_used_one_shows_when(
    app: Flask, site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    old = datetime.now(UTC) - timedelta(minutes=30)
    with transaction(sqlite_runtime.sessions) as session:
        session.execute(update(models.UserSession).values(last_seen_at=old))
    assert site.get("/settings").status_code == 200
    with transaction(sqlite_runtime.sessions) as session:
        seen = session.scalar(select(models.UserSession.last_seen_at))
    assert seen is not None and seen > old + timedelta(minutes=25)  # "last seen" moved on

    with transaction(sqlite_runtime.sessions) as session:
        session.execute(update(models.UserSession).values(last_seen_at=old - timedelta(days=15)))
    assert _signed_out(site.get("/settings"))
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(models.UserSession)) is None
