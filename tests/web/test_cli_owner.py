"""Which user the command line acts for, before and after the web setup page claims the owner."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from integrations.config import load_config
from integrations.storage import db, models
from tests.web.test_cli_foundation import clean_env, meetagain, one_error_line
from web.composition import Runtime
from web.services.accounts import authenticate, create_first_account, create_user


def _runtime(tmp_path: Path) -> Runtime:
    return Runtime(load_config(None, {"web": {"instance_path": str(tmp_path / "instance")}}))


def _users(tmp_path: Path) -> list[str]:
    rt = _runtime(tmp_path)
    with rt.engine.connect() as conn:
        emails = list(conn.scalars(select(models.User.email).order_by(models.User.id)))
    rt.engine.dispose()
    return emails


def test_the_cli_follows_the_owner_after_the_setup_page_renamed_them(tmp_path: Path) -> None:
    assert meetagain(tmp_path, "init").returncode == 0
    assert meetagain(tmp_path, "demo", "--today", "2026-03-18").returncode == 0
    rt = _runtime(tmp_path)
    create_first_account(rt, "nora@example.org", "a long enough password")
    rt.engine.dispose()

    listed = meetagain(tmp_path, "contacts", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert "Ana Souza" in listed.stdout

    # `make run` again: init and demo must not create a hidden second owner.
    assert meetagain(tmp_path, "init").returncode == 0
    assert meetagain(tmp_path, "demo", "--today", "2026-03-18").returncode == 0
    assert _users(tmp_path) == ["nora@example.org"]
    rt = _runtime(tmp_path)
    with rt.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(models.Contact)) == 25
    rt.engine.dispose()


def test_with_several_users_and_no_match_the_cli_asks_for_user(tmp_path: Path) -> None:
    assert meetagain(tmp_path, "init").returncode == 0
    rt = _runtime(tmp_path)
    create_first_account(rt, "nora@example.org", "a long enough password")
    create_user(rt, "sam@example.org", "another long password")
    rt.engine.dispose()

    line = one_error_line(meetagain(tmp_path, "due"))
    assert "--user" in line and "nora@example.org" in line and "sam@example.org" in line
    chosen = meetagain(tmp_path, "--user", "SAM@example.org", "due", "--format", "json")
    assert chosen.returncode == 0, chosen.stderr
    assert "no user" in one_error_line(meetagain(tmp_path, "--user", "x@example.org", "due"))


def test_a_database_that_was_never_set_up_is_named_with_the_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    line = one_error_line(meetagain(tmp_path, "--db", url, "due"))
    assert "is not set up" in line and "meetagain init" in line
    assert db.current_revision(db.make_engine(url)) is None


def test_a_forgotten_password_is_set_again_from_the_command_line(tmp_path: Path) -> None:
    assert meetagain(tmp_path, "init").returncode == 0
    rt = _runtime(tmp_path)
    create_first_account(rt, "nora@example.org", "a long enough password")
    create_user(rt, "sam@example.org", "another long password")
    rt.engine.dispose()

    def password(*args: str, typed: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "web", *args, "password"],
            cwd=tmp_path,
            env=clean_env(),
            input=typed,
            capture_output=True,
            text=True,
            timeout=120,
        )

    nothing = password("--user", "sam@example.org", typed="")
    assert nothing.returncode == 2
    assert "error: no new password on standard input" in nothing.stderr
    short = password("--user", "sam@example.org", typed="short\nshort\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    differ = password("--user", "sam@example.org", typed="remembered at last\nremembered at lats\n")
    assert differ.returncode == 2
    assert differ.stderr == "error: the two passwords on standard input differ\n"
    done = password("--user", "sam@example.org", typed="remembered at last\nremembered at last\n")
    assert done.returncode == 0, done.stderr
    assert "Password changed" in done.stdout
    assert done.stderr == ""  # no getpass warning about echo on a terminal there is not
    rt = _runtime(tmp_path)
    assert authenticate(rt, "sam@example.org", "remembered at last") is not None
    assert authenticate(rt, "sam@example.org", "another long password") is None
    assert authenticate(rt, "nora@example.org", "a long enough password") is not None
    rt.engine.dispose()


def test_a_password_piped_in_from_a_terminal_session_is_read_from_the_pipe(tmp_path: Path) -> None:
    """`printf ... | meetagain password` typed in a terminal: a hidden prompt would read the
    terminal (getpass opens /dev/tty) and wait there; the pipe is what was meant."""
    assert meetagain(tmp_path, "init").returncode == 0
    rt = _runtime(tmp_path)
    create_first_account(rt, "nora@example.org", "a long enough password")
    rt.engine.dispose()
    command = (
        "printf 'piped from a shell\\npiped from a shell\\n' | "
        f"{shlex.quote(sys.executable)} -m web password"
    )
    # `script` gives the command a terminal of its own, as an interactive shell has.
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Password changed" in done.stdout
    rt = _runtime(tmp_path)
    assert authenticate(rt, "nora@example.org", "piped from a shell") is not None
    rt.engine.dispose()
