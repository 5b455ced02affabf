"""Rate limits (Flask-Limiter): sign-in per account and per address, imports and "read now" per
user, the invite pages per client address, shared between processes through Redis, and
X-Forwarded-For believed only with [web] trusted_proxies."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from tests.web.support import PASSWORD, Web, make_app, second_user, text
from web.composition import Runtime
from web.http.app import create_app
from web.services import invites as svc

BERLIN = ZoneInfo("Europe/Berlin")


def _runtime(runtime: Runtime, *, web: dict[str, Any] | None = None, **limits: str) -> Runtime:
    config = runtime.config
    return Runtime(
        replace(
            config,
            web=replace(config.web, **(web or {})),
            limits=replace(config.limits, **limits),
        )
    )


def _sites(runtime: Runtime, count: int = 1) -> list[Web]:
    """Browsers on one app (one process: one set of counts)."""
    app = make_app(runtime)
    return [Web(app.test_client()) for _ in range(count)]


def _sign_in(site: Web, email: str, password: str, address: str = "127.0.0.1") -> Any:
    site.client.environ_base["REMOTE_ADDR"] = address
    site.token = ""
    site.get("/login")
    return site.post("/login", {"email": email, "password": password})


def test_a_guesser_on_one_account_does_not_lock_out_other_accounts_from_the_same_address(
    sqlite_runtime: Runtime, owner: int
) -> None:
    second_user(sqlite_runtime, "bob@example.com")
    attacker, bob, elsewhere = _sites(sqlite_runtime, 3)
    for _ in range(10):
        assert _sign_in(attacker, "owner@example.com", "guess-guess").status_code == 401
    refused = _sign_in(attacker, "owner@example.com", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins into this account" in text(refused)
    assert refused.headers["Retry-After"] == "300"
    # Same address, another account: signs in.
    assert _sign_in(bob, "bob@example.com", PASSWORD).status_code == 303
    # The limit is the account's, from any address; the typed case does not matter.
    assert _sign_in(elsewhere, "OWNER@example.com ", PASSWORD, "127.0.0.7").status_code == 429


def test_failed_sign_ins_into_many_accounts_from_one_address_are_limited(
    sqlite_runtime: Runtime, owner: int
) -> None:
    runtime = _runtime(sqlite_runtime, sign_in_per_address="3 per minute")
    [site] = _sites(runtime)
    for n in range(3):
        assert _sign_in(site, f"nobody{n}@example.com", "guess-guess").status_code == 401
    refused = _sign_in(site, "owner@example.com", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins from your address" in text(refused)
    assert refused.headers["Retry-After"] == "60"
    assert _sign_in(site, "owner@example.com", PASSWORD, "127.0.0.8").status_code == 303


def test_correct_passwords_and_the_sign_in_page_do_not_count(
    sqlite_runtime: Runtime, owner: int
) -> None:
    runtime = _runtime(
        sqlite_runtime, sign_in_per_account="2 per minute", sign_in_per_address="2 per minute"
    )
    [site] = _sites(runtime)
    for _ in range(5):
        assert site.get("/login").status_code in (200, 302)
        assert _sign_in(site, "owner@example.com", PASSWORD).status_code == 303
        site.post("/logout")


def test_imports_are_limited_per_user(sqlite_runtime: Runtime, owner: int) -> None:
    runtime = _runtime(sqlite_runtime, imports="2 per hour")
    site, other = _sites(runtime, 2)
    second_user(sqlite_runtime, "bob@example.com")
    _sign_in(site, "owner@example.com", PASSWORD)
    _sign_in(other, "bob@example.com", PASSWORD)
    csv = b"name,email\nAna,ana@example.org\n"

    def upload(who: Web) -> Any:
        from io import BytesIO

        return who.post(
            "/contacts/import",
            {"file": (BytesIO(csv), "c.csv")},
            content_type="multipart/form-data",
        )

    assert [upload(site).status_code for _ in range(3)] == [200, 200, 429]
    assert upload(site).headers["Retry-After"] == "3600"
    assert upload(other).status_code == 200  # another user has their own budget


def test_read_now_is_one_budget_per_user_across_its_buttons(
    sqlite_runtime: Runtime, owner: int
) -> None:
    runtime = _runtime(sqlite_runtime, read_now="2 per hour")
    [site] = _sites(runtime)
    _sign_in(site, "owner@example.com", PASSWORD)
    assert site.post("/meetings/scan").status_code == 303
    assert site.post("/calendars/google/refresh").status_code == 303
    limited = site.post("/meetings/scan")
    assert limited.status_code == 429 and "Slow down" in text(limited)
    assert site.get("/").status_code == 200  # pages are not limited


def _invite_path(runtime: Runtime, owner: int) -> str:
    now = datetime.now(UTC)
    contact = make_contact(runtime, owner, email="ana@example.org")
    start = next_weekday_at(now, 3, 12, 0, BERLIN)
    created = svc.create_invite(runtime, owner, contact, times_at(start), now=now)
    return urlsplit(created.url).path


def test_forwarded_addresses_are_ignored_without_trusted_proxies(
    sqlite_runtime: Runtime, owner: int
) -> None:
    client = create_app(runtime=sqlite_runtime, invite_rate_limit="1 per minute").test_client()
    path = _invite_path(sqlite_runtime, owner)
    first = client.get(path, headers={"X-Forwarded-For": "203.0.113.1"})
    second = client.get(path, headers={"X-Forwarded-For": "203.0.113.2"})
    assert (first.status_code, second.status_code) == (200, 429)  # one address: the peer's


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    sqlite_runtime: Runtime, owner: int, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = _runtime(sqlite_runtime, web={"trusted_proxies": 1})
    client = create_app(runtime=runtime, invite_rate_limit="1 per minute").test_client()
    path = _invite_path(sqlite_runtime, owner)
    caplog.set_level(logging.INFO, logger="meetagain.access")
    codes = [
        client.get(path, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in (1, 2, 1)
    ]
    assert codes == [200, 200, 429]
    addresses = [r.remote_addr for r in caplog.records if r.name == "meetagain.access"]
    assert addresses == ["203.0.113.1", "203.0.113.2", "203.0.113.1"]
    # Only the last hop counts: a client cannot slip an address in front of the proxy's.
    spoofed = client.get(path, headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.1"})
    assert spoofed.status_code == 429


def _apps(runtime: Runtime, storage: str) -> tuple[Flask, Flask]:
    shared = _runtime(runtime, web={"rate_limit_storage": storage})
    return (
        create_app(runtime=shared, invite_rate_limit="3 per minute"),
        create_app(runtime=shared, invite_rate_limit="3 per minute"),
    )


@pytest.mark.redis
def test_with_redis_two_processes_share_one_budget(
    sqlite_runtime: Runtime, owner: int, redis_url: str
) -> None:
    path = _invite_path(sqlite_runtime, owner)
    one, two = (app.test_client() for app in _apps(sqlite_runtime, redis_url))
    codes = [(one if n % 2 else two).get(path).status_code for n in range(6)]
    assert codes.count(200) == 3 and codes[3:] == [429, 429, 429]


def test_in_memory_each_process_counts_on_its_own(sqlite_runtime: Runtime, owner: int) -> None:
    path = _invite_path(sqlite_runtime, owner)
    one, two = (app.test_client() for app in _apps(sqlite_runtime, "memory://"))
    codes = [(one if n % 2 else two).get(path).status_code for n in range(6)]
    assert codes == [200] * 6
