"""The contacts CLI as a person runs it: a real instance, real files, real subprocesses."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

DATA = Path(__file__).parent.parent / "data" / "contacts"
NOW = "2026-03-16T08:00:00+01:00"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(
        '[owner]\nname = "Test Owner"\nemails = ["owner@example.com"]\n'
        'timezone = "Europe/Berlin"\n\n[web]\ninstance_path = "instance"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "web", "--config", str(config), *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    run("init")
    return run


def test_import_prints_the_counts_and_one_line_per_skipped_row(cli) -> None:  # type: ignore[no-untyped-def]
    file = str(DATA / "linkedin_connections.csv")
    done = cli("contacts", "import", file)
    assert done.stdout.splitlines() == [
        "created 6, updated 0, already up to date 0, skipped 0",
        f"{file}: line 9: Connected On '31 Foo 2024' is not a date (use YYYY-MM-DD); "
        "Connected On left empty",
        f"{file}: line 10: Email Address 'not-an-email' is not an email address; "
        "Email Address left empty",
    ]
    again = cli(
        "contacts", "import", str(DATA / "linkedin_connections.csv"), "--format", "linkedin"
    )
    assert again.stdout.splitlines()[0] == "created 0, updated 0, already up to date 6, skipped 0"


def test_a_mapped_excel_csv_imports_and_an_unmapped_one_exits_2(cli) -> None:  # type: ignore[no-untyped-def]
    bad = cli("contacts", "import", str(DATA / "excel_semicolon_bom.csv"), ok=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "no name or email column" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    done = cli(
        "contacts",
        "import",
        str(DATA / "excel_semicolon_bom.csv"),
        "--map",
        "Full Name=name,E-mail=email,Firma=company",
    )
    assert done.stdout.strip() == "created 3, updated 0, already up to date 0, skipped 0"


def test_a_missing_file_exits_2_with_one_clear_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = cli("contacts", "import", str(tmp_path / "nope.vcf"), ok=False)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'nope.vcf'}: no such file"


def test_a_pipe_or_a_device_is_refused_at_once_and_writers_are_not_held_up(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    """Reading a named pipe (or /dev/zero) might never end, and an import used to read it with
    the database's writer lock held: every other save waited on it."""
    fifo = tmp_path / "people.csv"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero):
        done = cli("contacts", "import", str(path), ok=False)
        assert done.returncode == 2
        assert done.stderr.strip() == (
            f"error: {path}: is not a regular file (a device, a pipe or a socket)"
        )
    cli("trips", "add", "Paris", "2027-01-10", "2027-01-12")


