"""Accounts: only the admin (the first account) adds, disables and removes people; a fresh
server is claimed only with the setup link `meetagain init` prints, or from the server itself;
passwords must be hard to guess (issue 13, items 3 and 5)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from integrations.config import load_config
from integrations.storage import models
from integrations.storage.db import transaction
from tests.web.support import PASSWORD, Web, make_app, second_user, text
from tests.web.test_cli_foundation import clean_env, meetagain
from web.composition import Runtime
from web.services.accounts import (
    AccountError,
    authenticate,
    create_first_account,
    get_user,
    new_setup_token,
)

ELSEWHERE = {"REMOTE_ADDR": "203.0.113.7"}  # a visitor from the internet


def _users(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(models.User)) or 0)


def _signed_out(response: object) -> bool:
    location = response.headers.get("Location", "")  # type: ignore[attr-defined]
    return response.status_code in (302, 303) and "/login" in location  # type: ignore[attr-defined]


# ---------------------------------------------------------------- roles


def test_the_first_account_is_the_admin_and_later_ones_are_not(
    sqlite_runtime: Runtime, owner: int
) -> None:
    bob = second_user(sqlite_runtime)
    first, other = get_user(sqlite_runtime, owner), get_user(sqlite_runtime, bob)
    assert first is not None and first.is_admin
    assert other is not None and not other.is_admin


def test_a_user_who_is_not_admin_cannot_add_or_change_accounts(
    app: Flask, sqlite_runtime: Runtime
) -> None:
    # Only Bob's browser here: a second test client that keeps its request context (the
    # `site` fixture) would share Flask's `g`, and with it the CSRF token, with Bob's.
    owner = create_first_account(sqlite_runtime, "owner@example.com", PASSWORD, "Olivia")
    second_user(sqlite_runtime)
    bob = Web(app.test_client())
    assert bob.sign_in("bob@example.com").status_code == 303
    assert "Manage people" not in text(bob.get("/settings"))
    assert bob.get("/settings/users").status_code == 403
    added = bob.post(
        "/settings/users", {"email": "eve@example.com", "name": "Eve", "password": PASSWORD}
    )
    assert added.status_code == 403
    assert bob.post(f"/settings/users/{owner}/disable").status_code == 403
    assert bob.post(f"/settings/users/{owner}/remove").status_code == 403
    assert _users(sqlite_runtime) == 2
    owner_row = get_user(sqlite_runtime, owner)
    assert owner_row is not None and not owner_row.disabled


def test_the_admin_disables_a_user_who_is_signed_out_and_cannot_sign_in(
    app: Flask, site: Web, sqlite_runtime: Runtime, owner: int
) -> None:
    bob_id = second_user(sqlite_runtime)
    bob = Web(app.test_client())
    assert bob.sign_in("bob@example.com").status_code == 303
    page = text(site.get("/settings/users"))
    assert "bob@example.com" in page and "Disable" in page

    assert site.post(f"/settings/users/{bob_id}/disable").status_code == 303
    assert _signed_out(bob.get("/settings"))
    refused = bob.sign_in("bob@example.com")
    assert refused.status_code == 403 and "disabled" in text(refused)

    assert site.post(f"/settings/users/{bob_id}/enable").status_code == 303
    assert bob.sign_in("bob@example.com").status_code == 303


def test_the_admin_removes_a_user_with_their_data(
    site: Web, sqlite_runtime: Runtime, owner: int
) -> None:
    bob_id = second_user(sqlite_runtime)
    assert site.post(f"/settings/users/{bob_id}/remove").status_code == 303
    assert get_user(sqlite_runtime, bob_id) is None
    assert authenticate(sqlite_runtime, "bob@example.com", PASSWORD) is None


def test_the_admin_cannot_lock_themselves_out(
    site: Web, sqlite_runtime: Runtime, owner: int
) -> None:
    refused = site.post(f"/settings/users/{owner}/disable")
    assert refused.status_code == 400 and "your own account" in text(refused)
    assert site.post(f"/settings/users/{owner}/remove").status_code == 400
    assert site.get("/settings").status_code == 200


def test_an_account_that_is_not_there_is_a_404(site: Web, owner: int) -> None:
    for action in ("disable", "enable", "remove"):
        gone = site.post(f"/settings/users/999999/{action}")
        assert gone.status_code == 404 and "There is no such account" in text(gone)


# ---------------------------------------------------------------- first-run setup


def test_a_fresh_server_cannot_be_claimed_from_elsewhere_without_the_setup_link(
    app: Flask, sqlite_runtime: Runtime
) -> None:
    stranger = Web(app.test_client())
    stranger.client.environ_base.update(ELSEWHERE)
    page = stranger.get("/setup")
    assert page.status_code == 403 and "meetagain init" in text(page)
    form = {"email": "eve@example.com", "password": PASSWORD, "confirm": PASSWORD}
    assert stranger.client.post("/setup", data=form).status_code in (400, 403)
    wrong = stranger.get("/setup?token=guessed-token")
    assert wrong.status_code == 403
    assert _users(sqlite_runtime) == 0


def test_through_a_proxy_on_the_same_machine_the_setup_link_is_needed_too(
    app: Flask, sqlite_runtime: Runtime
) -> None:
    proxied = app.test_client()
    response = proxied.get("/setup", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 403


def test_on_the_server_itself_setup_opens_without_a_link(app: Flask) -> None:
    assert app.test_client().get("/setup").status_code == 200  # 127.0.0.1, as `make run`


def test_the_setup_link_from_init_creates_the_admin_once(tmp_path: Path) -> None:
    done = meetagain(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    found = re.search(r"(http://127\.0\.0\.1:5000/setup\?token=(\S+))", done.stdout)
    assert found, done.stdout
    token = found.group(2)
    runtime = Runtime(load_config(None, {"web": {"instance_path": str(tmp_path / "instance")}}))
    try:
        stranger = Web(make_app(runtime).test_client())
        stranger.client.environ_base.update(ELSEWHERE)
        page = stranger.get(f"/setup?token={token}")
        assert page.status_code == 200 and f'name="token" value="{token}"' in text(page)
        form = {"email": "ana@example.com", "password": PASSWORD, "confirm": PASSWORD}
        created = stranger.post("/setup", {**form, "token": token})
        assert created.status_code == 303, text(created)
        ana = get_user(runtime, authenticate(runtime, "ana@example.com", PASSWORD) or 0)
        assert ana is not None and ana.is_admin
        # Used up: the link neither opens setup again nor is printed any more.
        again = Web(make_app(runtime).test_client())
        again.client.environ_base.update(ELSEWHERE)
        assert _signed_out(again.get(f"/setup?token={token}"))
        assert new_setup_token(runtime) is None
    finally:
        runtime.engine.dispose()
    rerun = meetagain(tmp_path, "init")
    assert rerun.returncode == 0 and "setup?token=" not in rerun.stdout


# ---------------------------------------------------------------- password policy

WEAK = ["1234567890", "password123", "qwertyuiop", "aaaaaaaaaaaa", "iloveyou2024"]


@pytest.mark.parametrize("weak", WEAK)
def test_a_common_password_is_refused_with_the_reason(sqlite_runtime: Runtime, weak: str) -> None:
    with pytest.raises(AccountError) as refused:
        create_first_account(sqlite_runtime, "ana@example.com", weak)
    assert "too easy to guess" in str(refused.value)
    assert refused.value.field == "password"


def test_a_password_made_of_the_accounts_own_name_is_refused(sqlite_runtime: Runtime) -> None:
    with pytest.raises(AccountError, match="too easy to guess"):
        create_first_account(
            sqlite_runtime, "maximilian@example.com", "Maximilian2026", "Maximilian"
        )


def test_the_setup_form_names_the_rule(site: Web) -> None:
    site.get("/setup")
    short = site.post(
        "/setup", {"email": "a@example.com", "password": "12345678", "confirm": "12345678"}
    )
    assert short.status_code == 400 and "at least 10 characters" in text(short)
    weak = site.post(
        "/setup", {"email": "a@example.com", "password": "1234567890", "confirm": "1234567890"}
    )
    assert weak.status_code == 400 and "too easy to guess" in text(weak)
    assert "common password" in text(weak)


def test_settings_refuses_a_weak_new_password(site: Web, owner: int) -> None:
    weak = site.post(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "password1234",
            "confirm_password": "password1234",
        },
    )
    assert weak.status_code == 400 and "too easy to guess" in text(weak)
    assert site.sign_in("owner@example.com").status_code == 303  # unchanged


def test_the_password_command_refuses_a_weak_password(tmp_path: Path) -> None:
    assert meetagain(tmp_path, "init").returncode == 0
    runtime = Runtime(load_config(None, {"web": {"instance_path": str(tmp_path / "instance")}}))
    create_first_account(runtime, "nora@example.org", PASSWORD)
    runtime.engine.dispose()
    weak = subprocess.run(
        [sys.executable, "-m", "web", "password"],
        cwd=tmp_path,
        env=clean_env(),
        input="qwertyuiop\nqwertyuiop\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert weak.returncode == 2 and "too easy to guess" in weak.stderr
