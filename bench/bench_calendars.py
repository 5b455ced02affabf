"""The calendar store and its sync: pages never wait for a calendar server, and an unchanged
Google calendar costs one request.

- Dashboard GET median with three ICS feeds that answer in 400 ms each, against the same page
  of a user with no calendars (the feeds were synced before; a GET reads only the store).
- Sync of a 10,000-event Google calendar (the fake of Google on loopback): the full read, then
  unchanged (requests and time), then with 10 changed events (requests and time, against the
  full read).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import Report

PASSWORD = "correct horse battery staple"
GETS = 15
FEED_DELAY = 0.4
GOOGLE_EVENTS = 10_000


def _runtime(folder: Path, **sections: Any) -> Any:
    from integrations.config import load_config
    from web.composition import Runtime
    from web.instance import create_secret, ensure_instance

    override: dict[str, Any] = {
        "web": {"instance_path": str(folder / "instance")},
        "database": {"url": f"sqlite:///{folder / 'bench.db'}"},
        # The bench's feed servers are on loopback, which calendars may reach only when allowed.
        "security": {"allow_private_networks": True},
        **sections,
    }
    config = load_config(None, override)
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    return runtime


def _add_calendar(runtime: Any, owner: int, name: str, **fields: Any) -> int:
    from integrations.storage import models
    from integrations.storage.db import transaction

    with transaction(runtime.sessions) as session:
        row = models.Calendar(
            user_id=owner,
            name=name,
            counts_as_busy=True,
            receives_events=False,
            last_error="",
            created_at=datetime.now(UTC),
            **fields,
        )
        session.add(row)
        session.flush()
        return int(row.id)


def _dashboard_median(runtime: Any) -> float:
    from tests.web.support import Web
    from web.http.app import create_app

    app = create_app(runtime=runtime, invite_rate_limit=None)
    with app.test_client() as client:
        web = Web(client)
        answer = web.sign_in("owner@example.com", PASSWORD)
        if answer.status_code != 303:
            raise RuntimeError(f"sign-in answered {answer.status_code}")
        web.get("/")  # templates compiled, caches warm
        times = []
        for _ in range(GETS):
            started = time.perf_counter()
            page = web.get("/")
            times.append(time.perf_counter() - started)
            if page.status_code != 200:
                raise RuntimeError(f"the dashboard answered {page.status_code}")
    return statistics.median(times)


def _dashboard(report: Report, work: Path) -> None:
    from tests.helpers.http_server import LoopbackHttpServer
    from web.services.accounts import create_first_account
    from web.services.calendar_sync import sync_user
    from web.services.demo import demo_contacts

    def user(folder: Path) -> tuple[Any, int]:
        folder.mkdir()
        runtime = _runtime(folder)
        owner = create_first_account(runtime, "owner@example.com", PASSWORD, "Olivia")
        from integrations.storage.contacts import ContactRepository
        from integrations.storage.db import transaction

        with transaction(runtime.sessions) as session:
            repo = ContactRepository(session, owner)
            for contact in demo_contacts(datetime.now(UTC).date()):
                repo.add(contact, interaction_source="demo")
        return runtime, owner

    bare, _ = user(work / "no-calendars")
    base = _dashboard_median(bare)
    busy, owner = user(work / "three-feeds")
    day = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
        + "".join(
            f"BEGIN:VEVENT\r\nUID:b{n}@bench\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{day + timedelta(days=n):%Y%m%dT%H%M%SZ}\r\n"
            f"DTEND:{day + timedelta(days=n, hours=1):%Y%m%dT%H%M%SZ}\r\n"
            "SUMMARY:Busy\r\nEND:VEVENT\r\n"
            for n in range(1, 8)
        )
        + "END:VCALENDAR\r\n"
    ).encode()
    with LoopbackHttpServer() as server:
        for n in range(3):
            url = server.serve(f"/feed-{n}.ics", body, delay=FEED_DELAY)
            _add_calendar(busy, owner, f"Feed {n + 1}", kind="ics", location=url)
        started = time.perf_counter()
        errors = sync_user(busy, owner)
        if errors:
            raise RuntimeError("; ".join(errors))
        report.note(
            f"first sync of 3 feeds at {FEED_DELAY * 1000:.0f} ms each: "
            f"{time.perf_counter() - started:.2f} s (in the worker, not in a page)"
        )
        value = _dashboard_median(busy)
        hits = len(server.hits)
    report.figure(
        "dashboard GET median, 3 feeds at 400 ms",
        value,
        "s",
        baseline_name="same page, no calendars",
        baseline_value=base,
        target="<= 1.5x",
    )
    report.note(f"feed requests made by {GETS + 1} dashboard GETs: {hits - 3}")
    for runtime in (bare, busy):
        runtime.engine.dispose()


def _google(report: Report, work: Path) -> None:
    from integrations.google import SCOPES
    from integrations.storage import models
    from integrations.storage.db import transaction
    from tests.helpers.fake_google import FakeGoogle
    from web.services.calendar_sync import sync_calendar
    from web.services.google import save_connection

    folder = work / "google"
    folder.mkdir()
    with FakeGoogle(account_email="owner@example.com") as fake:
        os.environ["MEETAGAIN_GOOGLE_CLIENT_SECRET"] = fake.client_secret
        runtime = _runtime(folder, google=fake.google_config_section())
        owner = runtime.owner_id(create=True)
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=80)
        for n in range(GOOGLE_EVENTS):
            when = start + timedelta(minutes=15 * n)  # 10,000 quarter hours: about 104 days
            fake.put_event(fake.account_email, f"ev{n}", when, when + timedelta(minutes=10))
        save_connection(runtime, owner, fake.credentials(), tuple(SCOPES), fake.account_email)
        cal = _add_calendar(runtime, owner, "Google", kind="google", external_id=fake.account_email)

        def sync() -> tuple[float, int]:
            before = len(fake.requests)
            started = time.perf_counter()
            error = sync_calendar(runtime, cal)
            if error:
                raise RuntimeError(error)
            return time.perf_counter() - started, len(fake.requests) - before

        full_s, full_n = sync()
        with transaction(runtime.sessions) as session:
            stored = session.query(models.CalendarOccurrence).count()
        report.note(f"full read: {stored} occurrences stored, {full_n} requests, {full_s:.2f} s")
        same_s, same_n = sync()
        for n in range(0, 100, 10):
            when = start + timedelta(days=85, minutes=n)
            fake.put_event(fake.account_email, f"ev{n}", when, when + timedelta(minutes=30))
        changed_s, changed_n = sync()
        del os.environ["MEETAGAIN_GOOGLE_CLIENT_SECRET"]
    report.figure(
        "Google sync, unchanged 10,000 events: requests",
        same_n,
        "requests",
        baseline_name="full read",
        baseline_value=full_n,
        target="<= 1",
    )
    report.figure(
        "Google sync, unchanged 10,000 events: time",
        same_s,
        "s",
        baseline_name="full read",
        baseline_value=full_s,
        target="informational",
    )
    report.figure(
        "Google sync, 10 changed events: requests",
        changed_n,
        "requests",
        baseline_name="full read",
        baseline_value=full_n,
        target="<= 1",
    )
    # Proportional to the changes, not to the calendar: about the cost of an unchanged sync.
    report.figure(
        "Google sync, 10 changed events: time",
        changed_s,
        "s",
        baseline_name="unchanged sync",
        baseline_value=same_s,
        target="<= 2x",
    )
    runtime.engine.dispose()


def run(report: Report) -> None:
    """The dashboard against the store, and incremental Google sync."""
    work = report.tmpdir("calendars")
    for name in [k for k in os.environ if k.startswith("MEETAGAIN_")]:
        del os.environ[name]
    _dashboard(report, work)
    _google(report, work)
