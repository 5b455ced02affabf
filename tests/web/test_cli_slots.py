"""`meetagain slots` and `meetagain busy` as a user runs them: real subprocesses, real files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

ICS = Path(__file__).parent.parent / "data" / "ics"
ROOT = Path(__file__).parent.parent.parent


def meetagain(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "web", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = meetagain(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def fails(*args: str, cwd: Path) -> str:
    result = meetagain(*args, cwd=cwd)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


MARCH_2 = ["--tz", "Europe/Berlin", "--from", "2026-03-02", "--now", "2026-03-01T09:00:00+01:00"]


def test_slots_json_is_one_object_with_rfc3339_times_in_the_users_offset(tmp_path: Path) -> None:
    result = ok(
        "slots",
        "--calendar",
        str(ICS / "declined.ics"),
        "--calendar",
        str(ICS / "second_calendar.ics"),
        *MARCH_2,
        "--days",
        "2",
        "--me",
        "owner@example.com",
        "--format",
        "json",
        cwd=tmp_path,
    )
    # Monday: breakfast is within the 24 h notice, lunch keeps only 20 minutes after the
    # accepted talk plus buffer.
    assert json.loads(result.stdout) == {
        "slots": [
            {
                "window": "breakfast",
                "start": "2026-03-03T07:30:00+01:00",
                "end": "2026-03-03T09:00:00+01:00",
            },
            {
                "window": "lunch",
                "start": "2026-03-03T12:00:00+01:00",
                "end": "2026-03-03T13:30:00+01:00",
            },
        ]
    }
    assert result.stdout.count("\n") == 1


def test_every_slot_flag_overrides_the_defaults(tmp_path: Path) -> None:
    result = ok(
        "slots",
        "--calendar",
        str(ICS / "declined.ics"),
        *MARCH_2,
        "--days",
        "7",
        "--window",
        "coffee=15:30-17:00",
        "--weekdays",
        "mon,wed",
        "--duration",
        "30",
        "--buffer",
        "0",
        "--notice",
        "0",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert json.loads(result.stdout)["slots"] == [
        {
            "window": "coffee",
            "start": "2026-03-02T16:00:00+01:00",
            "end": "2026-03-02T17:00:00+01:00",
        },
        {
            "window": "coffee",
            "start": "2026-03-04T15:30:00+01:00",
            "end": "2026-03-04T17:00:00+01:00",
        },
    ]


def test_the_offset_in_the_output_follows_dst(tmp_path: Path) -> None:
    result = ok(
        "busy",
        "--calendar",
        str(ICS / "weekly_across_dst_berlin.ics"),
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-03-23",
        "--days",
        "14",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert json.loads(result.stdout) == {
        "busy": [
            {"start": "2026-03-23T07:30:00+01:00", "end": "2026-03-23T08:30:00+01:00"},
            {"start": "2026-03-30T07:30:00+02:00", "end": "2026-03-30T08:30:00+02:00"},
        ]
    }


def test_busy_merges_calendars_and_shows_them_in_the_chosen_zone(tmp_path: Path) -> None:
    result = ok(
        "busy",
        "--calendar",
        str(ICS / "declined.ics"),
        "--calendar",
        str(ICS / "second_calendar.ics"),
        "--tz",
        "America/New_York",
        "--from",
        "2026-03-02",
        "--days",
        "1",
        "--me",
        "OWNER@example.com",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert json.loads(result.stdout)["busy"] == [
        {"start": "2026-03-02T02:20:00-05:00", "end": "2026-03-02T03:30:00-05:00"},
        {"start": "2026-03-02T06:00:00-05:00", "end": "2026-03-02T07:00:00-05:00"},
        {"start": "2026-03-02T09:00:00-05:00", "end": "2026-03-02T10:00:00-05:00"},
    ]


def test_text_output_is_a_table_grouped_by_day(tmp_path: Path) -> None:
    result = ok(
        "slots",
        "--calendar",
        str(ICS / "recurrence_id_moved.ics"),
        *MARCH_2,
        "--days",
        "2",
        "--notice",
        "0",
        cwd=tmp_path,
    )
    assert result.stdout.splitlines() == [
        "Free slots in Europe/Berlin, Mon 2026-03-02 to Tue 2026-03-03",
        "Mon 2026-03-02",
        "  breakfast  07:30-09:00  (1 h 30 min)",
        "Tue 2026-03-03",
        "  breakfast  07:30-09:00  (1 h 30 min)",
        "  lunch      12:00-13:30  (1 h 30 min)",
    ]
    busy = ok(
        "busy", "--calendar", str(ICS / "all_day.ics"), *MARCH_2[:4], "--days", "3", cwd=tmp_path
    )
    assert busy.stdout.splitlines() == [
        "Busy in Europe/Berlin, Mon 2026-03-02 to Wed 2026-03-04",
        "Tue 2026-03-03",
        "  00:00-24:00  (24 h)",
    ]


def test_json_uses_the_users_quarter_hour_offset_exactly(tmp_path: Path) -> None:
    # The floating 08:00-09:00 dentist is in Kathmandu time (+05:45) for a user there.
    result = ok(
        "slots",
        "--calendar",
        str(ICS / "floating.ics"),
        "--tz",
        "Asia/Kathmandu",
        "--from",
        "2026-03-02",
        "--days",
        "1",
        "--now",
        "2026-03-01T00:00:00Z",
        "--window",
        "breakfast=07:30-09:00",
        "--duration",
        "30",
        "--buffer",
        "0",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert result.stdout == (
        '{"slots": [{"window": "breakfast", "start": "2026-03-02T07:30:00+05:45", '
        '"end": "2026-03-02T08:00:00+05:45"}]}\n'
    )


def test_a_slot_across_the_autumn_clock_change_shows_its_real_length(tmp_path: Path) -> None:
    # 01:00-03:30 on 25 October 2026 in Berlin lasts 3 h 30 min: 02:00-03:00 happens twice.
    result = ok(
        "slots",
        "--calendar",
        str(ICS / "all_day.ics"),
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-10-25",
        "--days",
        "1",
        "--now",
        "2026-10-01T00:00:00Z",
        "--window",
        "night=01:00-03:30",
        "--weekdays",
        "sun",
        "--buffer",
        "0",
        cwd=tmp_path,
    )
    lines = result.stdout.splitlines()
    assert lines[1:] == ["Sun 2026-10-25", "  night  01:00-03:30  (3 h 30 min)"]


def test_from_defaults_to_today_in_the_zone_of_now(tmp_path: Path) -> None:
    result = ok(
        "slots",
        "--calendar",
        str(ICS / "declined.ics"),
        "--tz",
        "Asia/Tokyo",
        "--now",
        "2026-03-02T20:00:00Z",  # already Tuesday in Tokyo
        "--days",
        "1",
        "--notice",
        "0",
        "--format",
        "json",
        cwd=tmp_path,
    )
    starts = [s["start"] for s in json.loads(result.stdout)["slots"]]
    assert starts == ["2026-03-03T07:30:00+09:00", "2026-03-03T12:00:00+09:00"]


def test_an_event_with_an_unreadable_recurrence_id_is_skipped_with_a_warning(
    tmp_path: Path,
) -> None:
    result = ok(
        "busy",
        "--calendar",
        str(ICS / "bad_recurrence_id.ics"),
        *MARCH_2[:4],
        "--days",
        "2",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert len(json.loads(result.stdout)["busy"]) == 1
    (warning,) = result.stderr.strip().splitlines()
    assert "skipped event UID u1@x (line 14): bad RECURRENCE-ID" in warning


def test_a_vtimezone_with_offsets_out_of_range_is_refused_with_its_line(tmp_path: Path) -> None:
    message = fails(
        "slots", "--calendar", str(ICS / "vtimezone_offset_out_of_range.ics"), cwd=tmp_path
    )
    assert "line 8 in STANDARD: bad TZOFFSETFROM" in message
    assert "Traceback" not in message


def test_a_malformed_event_is_a_warning_on_stderr_and_the_rest_is_used(tmp_path: Path) -> None:
    result = ok(
        "busy",
        "--calendar",
        str(ICS / "malformed_event.ics"),
        *MARCH_2[:4],
        "--days",
        "2",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert len(json.loads(result.stdout)["busy"]) == 2
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith("warning: ")
    assert "broken-start@example.com" in warning and "line 14" in warning


def test_an_unknown_zone_exits_2_with_one_line(tmp_path: Path) -> None:
    line = fails(
        "slots", "--calendar", str(ICS / "declined.ics"), "--tz", "Mars/Olympus", cwd=tmp_path
    )
    assert "Mars/Olympus" in line and "time zone" in line


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        ("lunch=12:00-25:00", '"25:00" is not a time'),
        ("lunch=13:00-12:00", "not after the start"),
        ("lunch 12:00-13:00", "NAME=HH:MM-HH:MM"),
    ],
)
def test_a_malformed_window_exits_2_naming_it(tmp_path: Path, window: str, problem: str) -> None:
    line = fails("slots", "--calendar", str(ICS / "declined.ics"), "--window", window, cwd=tmp_path)
    assert "--window" in line and problem in line


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("slots", "--from", "9999-12-30"), "--from 9999-12-30 is outside the years"),
        (("busy", "--from", "0001-01-01"), "--from 0001-01-01 is outside the years"),
        (("slots", "--now", "9999-12-31T12:00Z"), "--now 9999-12-31 is outside the years"),
        (("slots", "--duration", "99999999999999"), "--duration must be at most 1440 minutes"),
        # The shortest meeting a config or the setup page may ask for, too.
        (("slots", "--duration", "3"), "--duration: must be at least 5 minutes"),
        (("slots", "--buffer", "-1"), "--buffer must not be negative"),
        (("slots", "--days", "99999"), "--days: at most 366 days"),
    ],
)
def test_a_day_or_length_out_of_range_exits_2_naming_the_option(
    tmp_path: Path, args: tuple[str, ...], problem: str
) -> None:
    line = fails(*args, "--calendar", str(ICS / "declined.ics"), cwd=tmp_path)
    assert problem in line and "Overflow" not in line


def test_a_missing_calendar_file_exits_2_naming_the_path(tmp_path: Path) -> None:
    line = fails("busy", "--calendar", "no/such/calendar.ics", cwd=tmp_path)
    assert "no/such/calendar.ics" in line


def test_an_unparseable_calendar_exits_2_with_line_and_component(tmp_path: Path) -> None:
    line = fails("slots", "--calendar", str(ICS / "unclosed_event.ics"), *MARCH_2, cwd=tmp_path)
    assert "unclosed_event.ics" in line and "line 13" in line and "VEVENT" in line


def test_an_unreachable_feed_exits_2_saying_why(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/team.ics"
    # Loopback is allowed explicitly; without it the guard refuses before connecting.
    line = fails("busy", "--calendar", url, *MARCH_2[:4], cwd=tmp_path)
    assert url in line and "loopback addresses are not contacted" in line
    (tmp_path / "config.toml").write_text("[security]\nallow_private_networks = true\n")
    line = fails("busy", "--calendar", url, *MARCH_2[:4], cwd=tmp_path)
    assert url in line and "connection refused" in line


def test_config_calendars_windows_and_policy_apply_without_flags(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        f"""
[owner]
emails = ["owner@example.com"]
timezone = "Europe/Berlin"

