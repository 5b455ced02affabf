"""Two web nodes and two workers on one PostgreSQL, rate limits in Redis, mail to a real SMTP
server: what a team deployment promises, with real processes (gunicorn with deploy's config and
`meetagain worker`) on loopback.

- 49 concurrent accepts of one time, split across both nodes, book it exactly once, and neither
  node's cached invite pages offer it afterwards;
- a rate limit of N per minute allows N across both nodes together, not 2N (nor one per worker);
- 100 queued emails reach the SMTP server exactly once each, sent by two workers side by side;
- a calendar sync due once runs once: with both workers looping, an ICS feed (slow to answer, so
  the sync is in flight across several passes of the other worker) is fetched once and its
  events stored once;
- the nodes' metrics (gunicorn multiprocess mode) add up to the bookings made;
- SIGTERM stops workers and nodes cleanly.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from integrations.storage import calendar_store, calendars, db, models
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from tests.conftest import make_config
from tests.helpers.http_server import LoopbackHttpServer
from tests.helpers.invite_fixtures import (
    SmtpServer,
    create_sharing_invite,
    make_contact,
    make_owner,
    next_weekday_at,
    queue_emails,
    smtp_server,
    times_at,
)
from tests.helpers.processes import gunicorn, meetagain_env, worker
from web.composition import Runtime
from web.services import invites as svc

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BERLIN = ZoneInfo("Europe/Berlin")
RACERS = 49
LIMIT = 10  # invite pages per minute and client address
TOKEN = "two-node-metrics-token"


def _config(folder: Path, redis_url: str, smtp: SmtpServer) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""
[web]
base_url = "https://coffee.example.org"
instance_path = "{folder / "instance"}"
trusted_proxies = 1
rate_limit_storage = "{redis_url}"

[limits]
invite_pages = "{LIMIT} per minute"

[mail]
backend = "smtp"
host = "127.0.0.1"
port = {smtp.port}
security = "none"
from_address = "coffee@example.org"

[metrics]
enabled = true

[log]
format = "json"

[security]
allow_private_networks = true  # the test's ICS feed is on loopback
"""
    )
    return path


