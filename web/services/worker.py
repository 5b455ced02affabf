"""The job runner behind `meetagain worker`: named jobs, each a pass over what is due, run in
a loop until a stop is asked for.

A job's pass returns how much it did; a job that did something runs again at once, one that
found nothing waits its interval. Stopping (SIGTERM, Ctrl-C) lets the pass in hand finish the
item it is on (a pass checks `stop` between items), then the loop ends. Several workers may run
side by side: each job claims its work in the database (the outbox with FOR UPDATE SKIP LOCKED on
PostgreSQL), so every item is done once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One kind of work: `run(stop)` does one pass and returns how many items it handled."""

    name: str
    run: Callable[[threading.Event], int]
    interval: float  # seconds to wait after a pass that found nothing


def run_jobs(jobs: Sequence[Job], stop: threading.Event) -> None:
    """Run `jobs` until `stop` is set; a pass that fails is logged and retried after its
    interval (the database may be away for a moment)."""
    due = {job.name: 0.0 for job in jobs}
    while not stop.is_set():
        for job in jobs:
            if stop.is_set():
                break
            if time.monotonic() < due[job.name]:
                continue
            try:
                handled = job.run(stop)
            except Exception:  # keep the worker alive; the next pass tries again
                log.exception("%s pass failed", job.name)
                handled = 0
            due[job.name] = time.monotonic() + (0.0 if handled else job.interval)
        stop.wait(max(min(due.values()) - time.monotonic(), 0.0))