[windows.brunch]
start = "10:00"
end = "11:30"
weekdays = ["mon"]

[scheduling]
duration_minutes = 60
buffer_minutes = 0
min_notice_hours = 0
horizon_days = 7

[[calendars]]
name = "work"
kind = "ics"
path = "{ICS / "duration.ics"}"
""",
        encoding="utf-8",
    )
    result = ok(
        "slots",
        "--from",
        "2026-03-02",
        "--now",
        "2026-03-01T00:00:00Z",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert json.loads(result.stdout)["slots"] == []  # the workshop 10:30-12:00 leaves 30 min
    by_name = ok(
        "slots",
        "--calendar",
        "work",
        "--from",
        "2026-03-09",
        "--now",
        "2026-03-01T00:00:00Z",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert json.loads(by_name.stdout)["slots"] == [
        {
            "window": "brunch",
            "start": "2026-03-09T10:00:00+01:00",
            "end": "2026-03-09T11:30:00+01:00",
        }
    ]
    overridden = ok(
        "slots",
        "--from",
        "2026-03-02",
        "--now",
        "2026-03-01T00:00:00Z",
        "--duration",
        "20",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert [s["start"] for s in json.loads(overridden.stdout)["slots"]] == [
        "2026-03-02T10:00:00+01:00"
    ]


def test_slots_work_in_a_fresh_checkout_without_creating_a_database(tmp_path: Path) -> None:
    ok("busy", "--calendar", str(ICS / "declined.ics"), *MARCH_2[:4], "--days", "1", cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []


WATCH = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('loaded:' + ','.join(sorted(m for m in "
    "('icalendar', 'recurring_ical_events', 'sqlalchemy') if m in sys.modules)) + '\\n'))\n"
    "sys.argv[0] = 'meetagain'\n"
    "from web.cli import main\n"
    "main()\n"
)


def test_a_warm_cache_answers_without_loading_the_ics_parser(tmp_path: Path) -> None:
    ok("init", cwd=tmp_path)
    args = ["slots", "--calendar", str(ICS / "declined.ics"), *MARCH_2, "--days", "3"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}

    def run() -> tuple[str, str]:
        done = subprocess.run(
            [sys.executable, "-c", WATCH, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr.strip().splitlines()[-1]

    cold_out, cold_loaded = run()
    warm_out, warm_loaded = run()
    assert warm_out == cold_out
    assert cold_loaded == "loaded:icalendar,recurring_ical_events"
    assert warm_loaded == "loaded:"


def test_a_feed_read_twice_after_init_is_a_304_the_second_time(tmp_path: Path) -> None:
    from tests.helpers.http_server import LoopbackHttpServer

    # The feed is on loopback: allowed explicitly, as a self-hoster would.
    (tmp_path / "config.toml").write_text("[security]\nallow_private_networks = true\n")
    ok("init", cwd=tmp_path)
    with LoopbackHttpServer() as server:
        url = server.serve("/team.ics", (ICS / "declined.ics").read_bytes(), etag='"v1"')
        webcal = url.replace("http://", "webcal://")
        args = ["busy", "--calendar", webcal, *MARCH_2[:4], "--days", "1", "--format", "json"]
        first = ok(*args, cwd=tmp_path)
        second = ok(*args, cwd=tmp_path)
        assert server.statuses("/team.ics") == [200, 304]
    assert first.stdout == second.stdout
    # The default owner (owner@example.com) declined one of the three events.
    assert len(json.loads(first.stdout)["busy"]) == 2


def test_a_google_calendar_before_init_says_what_to_do_without_creating_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.toml").write_text(
        '[[calendars]]\nname = "google"\nkind = "google"\n', encoding="utf-8"
    )
    line = fails("slots", "--calendar", "google", *MARCH_2, cwd=tmp_path)
    assert "meetagain init" in line and "connect Google" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_without_calendar_slots_reads_the_apps_calendars_by_their_names_and_windows(
    tmp_path: Path,
) -> None:
    """The CLI acts like the app: the calendars added there (from the store), their names, and
    the meal windows the user set in the app."""
    from datetime import UTC, datetime, timedelta

    from integrations.storage import models
    from integrations.storage.db import transaction
    from tests.conftest import make_config
    from web.composition import Runtime

    today = datetime.now(UTC).date()
    monday = today + timedelta(days=14 - today.weekday())
    when = ["--tz", "Europe/Berlin", "--from", monday.isoformat(), "--days", "1"]
    assert "error: no calendar given" in fails("slots", *when, cwd=tmp_path)  # before init
    ok("init", cwd=tmp_path)
    work = tmp_path / "work.ics"
    work.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:a@t\r\n"
        "DTSTAMP:20260101T000000Z\r\n"
        f"DTSTART;TZID=Europe/Berlin:{monday:%Y%m%d}T120000\r\n"
        f"DTEND;TZID=Europe/Berlin:{monday:%Y%m%d}T130000\r\n"
        "SUMMARY:Team lunch\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'instance' / 'meetagain.db'}")
    runtime = Runtime(config)
    owner = runtime.owner_id(create=True)
    with transaction(runtime.sessions) as session:
        user = session.get(models.User, owner)
        assert user is not None
        user.settings = {"windows": {"lunch": {"start": "12:00", "end": "14:00"}}}
        session.add(
            models.Calendar(
                user_id=owner,
                name="Work (app)",
                kind="ics",
                location=str(work),
                counts_as_busy=True,
                receives_events=False,
                last_error="",
                created_at=datetime.now(UTC),
            )
        )
    runtime.engine.dispose()
    every = json.loads(ok("slots", "--format", "json", *when, cwd=tmp_path).stdout)
    named = json.loads(
        ok("slots", "--calendar", "Work (app)", "--format", "json", *when, cwd=tmp_path).stdout
    )
    assert every == named
    lunch = [s for s in every["slots"] if s["window"] == "lunch"]
    # Busy 12:00-13:00 in the app's calendar (plus the 10-minute buffer); the user's lunch
    # window (set in the app) runs to 14:00, where the config file's ends at 13:30.
    assert [(s["start"][11:16], s["end"][11:16]) for s in lunch] == [("13:10", "14:00")]
    line = fails("slots", "--calendar", "Holidays", *when, cwd=tmp_path)
    assert line == "error: Holidays: no calendar of that name (yours: Work (app))"
    # A missing file is named as the file it was meant to be.
    line = fails("slots", "--calendar", str(tmp_path / "gone.ics"), *when, cwd=tmp_path)
    assert line == (
        f"error: {tmp_path / 'gone.ics'}: no such calendar file, and no calendar of that name "
        "(yours: Work (app))"
    )


def test_after_init_config_calendars_are_read_from_the_store_without_calendar(
    tmp_path: Path,
) -> None:
    """A fresh `init` with [[calendars]] and no account yet: `slots` syncs the config's calendar
    into the store and answers as reading the file would."""
    (tmp_path / "config.toml").write_text(
        f"""
