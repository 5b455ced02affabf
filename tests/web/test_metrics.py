"""Prometheus metrics: off by default, behind a bearer token when on, and during a small load the
accept count equals the bookings made."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from integrations.config import ConfigError
from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from tests.helpers.invite_fixtures import (
    create_sharing_invite,
    make_contact,
    make_owner,
    next_weekday_at,
    serve_wsgi,
    times_at,
)
from web.composition import Runtime
from web.http.app import create_app

BERLIN = ZoneInfo("Europe/Berlin")
TOKEN = "metrics-token-for-tests"


def _metrics_app(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, **metrics: object) -> Flask:
    monkeypatch.setenv("MEETAGAIN_METRICS_TOKEN", TOKEN)
    config = runtime.config
    on = replace(config, metrics=replace(config.metrics, enabled=True, **metrics))
    return create_app(runtime=Runtime(on), invite_rate_limit=None)


def _scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_metrics_are_off_by_default(app: Flask) -> None:
    assert app.test_client().get("/metrics").status_code == 404


def test_metrics_cannot_be_switched_on_without_a_token(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEETAGAIN_METRICS_TOKEN", raising=False)
    config = sqlite_runtime.config
    on = replace(config, metrics=replace(config.metrics, enabled=True))
    with pytest.raises(ConfigError, match=r"MEETAGAIN_METRICS_TOKEN"):
        create_app(runtime=Runtime(on))


def test_the_metrics_path_wants_the_bearer_token(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _metrics_app(sqlite_runtime, monkeypatch, path="/ops/metrics").test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/ops/metrics").status_code == 401
    wrong = client.get("/ops/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    right = client.get("/ops/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert right.headers["Content-Type"].startswith("text/plain")
    assert "meetagain_outbox_pending" in right.get_data(as_text=True)


def test_during_a_load_the_accept_count_equals_the_bookings_made(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    owner = make_owner(runtime)
    shared = next_weekday_at(now, 3, 12, 0, BERLIN)
    plans = []  # (token, the invite's own time)
    for n in range(6):
        contact = make_contact(runtime, owner, f"Guest {n}", f"guest{n}@example.org")
        mine = next_weekday_at(now, 4 + n, 8, 0, BERLIN)
        created = create_sharing_invite(runtime, owner, contact, times_at(shared, mine), now=now)
        plans.append((created.url.rsplit("/", 1)[1], mine))
    app = _metrics_app(runtime, monkeypatch)
    statuses: list[int] = []
    scraped: list[str] = []
    lock = threading.Lock()
    with serve_wsgi(app) as base:
        auth = {"Authorization": f"Bearer {TOKEN}"}

        def accept(token: str, start: datetime) -> None:
            resp = requests.post(
                f"{base}/i/{token}",
                data={"action": "accept", "start": utc_iso(start)},
                allow_redirects=False,
                timeout=60,
            )
            with lock:
                statuses.append(resp.status_code)

        def scrape() -> None:
            scraped.append(requests.get(f"{base}/metrics", headers=auth, timeout=30).text)

        # Everyone races for the shared time (one wins), then each takes their own (one of
        # them twice), while the metrics are scraped.
        rounds = [
            [(token, shared) for token, _ in plans],
            [(token, mine) for token, mine in plans] + [(plans[0][0], plans[0][1])],
        ]
        for batch in rounds:
            threads = [threading.Thread(target=accept, args=args) for args in batch]
            threads.append(threading.Thread(target=scrape))
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        final = _scrape(requests.get(f"{base}/metrics", headers=auth, timeout=30).text)
    app.extensions["meetagain"].engine.dispose()  # the metrics app's own runtime
    with transaction(runtime.sessions) as session:
        bookings = session.scalar(select(func.count()).select_from(models.Booking))
    # The owner's weekly cap refuses some of the own times too: what counts is the agreement.
    assert bookings == statuses.count(303) and bookings >= 2
    assert final[("meetagain_invite_accepts_total", (("outcome", "booked"),))] == bookings
    refused = final[("meetagain_invite_accepts_total", (("outcome", "conflict"),))]
    refused += final[("meetagain_invite_accepts_total", (("outcome", "gone"),))]
    assert refused == len(statuses) - bookings
    assert all("meetagain_invite_accepts_total" in text for text in scraped)
    answered = final[
        (
            "meetagain_request_duration_seconds_count",
            (("endpoint", "invites.answer"), ("method", "POST")),
        )
    ]
    assert answered == len(statuses)
    assert final[("meetagain_outbox_pending", ())] >= bookings  # each booking queued mail
    assert final[("meetagain_outbox_oldest_pending_age_seconds", ())] >= 0


def test_sync_lag_and_errors_per_calendar_kind(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    owner = make_owner(sqlite_runtime)
    with transaction(sqlite_runtime.sessions) as session:
        for name, kind, read, error in (
            ("work", "ics", now - timedelta(minutes=30), ""),
            ("home", "ics", now - timedelta(minutes=5), "not an iCalendar file"),
            ("team", "caldav", now - timedelta(hours=2), ""),
        ):
            session.add(
                models.Calendar(
                    user_id=owner,
                    name=name,
                    kind=kind,
                    location="x",
                    last_read_at=read,
                    last_error=error,
                    created_at=now - timedelta(days=1),
                )
            )
    client = _metrics_app(sqlite_runtime, monkeypatch).test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    values = _scrape(client.get("/metrics", headers=auth).get_data(as_text=True))
    ics_lag = values[("meetagain_calendar_sync_lag_seconds", (("kind", "ics"),))]
    caldav_lag = values[("meetagain_calendar_sync_lag_seconds", (("kind", "caldav"),))]
    assert 30 * 60 <= ics_lag < 31 * 60 and 2 * 3600 <= caldav_lag < 2 * 3600 + 60
    assert values[("meetagain_calendar_sync_errors", (("kind", "ics"),))] == 1
    assert values[("meetagain_calendar_sync_errors", (("kind", "caldav"),))] == 0
    assert values[("meetagain_calendars", (("kind", "ics"),))] == 2
