"""The `meetagain` command as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from integrations.storage import db, models
from tests.helpers.processes import free_port

TODAY = date(2026, 3, 18)  # a Wednesday; the demo is relative to the --today given


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}
    env.update(extra)
    return env


def python(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run this Python with ARGS in `cwd` and a clean environment, capturing its output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def meetagain(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m web ARGS` (the same entry point as the `meetagain` script)."""
    return python(cwd, "-m", "web", *args, env=env)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def counts(url: str) -> dict[str, int]:
    engine = db.make_engine(url)
    tables = (
        models.User,
        models.Contact,
        models.ContactEmail,
        models.Interaction,
        models.Calendar,
    )
    try:
        with engine.connect() as conn:
            return {
                t.__tablename__: conn.scalar(select(func.count()).select_from(t)) or 0
                for t in tables
            }
    finally:
        engine.dispose()


# --- help and entry points ---------------------------------------------------------------------


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = meetagain(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("init", "demo", "serve", "db", "slots", "busy", "contacts", "due", "plan"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
    assert result.stderr == ""


@pytest.mark.parametrize("args", [[], ["contacts"]])
def test_a_group_without_a_command_shows_its_help_laid_out_and_exits_2(
    tmp_path: Path, args: list[str]
) -> None:
    result = meetagain(tmp_path, *args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Usage: meetagain") and "error:" not in result.stderr
    assert "Commands:" in lines
    assert re.search(r"^\s+import\s" if args else r"^\s+contacts\s", result.stderr, re.MULTILINE)


def test_a_worker_interval_out_of_range_is_refused(tmp_path: Path) -> None:
    for interval in ("-1", "0"):
        line = one_error_line(meetagain(tmp_path, "worker", "--interval", interval))
        assert "'--interval'" in line and "0.1<=x<=3600" in line


@pytest.mark.parametrize("args", [["--help"], ["db", "--help"]])
def test_help_imports_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    # What keeps `meetagain --help` well under half a second: no framework is imported for it.
    result = python(tmp_path, "-X", "importtime", "-m", "web", *args, timeout=60)
    assert result.returncode == 0, result.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    heavy = {"sqlalchemy", "alembic", "flask", "werkzeug", "jinja2", "google", "googleapiclient"}
    heavy |= {"icalendar", "recurring_ical_events", "caldav", "cryptography", "requests"}
    assert imported & heavy == set()


@pytest.mark.parametrize(
    "module",
    ["integrations.calendars.cache", "web.services.busy_reading", "web.services.calendar_read"],
)
def test_the_clis_calendar_reading_modules_load_no_sqlalchemy(tmp_path: Path, module: str) -> None:
    # `meetagain slots`/`busy` on a file, or on a store with nothing to sync, stay light:
    # what they import must not pull in SQLAlchemy (a helper moved into the wrong module did).
    code = f"import sys, {module}; print('sqlalchemy' in sys.modules)"
    result = python(tmp_path, "-c", code, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_installed_meetagain_script_runs() -> None:
    script = Path(sys.executable).parent / "meetagain"
    if not script.exists():
        pytest.skip("meetagain is not installed next to this Python")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert result.returncode == 0
    assert "breakfast and lunch" in result.stdout


# --- init --------------------------------------------------------------------------------------


def test_init_creates_the_instance_folder_a_private_secret_and_the_database(
    tmp_path: Path,
) -> None:
    result = meetagain(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    instance = tmp_path / "instance"
    secret = instance / "secret_key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert len(secret.read_text().strip()) >= 32
    assert (instance / "meetagain.db").is_file()
    url = f"sqlite:///{instance / 'meetagain.db'}"
    assert counts(url)["users"] == 1
    assert "created secret key" in result.stdout


def test_init_twice_keeps_the_secret_and_changes_nothing(tmp_path: Path) -> None:
    assert meetagain(tmp_path, "init").returncode == 0
    secret = tmp_path / "instance" / "secret_key"
    first = secret.read_bytes()
    url = f"sqlite:///{tmp_path / 'instance' / 'meetagain.db'}"
    before = counts(url)

    again = meetagain(tmp_path, "init")
    assert again.returncode == 0, again.stderr
    assert "kept existing secret key" in again.stdout
    assert secret.read_bytes() == first
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert counts(url) == before


def test_init_never_overwrites_a_secret_it_did_not_write(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "secret_key").write_text("x" * 40)
    result = meetagain(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    assert (instance / "secret_key").read_text() == "x" * 40


def test_init_uses_the_database_given_with_db(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "mine.db"
    result = meetagain(tmp_path, "--db", f"sqlite:///{other}", "init")
    assert result.returncode == 0, result.stderr
    assert other.is_file()
    assert not (tmp_path / "instance" / "meetagain.db").exists()


def test_init_honours_a_config_file_and_the_instance_variable(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[owner]\nemails = ["ada@example.com"]\n')
    env = clean_env(MEETAGAIN_INSTANCE=str(tmp_path / "state"))
    assert meetagain(tmp_path, "init", env=env).returncode == 0
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state' / 'meetagain.db'}")
    with engine.connect() as conn:
        assert conn.scalars(select(models.User.email)).all() == ["ada@example.com"]
    engine.dispose()


# --- demo --------------------------------------------------------------------------------------


def test_demo_twice_leaves_the_same_data(tmp_path: Path, database_url: str) -> None:
    args = ("--db", database_url, "demo", "--today", TODAY.isoformat())
    first = meetagain(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    after_first = counts(database_url)
    calendar = (tmp_path / "instance" / "demo-calendar.ics").read_bytes()

    second = meetagain(tmp_path, *args)
    assert second.returncode == 0, second.stderr
    assert counts(database_url) == after_first
    assert (tmp_path / "instance" / "demo-calendar.ics").read_bytes() == calendar
    assert "0 added" in second.stdout


def test_demo_holds_about_25_contacts_with_varied_relationships_and_histories(
    tmp_path: Path,
) -> None:
    assert meetagain(tmp_path, "demo", "--today", TODAY.isoformat()).returncode == 0
    engine = db.make_engine(f"sqlite:///{tmp_path / 'instance' / 'meetagain.db'}")
    with engine.connect() as conn:
        contacts = conn.execute(
            select(
                models.Contact.id,
                models.Contact.relationship_kind.label("relationship"),
                models.Contact.do_not_invite,
            )
        ).all()
        met = dict(
            conn.execute(
                select(models.Interaction.contact_id, func.count()).group_by(
                    models.Interaction.contact_id
                )
            ).all()
        )
    engine.dispose()
    assert 20 <= len(contacts) <= 30
    assert len({c.relationship for c in contacts}) >= 6
    times_met = [met.get(c.id, 0) for c in contacts]
    assert 0 in times_met  # never met
    assert 1 in times_met  # met once: the follow-up the product exists for
    assert max(times_met) >= 3  # an old friend
    assert any(c.do_not_invite for c in contacts)


def test_the_demo_calendar_is_a_valid_two_week_calendar_around_today(tmp_path: Path) -> None:
    import recurring_ical_events
    from icalendar import Calendar

    assert meetagain(tmp_path, "demo", "--today", TODAY.isoformat()).returncode == 0
    calendar = Calendar.from_ical((tmp_path / "instance" / "demo-calendar.ics").read_bytes())
    monday = TODAY - timedelta(days=TODAY.weekday())
    events = recurring_ical_events.of(calendar).between(monday, monday + timedelta(days=14))
    assert len(events) >= 15
    everything = recurring_ical_events.of(calendar).between(
        monday - timedelta(days=365), monday + timedelta(days=365)
    )
    assert len(everything) == len(events)


def test_demo_before_init_prepares_the_database_itself(tmp_path: Path) -> None:
    result = meetagain(tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    assert counts(f"sqlite:///{tmp_path / 'instance' / 'meetagain.db'}")["contacts"] >= 20


def test_days_outside_the_planned_years_exit_2_naming_the_option_and_keep_the_demo(
    tmp_path: Path,
) -> None:
    assert meetagain(tmp_path, "demo", "--today", TODAY.isoformat()).returncode == 0
    calendar = (tmp_path / "instance" / "demo-calendar.ics").read_bytes()
    before = counts(f"sqlite:///{tmp_path / 'instance' / 'meetagain.db'}")
    for args, option, day in (
        (("demo", "--today", "0001-01-01"), "--today", "0001-01-01"),
        (("due", "--now", "0001-01-01T00:00+14:00"), "--now", "0001-01-01"),
        (("plan", "--now", "9999-12-31T10:00+00:00"), "--now", "9999-12-31"),
        (("contacts", "meetings", "--now", "9999-12-31"), "--now", "9999-12-31"),
        (
            (
                "invites",
                "create",
                "--contact",
                "aisha.bello@example.com",
                "--at",
                "9999-12-31T12:30",
            ),
            "--at",
            "9999-12-31",
        ),
    ):
        line = one_error_line(meetagain(tmp_path, *args))
        assert line == f"error: {option} {day} is outside the years meetagain plans (1900 to 2999)"
    assert (tmp_path / "instance" / "demo-calendar.ics").read_bytes() == calendar
    assert counts(f"sqlite:///{tmp_path / 'instance' / 'meetagain.db'}") == before


# --- db upgrade --------------------------------------------------------------------------------


def test_db_upgrade_migrates_an_empty_database(tmp_path: Path, database_url: str) -> None:
    result = meetagain(tmp_path, "--db", database_url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    engine = db.make_engine(database_url)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()
    assert meetagain(tmp_path, "--db", database_url, "db", "upgrade").returncode == 0


def test_db_upgrade_says_the_revision_the_database_is_at_and_refuses_an_unknown_one(
    tmp_path: Path, database_url: str
) -> None:
    assert meetagain(tmp_path, "--db", database_url, "db", "upgrade").returncode == 0
    head = db.head_revision()
    # An older revision than the database's own changes nothing, and says where it stays.
    older = meetagain(tmp_path, "--db", database_url, "db", "upgrade", "--revision", "base")
    assert older.returncode == 0 and f"database at revision {head}:" in older.stdout
    line = one_error_line(
        meetagain(tmp_path, "--db", database_url, "db", "upgrade", "--revision", "bogus")
    )
    assert "--revision 'bogus'" in line and "Can't locate revision" in line
    assert "CommandError" not in line
    for odd in ("head+3", ""):
        line = one_error_line(
            meetagain(tmp_path, "--db", database_url, "db", "upgrade", "--revision", odd)
        )
        assert "--revision" in line and "AssertionError" not in line, line


def test_an_id_no_row_can_have_is_refused_by_name(tmp_path: Path) -> None:
    assert meetagain(tmp_path, "init").returncode == 0
    for noun in ("trips", "places"):
        huge = one_error_line(meetagain(tmp_path, noun, "remove", "9" * 23))
        assert "ids have at most 18 digits" in huge and "Overflow" not in huge
        for odd in ("abc", "²", "١٢"):
            line = one_error_line(meetagain(tmp_path, noun, "remove", odd))
            assert "not an id" in line and "ValueError" not in line, line
    assert "no trip with id 999" in one_error_line(meetagain(tmp_path, "trips", "remove", "999"))


def test_busy_on_a_database_from_before_the_calendar_store_says_to_upgrade(
    tmp_path: Path, database_url: str
) -> None:
    engine = db.make_engine(database_url)
    assert db.schema_state(engine) == "empty"
    up = meetagain(
        tmp_path, "--db", database_url, "db", "upgrade", "--revision", "0002_sessions_roles"
    )
    assert up.returncode == 0, up.stderr
    assert db.schema_state(engine) == "old"
    line = one_error_line(meetagain(tmp_path, "--db", database_url, "busy", "--format", "json"))
    assert "the database is not up to date: run `meetagain db upgrade`" in line
    assert meetagain(tmp_path, "--db", database_url, "db", "upgrade").returncode == 0
    assert db.schema_state(engine) == "ready"
    engine.dispose()


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://me:hunter2@127.0.0.1:1/none"
    result = meetagain(tmp_path, "--db", url, "db", "upgrade")
    line = one_error_line(result)
    assert line.startswith("error: meetagain could not reach its database and did nothing; ")
    assert "127.0.0.1" in line and "port 1" in line  # which server, for whoever runs it
    assert "hunter2" not in result.stdout + result.stderr


# --- errors: one line, exit 2, --verbose for the traceback -------------------------------------


def test_a_bad_config_file_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[windows.lunch]\nstart = "25:00"\nend = "13:30"\n')
    line = one_error_line(meetagain(tmp_path, "init"))
    assert line == (
        'error: config.toml: [windows.lunch] start "25:00" is not a time HH:MM (at line 2)'
    )


def test_a_missing_config_file_is_one_line(tmp_path: Path) -> None:
    line = one_error_line(meetagain(tmp_path, "--config", "missing.toml", "init"))
    assert line == "error: missing.toml: config file not found"
    assert not (tmp_path / "instance").exists()


def test_a_config_file_named_by_the_environment_must_exist(tmp_path: Path) -> None:
    env = clean_env(MEETAGAIN_CONFIG=str(tmp_path / "gone.toml"))
    line = one_error_line(meetagain(tmp_path, "init", env=env))
    assert line == f"error: {tmp_path / 'gone.toml'}: config file not found"


def test_a_folder_named_as_the_config_by_the_environment_is_blamed_on_it(tmp_path: Path) -> None:
    env = clean_env(MEETAGAIN_CONFIG=str(tmp_path))
    line = one_error_line(meetagain(tmp_path, "init", env=env))
    assert line == (
        f"error: Invalid value for '--config' (env var: 'MEETAGAIN_CONFIG'): "
        f"File '{tmp_path}' is a directory."
    )


def test_invalid_toml_is_one_line_with_the_line_number(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[owner\n")
    line = one_error_line(meetagain(tmp_path, "demo"))
    assert line.startswith("error: config.toml: not valid TOML:")
    assert "line 1" in line


def test_an_unknown_database_driver_is_one_line(tmp_path: Path) -> None:
    line = one_error_line(meetagain(tmp_path, "--db", "oracle+nope://db/x", "db", "upgrade"))
    assert "names an unknown database 'oracle+nope'" in line


def test_an_unknown_command_is_one_line(tmp_path: Path) -> None:
    line = one_error_line(meetagain(tmp_path, "frobnicate"))
    assert "frobnicate" in line


def test_verbose_shows_the_traceback_and_then_the_line(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[owner]\nnmae = 1\n")
    result = meetagain(tmp_path, "--verbose", "init")
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "error: config.toml: [owner] unknown key 'nmae' (did you mean 'name'?) (at line 2)"
    )


# --- serve -------------------------------------------------------------------------------------


def test_serve_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    assert meetagain(tmp_path, "init").returncode == 0
    (tmp_path / "instance" / "secret_key").unlink()
    line = one_error_line(meetagain(tmp_path, "serve", "--port", "0"))
    assert "no secret key" in line
    assert "MEETAGAIN_SECRET_KEY" in line


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = clean_env(MEETAGAIN_SECRET_KEY="k" * 40)
    line = one_error_line(meetagain(tmp_path, "serve", "--port", "0", env=env))
    assert "meetagain db upgrade" in line


def test_serve_builds_links_for_the_port_it_serves_unless_base_url_is_set(tmp_path: Path) -> None:
    from tests.conftest import make_config
    from web.cli import _served_at
    from web.composition import Runtime

    url = f"sqlite:///{tmp_path / 'x.db'}"
    default = Runtime(make_config(tmp_path, url))
    assert _served_at(default, "127.0.0.1", 5055).config.web.base_url == "http://127.0.0.1:5055"
    assert _served_at(default, "0.0.0.0", 8000).config.web.base_url == "http://127.0.0.1:8000"
    assert _served_at(default, "127.0.0.1", 5000) is default
    public = Runtime(make_config(tmp_path, url, web={"base_url": "https://coffee.example.org"}))
    assert _served_at(public, "127.0.0.1", 5055).config.web.base_url == (
        "https://coffee.example.org"
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`meetagain serve` on an ephemeral loopback port; yields its base URL."""
    with _serving(tmp_path) as base:
        yield base


def _wait_for_port(process: subprocess.Popen[str], seen: list[str]) -> str:
    """The address `serve` announces; what it printed until then is added to `seen`."""
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        match = re.search(r"meetagain on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return match.group(1)
    raise AssertionError("serve did not start:\n" + "".join(seen))


def test_serving_on_another_port_prints_the_setup_link_for_that_port(tmp_path: Path) -> None:
    printed: list[str] = []
    with _serving(tmp_path, printed=printed) as base:
        init_out, served_out = printed[0], "".join(printed[1:])
        from_init = re.search(r"/setup\?token=(\S+)", init_out)
        from_serve = re.search(r"at: (\S+)/setup\?token=(\S+)", served_out)
        assert from_init and from_serve, served_out
        assert from_serve.group(1) == base  # the port the system picked, not 5000
        assert _setup_token_valid(tmp_path, from_serve.group(2))
        assert not _setup_token_valid(tmp_path, from_init.group(1))  # replaced


def _setup_token_valid(cwd: Path, token: str) -> bool:
    """Whether the instance in `cwd` still takes this setup link's token."""
    from integrations.config import load_config
    from web.composition import Runtime
    from web.services.accounts import setup_token_valid

    config = load_config(None, {"web": {"instance_path": str(cwd / "instance")}})
    runtime = Runtime(config)
    try:
        return setup_token_valid(runtime, token)
    finally:
        runtime.engine.dispose()


def test_init_told_the_port_prints_the_link_serve_on_it_answers(tmp_path: Path) -> None:
    # What `make run PORT=...` does: one setup link, naming the port the server listens on.
    port = free_port()
    printed: list[str] = []
    with _serving(tmp_path, printed=printed, port=port) as base:
        assert base == f"http://127.0.0.1:{port}"
        link = re.search(r"at: (\S+/setup\?token=\S+)", printed[0])
        assert link and link.group(1).startswith(f"{base}/setup?token="), printed[0]
        assert "setup?token=" not in "".join(printed[1:])  # serve replaced nothing
        with urllib.request.urlopen(link.group(1), timeout=10) as response:
            assert response.status == 200
        assert _setup_token_valid(tmp_path, link.group(1).rsplit("=", 1)[1])


def test_serving_again_where_init_said_after_serving_elsewhere_prints_a_working_link(
    tmp_path: Path,
) -> None:
    port = free_port()
    assert meetagain(tmp_path, "init", "--port", str(port)).returncode == 0
    elsewhere: list[str] = []
    with _serve(tmp_path, signal.SIGINT, elsewhere):  # its link replaces init's
        assert "setup?token=" in "".join(elsewhere)
    again: list[str] = []
    with _serve(tmp_path, signal.SIGINT, again, port) as base:
        link = re.search(r"at: (\S+)/setup\?token=(\S+)", "".join(again))
        assert link and link.group(1) == base, "".join(again)
    assert _setup_token_valid(tmp_path, link.group(2))


def test_serving_where_init_said_prints_no_second_setup_link(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[web]\nbase_url = "https://coffee.example.org"\n')
    printed: list[str] = []
    with _serving(tmp_path, printed=printed):
        assert "https://coffee.example.org/setup?token=" in printed[0]
        assert "setup?token=" not in "".join(printed[1:])


def test_serve_answers_health_checks(served: str) -> None:
    with urllib.request.urlopen(f"{served}/healthz", timeout=10) as response:
        assert response.status == 200
        assert b'"ok"' in response.read()


def _next_weekday_lunch(days: int = 3) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from integrations.config import OwnerConfig

    day = datetime.now(ZoneInfo(OwnerConfig().timezone)).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, datetime.min.time()).replace(hour=12, minute=30).isoformat()


def _invite_link(cwd: Path, days: int = 3) -> str:
    import json

    ran = meetagain(
        cwd, "invites", "create", "--contact", "ana@example.org", "--at", _next_weekday_lunch(days),
        "--no-email", "--format", "json", "--force",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    url: str = json.loads(ran.stdout)["url"]
    return url


def test_cli_invite_links_point_at_the_running_server_else_at_port_5000(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("name,email\nAna Souza,ana@example.org\n")
    serving = tmp_path / "instance" / "serving.json"
    with _serving(tmp_path) as base:
        assert meetagain(tmp_path, "contacts", "import", "c.csv").returncode == 0
        assert _invite_link(tmp_path).startswith(f"{base}/i/")
        assert base != "http://127.0.0.1:5000"
        assert serving.exists()
    assert not serving.exists()  # removed when the server stopped
    assert _invite_link(tmp_path, days=10).startswith("http://127.0.0.1:5000/i/")


def test_cli_invite_links_use_the_configured_base_url_even_while_serving(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("name,email\nAna Souza,ana@example.org\n")
    (tmp_path / "config.toml").write_text('[web]\nbase_url = "https://coffee.example.org"\n')
    with _serving(tmp_path, stop=signal.SIGTERM):
        assert meetagain(tmp_path, "contacts", "import", "c.csv").returncode == 0
        assert _invite_link(tmp_path).startswith("https://coffee.example.org/i/")
    assert not (tmp_path / "instance" / "serving.json").exists()  # SIGTERM cleans up too


def test_a_server_killed_without_clean_up_does_not_capture_cli_links(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("name,email\nAna Souza,ana@example.org\n")
    with _serving(tmp_path, stop=signal.SIGKILL):
        assert meetagain(tmp_path, "contacts", "import", "c.csv").returncode == 0
    assert (tmp_path / "instance" / "serving.json").exists()  # left behind by kill -9
    assert _invite_link(tmp_path).startswith("http://127.0.0.1:5000/i/")


@contextmanager
def _serving(
    cwd: Path, stop: int = signal.SIGINT, printed: list[str] | None = None, port: int = 0
) -> Iterator[str]:
    """`meetagain init` (told the port, when one is given), then `serve` on that port or an
    ephemeral one (what each printed goes to `printed`); yields the address."""
    init = meetagain(cwd, "init", *(["--port", str(port)] if port else []))
    assert init.returncode == 0
    seen = printed if printed is not None else []
    seen.append(init.stdout)
    with _serve(cwd, stop, seen, port) as base:
        yield base


@contextmanager
def _serve(cwd: Path, stop: int, seen: list[str], port: int = 0) -> Iterator[str]:
    """`serve` on `port` (0: an ephemeral one); what it printed goes to `seen`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "web", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield _wait_for_port(process, seen)
    finally:
        process.send_signal(stop)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


def test_serve_refuses_a_short_secret_key_from_the_environment(tmp_path: Path) -> None:
    assert meetagain(tmp_path, "init").returncode == 0
    env = clean_env(MEETAGAIN_SECRET_KEY="dev")
    line = one_error_line(meetagain(tmp_path, "serve", "--port", "0", env=env))
    assert line == "error: MEETAGAIN_SECRET_KEY is too short (at least 32 characters)"


# --- deployment --------------------------------------------------------------------------------


def test_gunicorn_serves_the_wsgi_entry_point(tmp_path: Path) -> None:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed (pip install '.[deploy]')")
    # As the README deploys: secret and database from the environment, `db upgrade`, gunicorn.
    env = clean_env(
        MEETAGAIN_SECRET_KEY="s" * 48,
        MEETAGAIN_DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}",
        HOME=str(tmp_path),  # gunicorn keeps its control socket under $HOME
    )
    assert meetagain(tmp_path, "db", "upgrade", env=env).returncode == 0
    process = subprocess.Popen(
        [str(gunicorn), "--workers", "1", "--bind", "127.0.0.1:0", "web.http.wsgi:app"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        base = ""
        while not base and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            if match := re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line):
                base = match.group(1)
        assert base, "gunicorn did not start"
        for _ in range(100):  # the worker boots after the master listens
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
                    assert response.status == 200
                    break
            except OSError:  # URLError and resets while the worker boots
                time.sleep(0.1)
        else:
            raise AssertionError("gunicorn never answered /healthz")
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_serve_refuses_a_port_that_does_not_exist(tmp_path: Path, port: str) -> None:
    # 99999 was taken modulo 65536: the server listened on 34463, where nobody would look.
    line = one_error_line(meetagain(tmp_path, "serve", "--port", port))
    assert line == f"error: Invalid value for '--port': {port} is not in the range 0<=x<=65535."