[owner]
emails = ["owner@example.com"]
timezone = "Europe/Berlin"

[[calendars]]
name = "work"
kind = "ics"
path = "{tmp_path / "work.ics"}"
""",
        encoding="utf-8",
    )
    ok("init", cwd=tmp_path)
    from datetime import timedelta

    monday = _monday_ahead()
    work = tmp_path / "work.ics"
    work.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:a@t\r\n"
        "DTSTAMP:20260101T000000Z\r\n"
        f"DTSTART;TZID=Europe/Berlin:{monday:%Y%m%d}T073000\r\n"
        f"DTEND;TZID=Europe/Berlin:{monday:%Y%m%d}T083000\r\n"
        "SUMMARY:Early call\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    when = ["--tz", "Europe/Berlin", "--from", monday.isoformat(), "--days", "2"]
    from_store = json.loads(ok("slots", *when, "--format", "json", cwd=tmp_path).stdout)
    from_file = json.loads(
        ok("slots", "--calendar", str(work), *when, "--format", "json", cwd=tmp_path).stdout
    )
    assert from_store == from_file
    breakfast = [s["start"][:10] for s in from_store["slots"] if s["window"] == "breakfast"]
    # The call leaves 20 minutes of Monday's breakfast: too short for a coffee; Tuesday is free.
    assert breakfast == [(monday + timedelta(days=1)).isoformat()]
    # Outside the dates the store keeps, it says so rather than offering unknown times.
    far = ok("slots", "--from", "2020-01-06", "--days", "1", "--tz", "Europe/Berlin", cwd=tmp_path)
    assert "busy time is kept only for the days around today" in far.stderr


def _monday_ahead() -> date:
    """A Monday at least two days ahead: the 24 hours' notice never reaches its breakfast (on a
    Sunday morning, tomorrow's 07:30 would be too soon to offer)."""
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    ahead = 7 - today.weekday()
    return today + timedelta(days=ahead if ahead >= 2 else ahead + 7)


