"""/healthz and /readyz: whether this node can serve, each answered within DEADLINE seconds.

/healthz runs `SELECT 1` on the database; /readyz does that and, when the rate limits are kept in
Redis, pings Redis. A check that fails or does not answer in time gives 503, and the next
request checks again: a database that comes back is seen without a restart.

A check runs in its own thread so that a hanging server (a network that drops packets) costs
the request only the deadline. At most one run of each check is in flight: while one hangs, the
next request answers 503 at once instead of piling up threads. The database check opens its own
connection each time (with a connect timeout), so a dead pooled connection cannot make it hang.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from web.composition import Runtime

log = logging.getLogger(__name__)

DEADLINE = 1.5  # seconds for all checks of one request together
CONNECT_TIMEOUT = 2  # seconds (libpq's minimum) for the check's own database connection
STALE = 30.0  # a run still hanging after this long is abandoned and a new one started

bp = Blueprint("health", __name__)


class Check:
    """One named check, run in a thread with at most one run in flight."""

    def __init__(self, name: str, probe: Callable[[], None]) -> None:
        self.name = name
        self.probe = probe
        self._lock = threading.Lock()
        self._running: tuple[float, Future[None]] | None = None

    def start(self) -> Future[None]:
        """The run in flight, or a new one."""
        with self._lock:
            running = self._running
            if (
                running is not None
                and not running[1].done()
                and time.monotonic() - running[0] < STALE
            ):
                return running[1]
            future: Future[None] = Future()
            self._running = (time.monotonic(), future)
        thread = threading.Thread(
            target=self._run, args=(future,), name=f"meetagain-check-{self.name}", daemon=True
        )
        thread.start()
        return future

    def _run(self, future: Future[None]) -> None:
        try:
            self.probe()
        except BaseException as exc:  # any failure is the check's answer
            future.set_exception(exc)
        else:
            future.set_result(None)


class Health:
    """The checks of one app: the database always, Redis when the limits live there."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.database = Check("database", self._select_one)
        storage = runtime.config.web.rate_limit_storage
        self.redis = Check("redis", _redis_ping(storage)) if storage.startswith("redis") else None
        self._engine: Engine | None = None

    def _select_one(self) -> None:
        from sqlalchemy import text

        with self._check_engine().connect() as conn:
            conn.execute(text("SELECT 1"))

    def _check_engine(self) -> Engine:
        if self._engine is None:
            from sqlalchemy.pool import NullPool

            from integrations.storage import db

            url = self.runtime.config.database_url
            if db.is_sqlite(self.runtime.engine):
                self._engine = self.runtime.engine  # a file: nothing on the way can hang
            else:
                self._engine = db.make_engine(
                    url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT}
                )
        return self._engine

    def run(self, checks: list[Check]) -> dict[str, str]:
        """Each check's answer ("ok" or why not), all within DEADLINE seconds."""
        end = time.monotonic() + DEADLINE
        futures = [(check, check.start()) for check in checks]
        results = {}
        for check, future in futures:
            try:
                future.result(timeout=max(end - time.monotonic(), 0.0))
                results[check.name] = "ok"
            except TimeoutError:
                results[check.name] = "timeout"
            except Exception as exc:  # the check failed: say how, in one line, without secrets
                log.warning("%s check failed: %s", check.name, exc.__class__.__name__)
                results[check.name] = f"error: {exc.__class__.__name__}"
        return results


def _redis_ping(url: str) -> Callable[[], None]:
    def ping() -> None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            client.ping()
        finally:
            client.close()

    return ping


def _health() -> Health:
    health: Health = current_app.extensions["meetagain.health"]
    return health


def _answer(results: dict[str, str]) -> tuple[dict[str, Any], int]:
    ok = all(value == "ok" for value in results.values())
    return {"status": "ok" if ok else "unavailable", "checks": results}, 200 if ok else 503


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    """The process serves and its database answers."""
    health = _health()
    return _answer(health.run([health.database]))


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    """Ready for traffic: the database and (when configured) Redis answer."""
    health = _health()
    checks = [health.database] + ([health.redis] if health.redis is not None else [])
    return _answer(health.run(checks))


def init_app(app: Any, runtime: Runtime) -> None:
    from web.http.sessions import SESSIONLESS_KEY

    app.extensions["meetagain.health"] = Health(runtime)
    app.register_blueprint(bp)
    # Probes carry no session; one that does (a browser) is not looked up either.
    app.extensions[SESSIONLESS_KEY] = app.extensions.get(SESSIONLESS_KEY, frozenset()) | {
        "health.healthz",
        "health.readyz",
    }
