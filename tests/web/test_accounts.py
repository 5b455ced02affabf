"""Accounts: first-run setup, claiming the demo user, sign-in, sign-out, cookies, CSRF."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from tests.conftest import make_config
from tests.web.support import PASSWORD, Web, make_app, text
from web.composition import Runtime
from web.errors import UserError

OWNER_PAGES = [
    "/",
    "/contacts",
    "/contacts/new",
    "/contacts/import",
    "/contacts/export.csv",
    "/calendars",
    "/settings",
    "/setup/time",
    "/setup/calendars",
    "/setup/contacts",
    "/setup/rules",
]


def test_a_fresh_install_sends_the_visitor_to_account_setup(site: Web) -> None:
    response = site.get("/")
    assert response.status_code == 302
    assert response.location.endswith("/setup")
    assert "Create account" in text(site.get("/setup"))


def test_setup_creates_the_owner_with_a_hashed_password_and_signs_in(
    site: Web, sqlite_runtime: Runtime
) -> None:
    site.get("/setup")
    response = site.post(
        "/setup",
        {"name": "Ana", "email": "Ana@Example.com", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert response.status_code == 303
    assert response.location.endswith("/setup/time")
    with transaction(sqlite_runtime.sessions) as session:
        user = session.scalar(select(models.User))
        assert user is not None
        assert user.email == "ana@example.com"
        assert user.password_hash.startswith("scrypt:")
        assert PASSWORD not in user.password_hash
    assert site.get("/").status_code == 200


def test_setup_claims_the_user_that_meetagain_demo_created(
    site: Web, sqlite_runtime: Runtime
) -> None:
    from web.services.demo import load_demo

    demo_id = sqlite_runtime.owner_id(create=True)
    load_demo(sqlite_runtime, demo_id)
    site.get("/setup")
    site.post(
        "/setup",
        {"email": "me@example.com", "password": PASSWORD, "confirm": PASSWORD},
    )
    with transaction(sqlite_runtime.sessions) as session:
        users = list(session.scalars(select(models.User)))
    assert [u.id for u in users] == [demo_id]
    page = text(site.get("/contacts"))
    assert "Ana Souza" in page and "25 contacts" in page


def test_setup_rejects_a_short_password_and_mismatched_confirmation(site: Web) -> None:
    site.get("/setup")
    short = site.post("/setup", {"email": "a@example.com", "password": "short", "confirm": "short"})
    assert short.status_code == 400
    assert "at least 10 characters" in text(short)
    differ = site.post(
        "/setup", {"email": "a@example.com", "password": PASSWORD, "confirm": PASSWORD + "x"}
    )
    assert differ.status_code == 400
    assert "The two passwords differ" in text(differ)


def test_setup_is_closed_once_an_owner_exists(site: Web, owner: int) -> None:
    site.post("/logout")
    response = site.get("/setup")
    assert response.status_code == 302
    assert response.location.endswith("/login")


def test_wrong_password_is_refused_with_one_clear_message(site: Web, owner: int) -> None:
    site.post("/logout")
    site.get("/login")
    response = site.post("/login", {"email": "owner@example.com", "password": "wrong-password"})
    assert response.status_code == 401
    assert "do not match an account" in text(response)


def test_sign_out_ends_the_session(site: Web, owner: int) -> None:
    assert site.get("/").status_code == 200
    response = site.post("/logout")
    assert response.status_code == 303
    assert site.get("/").status_code == 302


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(site: Web, owner: int) -> None:
    site.post("/logout")
    site.get("/login?next=/contacts")
    response = site.post(
        "/login?next=/contacts", {"email": "owner@example.com", "password": PASSWORD}
    )
    assert response.location.endswith("/contacts")
    site.post("/logout")
    site.get("/login")
    response = site.post(
        "/login?next=//evil.example/", {"email": "owner@example.com", "password": PASSWORD}
    )
    assert "evil" not in response.location


@pytest.mark.parametrize(
    "target", ["/\t/evil.example/", "/\n/evil.example", "/\r\n/evil.example", "/\\evil.example"]
)
def test_a_next_address_with_control_characters_cannot_leave_the_site(
    site: Web, owner: int, target: str
) -> None:
    # Browsers and URL parsers drop tabs and newlines: "/<tab>/evil" would mean "//evil".
    site.post("/logout")
    site.get("/login")
    response = site.client.post(
        "/login",
        query_string={"next": target},
        data={"csrf_token": site.token, "email": "owner@example.com", "password": PASSWORD},
    )
    assert response.status_code == 303
    assert response.location == "/"
    site.get("/contacts/new")  # the signed-in session's CSRF token
    contact = site.post("/contacts/new", {"name": "Ana"}).location
    response = site.post(f"{contact}/snooze", {"days": "7", "next": target})
    assert response.status_code == 303 and response.location == "/"


@pytest.mark.parametrize("url", OWNER_PAGES)
def test_every_owner_page_requires_sign_in(site: Web, owner: int, url: str) -> None:
    site.post("/logout")
    response = site.get(url)
    assert response.status_code == 302
    assert "/login" in response.location


@pytest.mark.parametrize("url", OWNER_PAGES)
def test_every_owner_page_renders_for_the_signed_in_owner(site: Web, owner: int, url: str) -> None:
    response = site.get(url)
    assert response.status_code == 200, text(response)[:500]


def test_a_post_without_csrf_token_is_rejected_and_changes_nothing(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    response = site.client.post("/contacts/new", data={"name": "Sneaky", "emails": "s@x.org"})
    assert response.status_code == 400
    assert "The form expired" in text(response)
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(models.Contact)) is None


def test_session_cookie_is_httponly_and_samesite_lax(app: Flask, site: Web, owner: int) -> None:
    cookie = site.client.get_cookie("meetagain_session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert not cookie.secure
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_session_cookie_is_secure_when_served_over_https(
    tmp_path: object, sqlite_runtime: Runtime
) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    config = make_config(
        base,
        sqlite_runtime.config.database_url,
        web={"instance_path": str(base / "instance"), "base_url": "https://coffee.example.org"},
    )
    app = make_app(Runtime(config))
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_the_app_refuses_to_start_without_a_secret_key(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from web.http.app import create_app

    monkeypatch.delenv("MEETAGAIN_SECRET_KEY", raising=False)
    config = make_config(Path(str(tmp_path)) / "empty")
    with pytest.raises(UserError, match="no secret key"):
        create_app(config)


def test_unknown_pages_get_a_friendly_404(site: Web, owner: int) -> None:
    response = site.get("/no/such/page")
    assert response.status_code == 404
    assert "Not found" in text(response)
    assert "Traceback" not in text(response)


def test_an_unexpected_error_shows_a_friendly_500_without_a_traceback(
    sqlite_runtime: Runtime,
) -> None:
    app = make_app(sqlite_runtime)
    app.config["TESTING"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body
    assert "secret internals" not in body and "Traceback" not in body


def test_health_check_needs_no_sign_in(site: Web) -> None:
    assert site.get("/healthz").json == {"status": "ok", "checks": {"database": "ok"}}


def test_the_admin_can_add_another_person_who_then_signs_in(
    site: Web, owner: int, app: Flask
) -> None:
    site.get("/settings")
    bad = site.post("/settings/users", {"email": "owner@example.com", "password": PASSWORD})
    assert bad.status_code == 400 and "already an account" in text(bad)
    short = site.post("/settings/users", {"email": "bob@example.com", "password": "x"})
    assert short.status_code == 400 and "at least 10 characters" in text(short)
    ok = site.post(
        "/settings/users", {"email": "Bob@example.com", "name": "Bob", "password": PASSWORD}
    )
    assert ok.status_code == 303
    bob = Web(app.test_client())
    assert bob.sign_in("bob@example.com").status_code == 303
    assert "Signed in as bob@example.com" in text(bob.get("/settings"))


def test_the_owner_changes_their_password_in_settings(site: Web, owner: int) -> None:
    wrong = site.post(
        "/settings/password",
        {
            "current_password": "not-it-at-all",
            "new_password": "n" * 12,
            "confirm_password": "n" * 12,
        },
    )
    assert wrong.status_code == 400 and "not your current password" in text(wrong)
    short = site.post(
        "/settings/password",
        {"current_password": PASSWORD, "new_password": "x", "confirm_password": "x"},
    )
    assert short.status_code == 400 and "at least 10 characters" in text(short)
    changed = site.post(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "a fresh passphrase",
            "confirm_password": "a fresh passphrase",
        },
    )
    assert changed.status_code == 303
    assert "Password changed" in text(site.get(changed.headers["Location"]))
    site.post("/logout")
    assert site.sign_in("owner@example.com").status_code == 401  # the old one is gone
    assert site.sign_in("owner@example.com", "a fresh passphrase").status_code == 303


def test_a_long_passphrase_is_accepted_whole_at_setup_and_in_settings(
    site: Web, sqlite_runtime: Runtime
) -> None:
    """Past 72 characters the strength checker (zxcvbn) refuses input: only the first 72 are
    judged, the whole passphrase is kept, and signing in needs all of it."""
    long_one = "correct horse battery staple " * 4  # 116 characters
    site.get("/setup")
    created = site.post(
        "/setup",
        {"name": "Ann", "email": "ann@example.org", "password": long_one, "confirm": long_one},
    )
    assert created.status_code == 303
    longer = "a fresh passphrase for the garden gnome, " * 5  # 205 characters
    changed = site.post(
        "/settings/password",
        {"current_password": long_one, "new_password": longer, "confirm_password": longer},
    )
    assert changed.status_code == 303
    site.post("/logout")
    assert site.sign_in("ann@example.org", longer[:72]).status_code == 401
    assert site.sign_in("ann@example.org", longer).status_code == 303


def test_changing_the_password_signs_out_every_other_session(
    app: Flask, site: Web, owner: int
) -> None:
    elsewhere = Web(app.test_client())  # the owner's phone, say
    assert elsewhere.sign_in("owner@example.com").status_code == 303
    assert elsewhere.get("/settings").status_code == 200
    changed = site.post(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "a fresh passphrase",
            "confirm_password": "a fresh passphrase",
        },
    )
    assert changed.status_code == 303
    assert site.get("/settings").status_code == 200  # where it was changed: still signed in
    gone = elsewhere.get("/settings")
    assert gone.status_code in (302, 303) and "/login" in gone.headers["Location"]


def test_repeated_wrong_passwords_are_slowed_down(site: Web, owner: int) -> None:
    site.post("/logout")
    site.get("/login")
    for _ in range(10):
        wrong = site.post("/login", {"email": "owner@example.com", "password": "guess-guess"})
        assert wrong.status_code == 401
    blocked = site.post("/login", {"email": "owner@example.com", "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed sign-ins into this account" in text(blocked)
    assert blocked.headers["Retry-After"] == "300"


def test_owner_pages_cannot_be_framed_sniffed_or_leak_their_address(site: Web, owner: int) -> None:
    for url in ("/", "/login", "/calendars", "/contacts/new", "/nowhere"):
        headers = site.get(url).headers
        assert headers["X-Frame-Options"] == "DENY", url
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["Referrer-Policy"] == "same-origin", url
        policy = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, url
        # "Connect Google" redirects a form post to Google: form-action would block it.
        assert "form-action" not in policy, url