def _calendar_with(path: Path, day: date, start: str, end: str, summary: str) -> None:
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{summary}@t\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART;TZID=Europe/Berlin:{day:%Y%m%d}T{start}00\r\n"
        f"DTEND;TZID=Europe/Berlin:{day:%Y%m%d}T{end}00\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def _config_with_calendars(folder: Path, database_url: str, *names: str) -> None:
    entries = "".join(
        f'[[calendars]]\nname = "{n}"\nkind = "ics"\npath = "{folder / (n + ".ics")}"\n\n'
        for n in names
    )
    (folder / "config.toml").write_text(
        f'[database]\nurl = "{database_url}"\n\n[owner]\nemails = ["owner@example.com"]\n'
        f'timezone = "Europe/Berlin"\n\n{entries}',
        encoding="utf-8",
    )


def _breakfasts(folder: Path, when: list[str]) -> list[str]:
    found = json.loads(ok("slots", *when, "--format", "json", cwd=folder).stdout)
    return [s["start"][:16] for s in found["slots"] if s["window"] == "breakfast"]


def test_a_second_read_from_the_store_loads_neither_sqlalchemy_nor_the_ics_parser(
    tmp_path: Path,
) -> None:
    from datetime import timedelta

    monday = _monday_ahead()
    _calendar_with(tmp_path / "work.ics", monday, "0730", "0830", "Early call")
    _config_with_calendars(tmp_path, f"sqlite:///{tmp_path / 'meetagain.db'}", "work")
    ok("init", cwd=tmp_path)
    args = ["slots", "--tz", "Europe/Berlin", "--from", monday.isoformat(), "--days", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}

    def run() -> tuple[str, str]:
        done = subprocess.run(
            [sys.executable, "-c", WATCH, *args, "--format", "json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr.strip().splitlines()[-1]

    first_out, first_loaded = run()  # syncs the calendar into the store
    second_out, second_loaded = run()
    assert second_out == first_out
    assert first_loaded == "loaded:icalendar,recurring_ical_events,sqlalchemy"
    assert second_loaded == "loaded:"
    # The early call leaves Monday's breakfast too short; Tuesday's is free.
    starts = [
        s["start"][:10] for s in json.loads(second_out)["slots"] if s["window"] == "breakfast"
    ]
    assert starts == [(monday + timedelta(days=1)).isoformat()]


def test_slots_from_the_store_follow_config_calendars_added_changed_and_queued(
    tmp_path: Path, database_url: str
) -> None:
    """Reading the store as it is happens only when nothing is due: a calendar added to
    config.toml, one whose file moved, and one queued by "Read now" are read first."""
    from datetime import timedelta

    from tests.conftest import make_config
    from web.composition import Runtime
    from web.services import calendar_sync

    monday = _monday_ahead()
    tuesday = monday + timedelta(days=1)
    when = ["--tz", "Europe/Berlin", "--from", monday.isoformat(), "--days", "2"]
    _calendar_with(tmp_path / "work.ics", monday, "0730", "0830", "Early call")
    _config_with_calendars(tmp_path, database_url, "work")
    ok("init", cwd=tmp_path)
    assert _breakfasts(tmp_path, when) == [f"{tuesday}T07:30"]
    assert _breakfasts(tmp_path, when) == [f"{tuesday}T07:30"]  # from the store as it is

    # Added to config.toml: read before the next answer.
    _calendar_with(tmp_path / "gym.ics", tuesday, "0700", "0900", "Gym")
    _config_with_calendars(tmp_path, database_url, "work", "gym")
    assert _breakfasts(tmp_path, when) == []

    # The entry now names another file (the refresh sees a new location and queues it).
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    _calendar_with(moved / "gym.ics", tuesday, "0730", "0740", "Short gym")
    text = (tmp_path / "config.toml").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        text.replace(str(tmp_path / "gym.ics"), str(moved / "gym.ics")), encoding="utf-8"
    )
    assert _breakfasts(tmp_path, when) == [f"{tuesday}T07:50"]

    # "Read now" on the work calendar after its file changed: read again before answering.
    _calendar_with(tmp_path / "work.ics", monday, "0630", "0700", "Earlier call")
    runtime = Runtime(make_config(tmp_path, database_url))
    try:
        owner = runtime.owner_id()
        work = next(s for s in calendar_sync.statuses(runtime, owner) if s.name == "work")
        calendar_sync.queue_sync(runtime, work.calendar_id)
    finally:
        runtime.engine.dispose()
    assert _breakfasts(tmp_path, when) == [f"{monday}T07:30", f"{tuesday}T07:50"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "the host in [brackets] is not an IPv6 address"),
        ("http://example.com:99999/x", "the port must be a number from 1 to 65535"),
    ],
)
def test_a_calendar_address_that_can_never_be_read_is_one_line_naming_the_fault(
    tmp_path: Path, url: str, problem: str
) -> None:
    message = fails("slots", "--calendar", url, cwd=tmp_path)
    assert message == f"error: --calendar: not a calendar address: {problem}"


def test_a_device_given_as_calendar_is_refused_not_read_forever(tmp_path: Path) -> None:
    message = fails("slots", "--calendar", "/dev/zero", cwd=tmp_path)
    assert message == (
        "error: /dev/zero: is not a regular file (a device, a pipe or a socket); give an .ics file"
    )


def test_a_calendar_file_larger_than_max_bytes_is_refused_naming_file_and_limit(
    tmp_path: Path,
) -> None:
    (tmp_path / "big.ics").write_bytes(b"BEGIN:VCALENDAR\r\n" + b"X" * (3 * 1024))
    (tmp_path / "config.toml").write_text(
        '[[calendars]]\nname = "big"\nkind = "ics"\npath = "big.ics"\nmax_bytes = 2048\n'
    )
    message = fails("slots", "--calendar", "big", cwd=tmp_path)
    assert message == (
        "error: big: the calendar is larger than the limit of 2 KiB ([[calendars]] max_bytes)"
    )
