"""Trips and places through the CLI: a real instance, real files, real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

DATA = Path(__file__).parent.parent / "data" / "places"
NOW = "2026-12-07T08:00:00+01:00"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(
        '[owner]\nname = "Test Owner"\nemails = ["owner@example.com"]\n'
        'timezone = "Europe/Berlin"\ncity = "Berlin"\n'
        'video_room_url = "https://meet.example/owner"\n\n[web]\ninstance_path = "instance"\n'
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
    run("contacts", "import", str(DATA / "travellers.csv"))
    return run


def test_a_trip_to_boston_puts_the_people_there_first_in_person_in_boston_time(cli) -> None:  # type: ignore[no-untyped-def]
    cli("trips", "add", "Boston", "2026-12-10", "2026-12-12")
    cli(
        "places",
        "add",
        "Tatte",
        "--city",
        "Boston",
        "--address",
        "1 Beacon St",
        "--map-link",
        "https://maps.example/tatte",
    )
    cli("places", "add", "Café Einstein", "--address", "Unter den Linden 42")
    sentence = "You're in Boston 10–12 Dec: Ana and Ben live there; Ana is 4 weeks overdue"
    due = json.loads(cli("due", "--now", NOW, "--format", "json").stdout)["due"]
    assert [d["name"] for d in due][:2] == ["Ana Lima", "Ben Okafor"]
    assert due[0]["reasons"][0] == sentence

    plan = json.loads(cli("plan", "--now", NOW, "--format", "json").stdout)["proposals"]
    by_name = {p["name"]: p for p in plan}
    assert set(by_name) == {"Ana Lima", "Ben Okafor", "Cleo Park"}
    boston = ZoneInfo("America/New_York")
    for name in ("Ana Lima", "Ben Okafor"):
        p = by_name[name]
        assert p["trip"] == "Boston 10–12 Dec" and p["city"] in ("Boston", "Boston, US")
        in_person = [t for t in p["times"] if t["mode"] == "in_person"]
        assert in_person
        for t in in_person:
            start = datetime.fromisoformat(t["start"])
            assert t["start"].endswith("-05:00")  # the trip city's offset
            assert date(2026, 12, 10) <= start.date() <= date(2026, 12, 12)
            assert t["place"] == "Tatte, 1 Beacon St"
            assert t["place_url"] == "https://maps.example/tatte"
        for t in p["times"]:
            if t["mode"] == "video":
                local = datetime.fromisoformat(t["start"]).astimezone(boston).time()
                assert time(7) <= local and t["place_url"] == "https://meet.example/owner"
    cleo = by_name["Cleo Park"]
    assert cleo["trip"] is None
    for t in cleo["times"]:
        start = datetime.fromisoformat(t["start"])
        if t["mode"] == "in_person":
            assert (
                t["start"].endswith("+01:00") and t["place"] == "Café Einstein, Unter den Linden 42"
            )
        else:  # on the trip: a call from Boston to Berlin at a Berlin hour
            assert date(2026, 12, 10) <= start.date() <= date(2026, 12, 12)
            assert time(7) <= start.astimezone(ZoneInfo("Europe/Berlin")).time() <= time(21)

    listed = cli("trips", "list").stdout
    assert "2026-12-10 .. 2026-12-12  Boston (Boston, US)" in listed


def test_an_ambiguous_or_unknown_trip_city_is_refused_with_a_clear_line(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("trips", "add", "Cambridge", "2026-12-10", "2026-12-12", ok=False)
    assert done.returncode != 0
    assert (
        '"Cambridge" names several cities: write which, like "Cambridge, GB" or "Cambridge, CA"'
        ' or "Cambridge, US"'
    ) in done.stderr
    done = cli("trips", "add", "Boston", "2026-12-12", "2026-12-10", ok=False)
    assert "ends on 2026-12-10 before it starts on 2026-12-12" in done.stderr
    done = cli("trips", "add", "Boston", "10 Dec", "2026-12-10", ok=False)
    assert "FROM '10 Dec' is not a date (use YYYY-MM-DD)" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_place_with_a_control_character_or_too_long_a_name_is_refused_for_that(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("places", "add", "Café\x07Einstein", ok=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: The place's name contains the control character U+0007; use one line of plain text."
    )
    done = cli("places", "add", "C" * 201, ok=False)
    assert done.stderr.strip() == "error: The place's name must be at most 200 characters, got 201"
    done = cli("places", "add", "The Eagle", "--city", "Cambridge")
    assert done.stdout.startswith("place ") and "added" in done.stdout
    assert done.stderr.startswith('warning: "Cambridge" names several cities: write which')
    # A line break typed into a name is white space, kept as one space.
    cli("places", "add", "Café\nEinstein")
    listed = cli("places", "list").stdout
    assert "Café Einstein" in listed and "C" * 201 not in listed
