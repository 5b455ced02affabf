"""Prometheus metrics (`[metrics] enabled`), through prometheus_client.

Counted per request (web.http.observe): latency and status per endpoint; per accept: its outcome.
Read from the database at scrape time: the outbox backlog and, per calendar kind, how long ago
the least recently read calendar was read and how many failed their last read.

Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (deploy/gunicorn.conf.py empties it at start):
every worker then writes its counts there and a scrape answered by any worker adds them all up.
The path answers only with `Authorization: Bearer <token>`, the token coming from the
environment variable `[metrics] token_env` names; the app refuses to start without it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from integrations.config import ConfigError

if TYPE_CHECKING:
    from flask import Flask

    from web.composition import Runtime

METRICS_KEY = "meetagain.metrics"
ACCEPT_OUTCOMES = ("booked", "conflict", "gone", "not_found", "invalid")
_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """This app's metric objects and its scrape."""

    def __init__(self, runtime: Runtime, token: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.runtime = runtime
        self.token = token
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "meetagain_request_duration_seconds",
            "Time to answer a request, per endpoint.",
            ["endpoint", "method"],
            registry=self.registry,
            buckets=_BUCKETS,
        )
        self.requests = Counter(
            "meetagain_requests",
            "Requests answered, per endpoint and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.accepts = Counter(
            "meetagain_invite_accepts",
            "Invite accepts by outcome: booked, conflict (time taken), gone, not_found, invalid.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ACCEPT_OUTCOMES:
            self.accepts.labels(outcome)  # every outcome shows, at 0 until it happens

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.latency.labels(endpoint, method).observe(seconds)
        self.requests.labels(endpoint, method, str(status)).inc()

    def authorised(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    def scrape(self) -> tuple[bytes, str]:
        """The exposition text of every process's counts plus the database's figures."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        if self.multiprocess:
            MultiProcessCollector(registry)
        else:
            registry.register(_Local(self.registry))
        registry.register(StoreCollector(self.runtime))
        return generate_latest(registry), CONTENT_TYPE_LATEST


class _Local:
    """This process's own metrics (without multiprocess mode), for the scrape registry."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        return iter(self.registry.collect())


class StoreCollector:
    """Outbox and calendar figures read from the database when scraped."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def describe(self) -> list[Any]:
        return []  # nothing to read when registered: only when scraped

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from web.services.monitoring import store_figures

        now = datetime.now(UTC)
        figures = store_figures(self.runtime)
        waiting, kinds = figures.backlog, figures.calendars
        yield GaugeMetricFamily(
            "meetagain_outbox_pending",
            "Outbox jobs (mail, calendar writes) waiting.",
            value=waiting.pending,
        )
        yield GaugeMetricFamily(
            "meetagain_outbox_failed",
            "Outbox jobs given up after their retries.",
            value=waiting.failed,
        )
        oldest = (now - waiting.oldest_pending).total_seconds() if waiting.oldest_pending else 0
        yield GaugeMetricFamily(
            "meetagain_outbox_oldest_pending_age_seconds",
            "Age of the oldest waiting outbox job (0 when none waits).",
            value=max(oldest, 0.0),
        )
        lag = GaugeMetricFamily(
            "meetagain_calendar_sync_lag_seconds",
            "Per calendar kind: time since the least recently read calendar was read.",
            labels=["kind"],
        )
        errors = GaugeMetricFamily(
            "meetagain_calendar_sync_errors",
            "Per calendar kind: calendars whose last read failed.",
            labels=["kind"],
        )
        count = GaugeMetricFamily(
            "meetagain_calendars", "Calendars that count as busy, per kind.", labels=["kind"]
        )
        for status in kinds:
            age = (now - status.oldest_read).total_seconds() if status.oldest_read else 0.0
            lag.add_metric([status.kind], max(age, 0.0))
            errors.add_metric([status.kind], status.failing)
            count.add_metric([status.kind], status.calendars)
        yield lag
        yield errors
        yield count


def init_app(app: Flask, runtime: Runtime) -> Metrics | None:
    """Metrics on `app` when `[metrics] enabled`; refuses to enable them without the token."""
    config = runtime.config.metrics
    if not config.enabled:
        return None
    token = config.token
    if not token:
        raise ConfigError(
            f"[metrics] enabled needs a bearer token in ${config.token_env} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    metrics = Metrics(runtime, token)
    app.extensions[METRICS_KEY] = metrics

    def scrape() -> Any:
        from flask import Response, request

        if not metrics.authorised(request.headers.get("Authorization")):
            return Response(
                "a bearer token is required\n",
                401,
                {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain"},
            )
        body, content_type = metrics.scrape()
        return Response(body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"})

    app.add_url_rule(config.path, "metrics", scrape, methods=["GET"])
    return metrics


def count_accept(app: Any, outcome: str) -> None:
    """Count one accept's outcome (when metrics are on)."""
    metrics: Metrics | None = app.extensions.get(METRICS_KEY)
    if metrics is not None:
        metrics.accepts.labels(outcome).inc()