@pytest.fixture
def seeded(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The shared database, migrated (as `meetagain db upgrade` does on release)."""
    monkeypatch.chdir(tmp_path)
    db.upgrade(postgres_url)
    runtime = Runtime(make_config(tmp_path, postgres_url))
    yield runtime
    runtime.engine.dispose()


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_two_nodes_one_database(
    seeded: Runtime, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    owner = make_owner(seeded)
    shared = next_weekday_at(now, 3, 12, 0, BERLIN)
    tokens = []
    for n in range(RACERS):
        contact = make_contact(seeded, owner, f"Guest {n}", f"guest{n}@example.org")
        created = create_sharing_invite(
            seeded, owner, contact, times_at(shared), send_email=False, now=now
        )
        tokens.append(created.url.rsplit("/", 1)[1])

    with smtp_server() as smtp:
        env = {
            "MEETAGAIN_CONFIG": str(_config(tmp_path, redis_url, smtp)),
            "MEETAGAIN_DATABASE_URL": postgres_url,
            "MEETAGAIN_SECRET_KEY": secrets.token_urlsafe(32),
            "MEETAGAIN_METRICS_TOKEN": TOKEN,
        }
        node_env = [
            meetagain_env({**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"prom-{n}")})
            for n in (1, 2)
        ]
        with (
            gunicorn(node_env[0], tmp_path) as (node_a, web_a),
            gunicorn(node_env[1], tmp_path) as (node_b, web_b),
        ):
            nodes = (node_a, node_b)
            _race(nodes, tokens, shared, seeded)
            _rate_limit_is_shared(nodes, tokens[-1])
            _metrics_add_up(nodes, seeded)

            user = make_owner(seeded, email="mail@example.com")
            queued = queue_emails(seeded, user, 100, now=datetime.now(UTC))
            worker_env = meetagain_env({**env, "PYTHONUNBUFFERED": "1"})
            with (
                LoopbackHttpServer() as feeds,
                worker(worker_env, tmp_path, "worker-1") as first,
                worker(worker_env, tmp_path, "worker-2") as second,
            ):
                _wait_until_delivered(seeded)
                _sync_due_once_runs_once(seeded, user, feeds, (first, second))
                assert first.terminate() == 0 and second.terminate() == 0
            _each_sent_once(seeded, smtp, queued)
        assert web_a.popen.returncode == 0 and web_b.popen.returncode == 0


def _race(nodes: tuple[str, str], tokens: list[str], shared: datetime, runtime: Runtime) -> None:
    iso = utc_iso(shared)
    loser_page = f"/i/{tokens[1]}"
    for node in nodes:  # each node renders (and caches) a page offering the shared time
        page = requests.get(f"{node}{loser_page}", headers=_from("192.0.2.1"), timeout=30)
        assert page.status_code == 200 and iso in page.text

    statuses: list[int] = []
    lock = threading.Lock()
    gate = threading.Barrier(RACERS)

    def accept(n: int) -> None:
        with requests.Session() as http:
            gate.wait()
            response = http.post(
                f"{nodes[n % 2]}/i/{tokens[n]}",
                data={"action": "accept", "start": iso},
                headers=_from(f"203.0.113.{n + 1}"),  # 49 invitees, 49 addresses
                allow_redirects=False,
                timeout=120,
            )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert sorted(statuses) == [303] + [409] * (RACERS - 1)
    with transaction(runtime.sessions) as session:
        bookings = session.execute(select(models.Booking.invite_id, models.Booking.start)).all()
    assert len(bookings) == 1 and bookings[0][1] == shared

    winner = next(t for t in tokens if svc.load_invite(runtime, t, now=datetime.now(UTC)).booking)
    for node in nodes:  # the cached pages do not outlive the booking, on either node
        again = requests.get(f"{node}{loser_page}", headers=_from("192.0.2.1"), timeout=30)
        assert iso not in again.text or winner == tokens[1]
        booked = requests.get(f"{node}/i/{winner}", headers=_from("192.0.2.1"), timeout=30)
        assert booked.status_code == 410 and "re booked" in booked.text  # You're booked


def _from(address: str) -> dict[str, str]:
    """Headers as the trusted reverse proxy sends them for a client at `address`."""
    return {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}


def _rate_limit_is_shared(nodes: tuple[str, str], token: str) -> None:
    codes = [
        requests.get(
            f"{nodes[n % 2]}/i/{token}", headers=_from("198.51.100.77"), timeout=30
        ).status_code
        for n in range(2 * LIMIT)
    ]
    # N per minute for the whole deployment: two nodes with two workers each, one budget.
    assert Counter(codes) == {410: LIMIT, 429: LIMIT} or Counter(codes) == {200: LIMIT, 429: LIMIT}
    assert codes[LIMIT:] == [429] * LIMIT


def _metrics_add_up(nodes: tuple[str, str], runtime: Runtime) -> None:
    texts = []
    for node in nodes:
        response = requests.get(
            f"{node}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        assert response.status_code == 200
        texts.append(response.text)
    with transaction(runtime.sessions) as session:
        bookings = session.scalar(select(func.count()).select_from(models.Booking))
    booked = sum(_metric(t, "meetagain_invite_accepts_total", outcome="booked") for t in texts)
    refused = sum(_metric(t, "meetagain_invite_accepts_total", outcome="conflict") for t in texts)
    assert booked == bookings == 1 and refused == RACERS - 1


def _wait_until_delivered(runtime: Runtime, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with transaction(runtime.sessions) as session:
            waiting = session.scalar(
                select(func.count())
                .select_from(models.OutboxMessage)
                .where(models.OutboxMessage.status != "sent")
            )
        if waiting == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"{waiting} outbox messages still not sent")


FEED_EVENTS = 3


def _feed(now: datetime) -> bytes:
    day = now.replace(hour=9, minute=0, second=0, microsecond=0)
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:two-nodes-{n}@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{day + timedelta(days=n):%Y%m%dT%H%M%SZ}\r\n"
        f"DTEND:{day + timedelta(days=n, hours=1):%Y%m%dT%H%M%SZ}\r\n"
        "SUMMARY:Busy\r\nEND:VEVENT\r\n"
        for n in range(1, FEED_EVENTS + 1)
    )
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    return f"{head}{events}END:VCALENDAR\r\n".encode()


def _sync_due_once_runs_once(
    runtime: Runtime, user: int, feeds: LoopbackHttpServer, workers: tuple[Any, ...]
) -> None:
    for process in workers:  # both loops are running before the calendar becomes due
        _wait_for(lambda p=process: "worker started" in p.output(), f"{process.log.name} start")
    now = datetime.now(UTC)
    # The feed answers after 1.5 s: the other worker passes (every 0.3 s) while it is read.
    url = feeds.serve("/team.ics", _feed(now), etag='"v1"', delay=1.5)
    with transaction(runtime.sessions) as session:
        calendar_id = calendars.add(
            session, user, name="Team feed", kind="ics", location=url, now=now
        )
        calendar_store.ensure_state(session, calendar_id, user, now)  # due now, once

    def synced() -> bool:
        with transaction(runtime.sessions) as session:
            state = session.get(models.CalendarSync, calendar_id)
            return state is not None and state.last_synced_at is not None

    _wait_for(synced, "the due calendar's sync")
    time.sleep(3)  # ten more passes of each worker: nothing is due again
    assert feeds.statuses("/team.ics") == [200]  # fetched once, by one of the two workers
    with transaction(runtime.sessions) as session:
        state = session.get(models.CalendarSync, calendar_id)
        assert state is not None and state.last_error == "" and state.claimed_until is None
        assert state.last_attempt_at == state.last_synced_at  # one attempt, recorded once
        assert state.next_sync_at - state.last_synced_at == timedelta(minutes=10)
        stored = session.scalars(
            select(models.CalendarOccurrence.uid).where(
                models.CalendarOccurrence.calendar_id == calendar_id
            )
        ).all()
    assert sorted(stored) == [f"two-nodes-{n}@example.org" for n in range(1, FEED_EVENTS + 1)]


def _wait_for(ready: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _each_sent_once(runtime: Runtime, smtp: SmtpServer, queued: list[str]) -> None:
    received = Counter(str(r.message["Message-ID"]).strip() for r in smtp.received)
    with transaction(runtime.sessions) as session:
        expected: Any = set(session.scalars(select(models.OutboxMessage.message_id)))
    assert set(queued) <= expected and len(expected) == 100 + 2  # + the booking's two emails
    assert set(received) == expected
    assert all(count == 1 for count in received.values()), received.most_common(3)