def test_a_writer_that_does_not_finish_makes_the_next_one_say_busy_not_wait_forever(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    """Another process holding the writer's turn (here: this test) past the busy timeout: the
    command gives up with one line after BUSY_TIMEOUT seconds, and nothing is half saved."""
    from integrations.storage.dbapi import BUSY_TIMEOUT

    lock = os.open(tmp_path / "instance" / "meetagain.db.write-lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        done = cli("trips", "add", "Paris", "2027-01-10", "2027-01-12", ok=False)
        waited = time.monotonic() - started
    finally:
        os.close(lock)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "error: meetagain was busy saving something else and did not save this; run it again"
    )
    assert BUSY_TIMEOUT <= waited < BUSY_TIMEOUT + 15
    assert "Paris" not in cli("trips", "list").stdout
    cli("trips", "add", "Paris", "2027-01-10", "2027-01-12")
    assert "Paris" in cli("trips", "list").stdout


def test_export_then_import_into_a_fresh_instance_is_lossless(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("contacts", "import", str(DATA / "native.csv"))
    cli("contacts", "import", str(DATA / "apple_contacts.vcf"))
    exported = cli("contacts", "export").stdout
    assert exported.splitlines()[0].startswith(
        "name,email,company,title,relationship,tags,how_met,first_met,last_met,times_met,"
        "cadence_days,preferred_meals,preferred_days,timezone,city,notes,questions,"
        "do_not_invite,snooze_until"
    )
    copy = tmp_path / "export.csv"
    copy.write_text(exported)
    cli("--db", f"sqlite:///{tmp_path / 'other.db'}", "init")
    cli("--db", f"sqlite:///{tmp_path / 'other.db'}", "contacts", "import", str(copy))
    again = cli("--db", f"sqlite:///{tmp_path / 'other.db'}", "contacts", "export").stdout
    assert again == exported


def test_list_as_json_has_the_documented_shape(cli) -> None:  # type: ignore[no-untyped-def]
    cli("contacts", "import", str(DATA / "native.csv"))
    data = json.loads(cli("contacts", "list", "--format", "json").stdout)
    jonas = next(c for c in data["contacts"] if c["name"] == "Jonas Weber")
    assert jonas["emails"] == ["jonas.weber@example.com", "jonas@nordlicht.example"]
    assert jonas["relationship"] == "mentor"
    assert jonas["tags"] == ["board", "berlin"]
    assert (jonas["first_met"], jonas["last_met"], jonas["times_met"]) == (
        "2019-05-02",
        "2026-01-26",
        4,
    )
    assert {"company", "title", "how_met"} <= set(jonas)


def test_due_lists_by_descending_score_with_reasons_and_exclusions(cli) -> None:  # type: ignore[no-untyped-def]
    cli("demo", "--today", "2026-03-16")
    data = json.loads(cli("due", "--now", NOW, "--format", "json").stdout)
    scores = [d["score"] for d in data["due"]]
    assert scores == sorted(scores, reverse=True)
    first = data["due"][0]
    assert set(first) == {"name", "email", "score", "reasons"}
    assert first["reasons"][0].endswith("follow up while it's fresh")
    jonas = next(d for d in data["due"] if d["name"] == "Jonas Weber")
    assert jonas["reasons"] == ["Mentor, last coffee 59 days ago, every 45 days"]
    excluded = {e["name"]: e["reasons"] for e in data["excluded"]}
    assert excluded["Yusuf Demir"] == ["Marked do-not-invite"]
    assert excluded["Clara Dubois"] == ["Snoozed until 5 Apr, 20 days from now"]
    text = cli("due", "--now", NOW).stdout
    assert (
        "Jonas Weber <jonas.weber@example.com>: Mentor, last coffee 59 days ago, every 45 days"
        in text
    )
    first_line = text.splitlines()[0]
    assert first_line.startswith(" 1. ") and first_line.endswith("follow up while it's fresh")
    assert str(data["due"][0]["score"]) not in text  # reasons, not bare scores


def test_plan_offers_three_times_on_different_days_to_at_most_three_people(cli) -> None:  # type: ignore[no-untyped-def]
    cli("demo", "--today", "2026-03-16")
    data = json.loads(cli("plan", "--now", NOW, "--format", "json").stdout)
    proposals = data["proposals"]
    assert 1 <= len(proposals) <= 3
    for p in proposals:
        assert set(p) == {"name", "email", "city", "trip", "times", "reasons"}
        assert len(p["times"]) == 3
        assert len({t["start"][:10] for t in p["times"]}) == 3
        for t in p["times"]:
            # Every key always there: an in-person time with no place kept says place "".
            assert set(t) == {"start", "end", "window", "mode", "place", "place_url"}
            assert t["mode"] in ("in_person", "video")
            assert t["place"] or t["mode"] == "in_person"  # a video call names its room
    starts = [t["start"] for p in proposals for t in p["times"]]
    assert len(starts) == len(set(starts))
    assert all(s >= "2026-03-17" for s in starts)  # 24 hours' notice
    text = cli("plan", "--now", NOW).stdout
    assert proposals[0]["name"] in text


def test_plan_text_writes_days_as_the_pages_do(cli) -> None:  # type: ignore[no-untyped-def]
    # Early in a month, so the days have one digit: "Tue 3 Mar", never "Tue 03 Mar".
    cli("demo", "--today", "2026-03-02")
    now = "2026-03-02T08:00:00+01:00"
    proposals = json.loads(cli("plan", "--now", now, "--format", "json").stdout)["proposals"]
    text = cli("plan", "--now", now).stdout
    starts = [datetime.fromisoformat(t["start"]) for p in proposals for t in p["times"]]
    assert any(s.day < 10 for s in starts)
    for start in starts:
        local = start.astimezone(ZoneInfo("Europe/Berlin"))
        assert f"  {local:%a} {local.day} {local:%b} {local:%H:%M}-" in text
        assert f"{local:%a %d %b}" not in text or local.day >= 10


def test_a_bad_now_exits_2(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("due", "--now", "yesterday", ok=False)
    assert done.returncode == 2
    assert "--now 'yesterday' is not an ISO 8601 time" in done.stderr


def test_a_large_import_shows_a_progress_bar_on_a_terminal(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pty

    big = tmp_path / "big.csv"
    big.write_text("name,email\n" + "".join(f"P {i},p{i}@example.com\n" for i in range(2500)))
    quiet = cli("contacts", "import", str(big))  # stderr is a pipe here: no bar
    assert quiet.stderr == ""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "web",
            "--config",
            str(tmp_path / "config.toml"),
            "contacts",
            "import",
            str(big),
        ],
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=tmp_path,
        env=env,
        timeout=120,
        text=True,
    )
    os.close(slave)
    shown = b""
    try:
        while chunk := os.read(master, 4096):
            shown += chunk
    except OSError:
        pass
    os.close(master)
    assert done.returncode == 0
    assert done.stdout.strip() == "created 0, updated 0, already up to date 2500, skipped 0"
    assert b"importing" in shown and b"100%" in shown


def test_past_meetings_in_the_configured_calendar_are_logged_once_for_confirmation(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(
        config.read_text()
        + f'\n[[calendars]]\nname = "work"\nkind = "ics"\npath = "{DATA / "past_meetings.ics"}"\n'
    )
    cli("contacts", "import", str(DATA / "native.csv"))
    done = cli("contacts", "meetings", "--now", NOW)
    assert done.stdout.strip() == (
        "found 4 new past meetings with contacts: confirm them in the web app"
    )
    again = cli("contacts", "meetings", "--now", NOW)
    assert again.stdout.startswith("found 0 new past meetings")


def test_demo_remove_takes_away_the_demo_contacts_and_calendar_and_keeps_yours(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    cli("demo", "--today", "2026-03-16")
    mine = tmp_path / "mine.csv"
    mine.write_text("name,email\nReal Person,real@example.org\n")
    cli("contacts", "import", str(mine))
    assert (tmp_path / "instance" / "demo-calendar.ics").exists()
    done = cli("demo", "--remove")
    assert done.stdout.strip() == (
        "demo data removed: 25 contacts, 1 calendar, 0 invites, 0 bookings"
    )
    listed = json.loads(cli("contacts", "list", "--format", "json").stdout)
    assert [c["name"] for c in listed["contacts"]] == ["Real Person"]
    assert not (tmp_path / "instance" / "demo-calendar.ics").exists()
    again = cli("demo", "--remove")
    assert (
        again.stdout.strip() == "demo data removed: 0 contacts, 0 calendars, 0 invites, 0 bookings"
    )


def test_bad_cells_and_card_lines_are_reported_on_stdout_by_file_line_not_as_errors(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    big = tmp_path / "bigcell.csv"
    big.write_text(
        "name,email,notes\nAna,ana@example.org," + "x" * 200_000 + "\nBo,bo@example.org,hi\n"
    )
    done = cli("contacts", "import", str(big))
    assert done.stdout.splitlines() == [
        "created 1, updated 0, already up to date 0, skipped 1",
        f"{big}: skipped line 2: notes is longer than 131072 characters, the most a CSV cell "
        "may hold",
    ]
    cards = tmp_path / "cards.vcf"
    cards.write_text(
        "BEGIN:VCARD\nVERSION:3.0\nFN:Cy\nEMAIL:cy@example.org\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:3.0\nFN:Di\nEMAIL:di@example.org\nBROKEN\nEND:VCARD\n"
    )
    done = cli("contacts", "import", str(cards))
    assert done.stdout.splitlines() == [
        "created 2, updated 0, already up to date 0, skipped 0",
        f"{cards}: line 10: 'BROKEN' is not a vCard property; line left out",
    ]
    assert done.stderr == ""  # vobject's own "Skipped line 4" no longer leaks here
