"""A trip read from a real CalDAV calendar: synced into the store, it drives the plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from integrations.config import load_config
from tests.helpers.radicale_server import PASSWORD, RadicaleServer
from web.composition import Runtime
from web.services.calendar_sync import refresh_config_calendars, run_due
from web.services.planning import plan_for_user, proposals_json

DATA = Path(__file__).parent.parent / "data" / "places"
BERLIN = ZoneInfo("Europe/Berlin")
BOSTON = ZoneInfo("America/New_York")


def _all_day(uid: str, first: date, days: int, summary: str) -> bytes:
    last = first + timedelta(days=days)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART;VALUE=DATE:{first:%Y%m%d}\r\nDTEND;VALUE=DATE:{last:%Y%m%d}\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def test_a_trip_to_boston_in_a_radicale_calendar_puts_boston_contacts_first_in_boston_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("TEST_DAV_PASSWORD", PASSWORD)
    now = datetime.combine(datetime.now(BERLIN).date(), time(8), tzinfo=BERLIN)
    first = now.date() + timedelta(days=3)
    with RadicaleServer(tmp_path / "dav") as dav:
        url = dav.make_calendar("travel")
        dav.put(url, "boston.ics", _all_day("boston", first, 3, "Trip to Boston"))
        config_file = tmp_path / "config.toml"
        config_file.write_text(
            '[owner]\nname = "Test Owner"\nemails = ["owner@example.com"]\n'
            'timezone = "Europe/Berlin"\ncity = "Berlin"\n'
            'video_room_url = "https://meet.example/owner"\n\n'
            '[web]\ninstance_path = "instance"\n\n'
            "[security]\nallow_private_networks = true\n\n"
            f'[[calendars]]\nname = "Travel"\nkind = "caldav"\nurl = "{url}"\n'
            'username = "owner"\npassword_env = "TEST_DAV_PASSWORD"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}

        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "web", "--config", str(config_file), *args],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env=env,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        cli("init")
        cli("contacts", "import", str(DATA / "travellers.csv"))
        runtime = Runtime(load_config(config_file))
        assert refresh_config_calendars(runtime) == 1
        assert run_due(runtime).synced == 1

        from integrations.storage import models
        from integrations.storage.db import transaction

        with transaction(runtime.sessions) as session:
            owner = session.query(models.User).one().id
        plan = plan_for_user(runtime, owner, now=now.astimezone(UTC))
        from_service = proposals_json(plan.proposals)
        from_cli = json.loads(cli("plan", "--now", now.isoformat(), "--format", "json"))
        runtime.engine.dispose()

    label = plan.trips[0].label
    assert [(t.city, t.start, t.end) for t in plan.trips] == [
        ("Boston", first, first + timedelta(days=2))
    ]
    for proposals in (from_service, from_cli["proposals"]):
        assert [p["name"] for p in proposals][:2] == ["Ana Lima", "Ben Okafor"]
        for p in proposals[:2]:
            assert p["trip"] == label
            in_person = [t for t in p["times"] if t["mode"] == "in_person"]
            assert in_person, p
            for t in in_person:
                start = datetime.fromisoformat(t["start"])
                assert start.utcoffset() == start.astimezone(BOSTON).utcoffset()
                assert first <= start.date() <= first + timedelta(days=2)
