"""Several users on one database: each sees only their own data; others' URLs are 404."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from flask import Flask, url_for
from sqlalchemy import select
from werkzeug.routing import Rule

from integrations.storage import models
from integrations.storage.db import transaction
from tests.web.support import PASSWORD, Web, ics_bytes, make_app, text
from web.composition import Runtime
from web.services.accounts import create_first_account, create_user


@pytest.fixture
def two_users(runtime: Runtime) -> Iterator[tuple[Web, Web, dict[str, int]]]:
    """Alice (with a contact and a calendar) and Bob, signed in on two clients."""
    app: Flask = make_app(runtime)
    alice_id = create_first_account(runtime, "alice@example.com", PASSWORD)
    create_user(runtime, "bob@example.com", PASSWORD)
    # Plain clients (not `with`): two preserved request contexts would interleave.
    alice, bob = Web(app.test_client()), Web(app.test_client())
    alice.sign_in("alice@example.com")
    bob.sign_in("bob@example.com")
    alice.get("/contacts/new")
    made = alice.post("/contacts/new", {"name": "Ana Secret", "emails": "ana@example.org"})
    contact_id = int(made.location.rsplit("/", 1)[1])
    alice.get("/calendars")
    alice.post(
        "/calendars/ics",
        {"name": "Alice work", "file": (io.BytesIO(ics_bytes()), "a.ics")},
        content_type="multipart/form-data",
    )
    with transaction(runtime.sessions) as session:
        calendar_id = session.scalar(
            select(models.Calendar.id).where(models.Calendar.user_id == alice_id)
        )
    yield alice, bob, {"contact": contact_id, "calendar": calendar_id}


def test_each_user_sees_only_their_own_contacts_and_calendars(
    two_users: tuple[Web, Web, dict[str, int]],
) -> None:
    alice, bob, _ = two_users
    assert "Ana Secret" in text(alice.get("/contacts"))
    assert "Ana Secret" not in text(bob.get("/contacts"))
    assert "Alice work" not in text(bob.get("/calendars"))
    assert "Ana Secret" not in text(bob.get("/contacts/export.csv"))
    assert "Ana Secret" not in text(bob.get("/"))


def test_another_users_contact_calendar_and_plan_urls_are_404(
    two_users: tuple[Web, Web, dict[str, int]],
) -> None:
    alice, bob, ids = two_users
    contact, calendar = ids["contact"], ids["calendar"]
    assert alice.get(f"/contacts/{contact}").status_code == 200
    assert alice.get(f"/plan/{contact}").status_code == 200
    assert alice.get(f"/calendars/{calendar}").status_code == 200
    bob.get("/settings")
    for url in (f"/contacts/{contact}", f"/calendars/{calendar}", f"/plan/{contact}"):
        assert bob.get(url).status_code == 404, url
    posts = [
        (f"/contacts/{contact}/edit", {"name": "Hijacked"}),
        (f"/contacts/{contact}/log", {"on": "2020-01-01"}),
        (f"/contacts/{contact}/snooze", {"days": "30"}),
        (f"/contacts/{contact}/do-not-invite", {"value": "1"}),
        (f"/contacts/{contact}/unpause", {}),
        (f"/plan/{contact}/approve", {"time": "2030-01-01T12:00:00+00:00"}),
        (f"/plan/{contact}/skip", {}),
        (f"/plan/{contact}/snooze", {"days": "30"}),
        (f"/calendars/{calendar}/check", {}),
        (f"/calendars/{calendar}/delete", {}),
        ("/calendars/choose", {"receiver": str(calendar)}),
    ]
    for url, data in posts:
        assert bob.post(url, data).status_code == 404, url
    page = text(alice.get(f"/contacts/{contact}"))
    assert "Ana Secret" in page and "Hijacked" not in page
    assert "Alice work" in text(alice.get("/calendars"))


# Anyone may open these: sign-in, first-run setup, the Google help page, the health check,
# static files, and the public invite pages under /i/ (the secret link is the credential).
PUBLIC_ENDPOINTS = {"static", "health.healthz", "health.readyz", "auth.login", "auth.logout"}
PUBLIC_ENDPOINTS |= {"setup.account"}
PUBLIC_ENDPOINTS |= {"settings.help_google", "favicon"}
# Google's push notifications: no session and no CSRF token; the channel's secret token, which
# only Google and meetagain know, is the credential (test_calendar_sync checks it).
WEBHOOKS = {"calendars.google_push"}
PUBLIC_ENDPOINTS |= WEBHOOKS
# The weekly digest's approve links: the signed, single-use, expiring link is the credential,
# like an invite link, so the owner can approve from a phone without signing in (test_reminders
# _digest and tests/e2e/test_digest_approve check expired, reused and altered links).
PUBLIC_ENDPOINTS |= {"digest.confirm", "digest.send"}


def _is_public_invite(rule: Rule) -> bool:
    return rule.rule.startswith("/i/")


def _urls(app: Flask, method: str, *, include_public: bool) -> list[str]:
    """Every route of the app that answers `method`, with 1 for each id in the path."""
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if method not in (rule.methods or set()) or _is_public_invite(rule):
                continue
            if not include_public and rule.endpoint in PUBLIC_ENDPOINTS:
                continue
            if rule.endpoint in WEBHOOKS:
                continue
            urls.append(url_for(rule.endpoint, **dict.fromkeys(rule.arguments, 1)))
    assert len(urls) > 5, urls  # the url map was read, not silently empty
    return sorted(set(urls))


def test_every_owner_page_in_the_url_map_sends_an_anonymous_visitor_to_sign_in(
    app: Flask, site: Web, owner: int
) -> None:
    site.post("/logout")
    for url in _urls(app, "GET", include_public=False):
        response = site.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.location, url


def test_every_owner_form_in_the_url_map_refuses_an_anonymous_post(
    app: Flask, site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.post("/logout")
    site.get("/login")  # a valid CSRF token of an anonymous session
    for url in _urls(app, "POST", include_public=False):
        response = site.client.post(url, data={"csrf_token": site.token, "name": "Sneaky"})
        assert response.status_code in (302, 303), url
        assert "/login" in response.location, url
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(models.Contact)) is None
        assert session.scalar(select(models.Calendar)) is None


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_every_form_outside_the_public_invite_pages_needs_the_csrf_token(
    app: Flask, site: Web, owner: int, sqlite_runtime: Runtime, token: str | None
) -> None:
    site.get("/settings")
    urls = _urls(app, "POST", include_public=True)
    assert "/login" in urls and "/contacts/new" in urls and "/logout" in urls
    for url in urls:
        data = {"name": "Sneaky", "email": "s@example.org", "password": PASSWORD}
        if token:
            data["csrf_token"] = token
        response = site.client.post(url, data=data)
        assert response.status_code == 400, url
        assert "The form expired" in text(response), url
    # A push notification without the channel's token is refused just the same.
    assert site.client.post("/calendars/google/push").status_code == 404
    # Still signed in (logout refused too) and nothing was stored.
    assert site.get("/settings").status_code == 200
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(models.Contact)) is None
