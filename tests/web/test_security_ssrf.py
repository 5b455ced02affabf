"""SSRF through the web app, as reported: a signed-in user adds an internal URL as a calendar.

The app here has the default network policy (`[security] allow_private_networks = false`); the
internal service is a real HTTP server on loopback that must see no request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from tests.conftest import make_config
from tests.helpers.http_server import LoopbackHttpServer
from tests.web.support import PASSWORD, Web, make_app, text
from web.composition import Runtime
from web.services.accounts import create_first_account

SECRET = "SECRET_ADMIN_TOKEN=4f9c2e7d1b"


def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, allow: bool) -> Iterator[Web]:
    from web.instance import create_secret, ensure_instance

    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    config = make_config(
        tmp_path,
        f"sqlite:///{tmp_path / 'app.db'}",
        security={"allow_private_networks": allow},
    )
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    create_first_account(runtime, "owner@example.com", PASSWORD, "Olivia Owner")
    with make_app(runtime).test_client() as client:
        site = Web(client)
        assert site.sign_in("owner@example.com").status_code == 303
        yield site


@pytest.fixture
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    """Signed in to an app with the default policy: private networks refused."""
    yield from _site(tmp_path, monkeypatch, allow=False)


@pytest.fixture
def lan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    """Signed in to an app that allows private networks (a self-hoster's LAN)."""
    yield from _site(tmp_path, monkeypatch, allow=True)


@pytest.fixture
def admin() -> Iterator[LoopbackHttpServer]:
    with LoopbackHttpServer() as server:
        server.serve("/admin", f"{SECRET}\n".encode(), content_type="text/plain")
        yield server


def _errors(site: Web) -> list[str]:
    runtime: Runtime = site.client.application.extensions["meetagain"]
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(models.Calendar.last_error)))


def test_a_feed_on_loopback_is_refused_at_the_form_not_fetched_and_not_added(
    guarded: Web, admin: LoopbackHttpServer
) -> None:
    guarded.get("/calendars")
    for host in ("127.0.0.1", "localhost"):  # by address or by a name that resolves to it
        url = admin.url("/admin").replace("127.0.0.1", host)
        response = guarded.post("/calendars/ics", {"name": "Work", "url": url})
        assert response.status_code == 400
        page = text(response)
        assert f"{host}: loopback addresses are not contacted" in page
        assert "allowed_networks" in page or "allow_private_networks" in page  # the way out
        assert SECRET not in page
    assert admin.hits == []  # the internal service never saw a request
    assert _errors(guarded) == []  # no calendar that could never be read was added


def test_the_caldav_test_never_reaches_loopback(guarded: Web, admin: LoopbackHttpServer) -> None:
    guarded.get("/calendars")
    response = guarded.post(
        "/calendars/caldav",
        {
            "caldav_name": "Dav",
            "caldav_url": admin.url("/admin"),
            "username": "me",
            "password": "pw",
            "action": "test",
        },
    )
    assert response.status_code == 400  # the form's address is refused, before any test
    page = text(response)
    assert admin.hits == []
    assert SECRET not in page
    assert "loopback addresses are not contacted" in page


def test_an_allowed_feed_that_is_not_a_calendar_says_so_without_its_content(
    lan: Web, admin: LoopbackHttpServer
) -> None:
    lan.get("/calendars")
    response = lan.post(
        "/calendars/ics", {"name": "Work", "url": admin.url("/admin")}, follow_redirects=True
    )
    assert admin.statuses("/admin") == [200]  # allowed: it was read
    page = text(response)
    assert SECRET not in page and "SECRET_ADMIN_TOKEN" not in page
    assert "not an iCalendar file" in page
    assert _errors(lan) == ["Work: line 1: not an iCalendar file (expected BEGIN:VCALENDAR)"]
