"""One worker keeps 2,000 unchanged ICS feeds fresh: what that costs in CPU.

2,000 feed calendars (in SQLite, the embedded default), each its own URL on a loopback HTTP
server in another process (so its CPU is not counted) that answers a conditional GET with 304.
After a first round (full reads, not measured), every calendar is made due and the worker's own
calendar-sync job (the one path `meetagain worker` runs: claim one due calendar, conditional GET,
record the result) runs until nothing is due. Its process CPU time (user + sys) for that round
is one 10-minute interval's work, reported as CPU seconds per 600 s and as a share of one core,
beside the CPU time of a bare HTTP client loop (niquests, a fresh session per feed as the worker
opens) making the same 2,000 conditional requests in the same run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import ROOT, Report

FEEDS = 2_000
INTERVAL_S = 600.0  # the sync interval the figure is scaled to: [sync] interval_minutes = 10
ETAG = '"bench-v1"'

# The feed server, in its own process: 2,000 paths with an ETag; prints its base URL, then
# serves until its stdin closes, then prints how many 304s it answered.
_SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.helpers.http_server import LoopbackHttpServer
from pathlib import Path
body = Path(sys.argv[4]).read_bytes()
with LoopbackHttpServer() as server:
    for n in range(int(sys.argv[2])):
        server.serve(f"/feed-{n}.ics", body, etag=sys.argv[3])
    print(server.base_url, flush=True)
    sys.stdin.read()
    print(sum(1 for h in server.hits if h.status == 304), flush=True)
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _feed_body(now: datetime) -> bytes:
    day = now.replace(hour=9, minute=0, second=0, microsecond=0)
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:f{n}@bench\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{day + timedelta(days=n):%Y%m%dT%H%M%SZ}\r\n"
        f"DTEND:{day + timedelta(days=n, hours=1):%Y%m%dT%H%M%SZ}\r\n"
        "SUMMARY:Busy\r\nEND:VEVENT\r\n"
        for n in (1, 3)
    )
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
    return f"{head}{events}END:VCALENDAR\r\n".encode()


def _runtime(folder: Path) -> Any:
    from integrations.config import load_config
    from web.composition import Runtime
    from web.instance import create_secret, ensure_instance

    config = load_config(
        None,
        {
            "web": {"instance_path": str(folder / "instance")},
            "database": {"url": f"sqlite:///{folder / 'bench.db'}"},
            # The feeds are on loopback, which calendars may reach only when allowed.
            "security": {"allow_private_networks": True},
        },
    )
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    return runtime


def _round(job: Any) -> tuple[int, float, float]:
    """Run the worker's sync job until a pass finds nothing due: (passes, CPU s, wall s)."""
    stop = threading.Event()
    passes = 0
    cpu, wall = _cpu(), time.perf_counter()
    while job.run(stop):
        passes += 1
    return passes, _cpu() - cpu, time.perf_counter() - wall


def _all_due(runtime: Any) -> None:
    from sqlalchemy import update

    from integrations.storage import models
    from integrations.storage.db import transaction

    with transaction(runtime.sessions) as session:  # ten minutes later: every feed is due
        session.execute(update(models.CalendarSync).values(next_sync_at=datetime.now(UTC)))


def _bare_loop(urls: list[str]) -> tuple[float, float]:
    """The same conditional GETs from a plain client loop: (CPU s, wall s)."""
    import niquests

    headers = {"If-None-Match": ETAG}
    cpu, wall = _cpu(), time.perf_counter()
    for url in urls:
        with niquests.Session(disable_http3=True) as http:
            answer = http.get(url, headers=headers, timeout=20)
        if answer.status_code != 304:
            raise RuntimeError(f"{url} answered {answer.status_code}, not 304")
    return _cpu() - cpu, time.perf_counter() - wall


def run(report: Report) -> None:
    """CPU of one worker round over 2,000 unchanged feeds, beside a bare client loop."""
    from integrations.storage import calendar_store, calendars
    from integrations.storage.db import transaction
    from web.services.outbox_worker import sync_job

    for name in [k for k in os.environ if k.startswith("MEETAGAIN_")]:
        del os.environ[name]
    work = report.tmpdir("feed-worker")
    now = datetime.now(UTC)
    body = work / "feed.ics"
    body.write_bytes(_feed_body(now))
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(ROOT), str(FEEDS), ETAG, str(body)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        base = server.stdout.readline().strip()
        if not base.startswith("http://"):
            raise RuntimeError("the feed server did not start")
        urls = [f"{base}/feed-{n}.ics" for n in range(FEEDS)]

        runtime = _runtime(work)
        owner = runtime.owner_id(create=True)
        with transaction(runtime.sessions) as session:
            for n, url in enumerate(urls):
                cid = calendars.add(
                    session, owner, name=f"Feed {n}", kind="ics", location=url, now=now
                )
                calendar_store.ensure_state(session, cid, owner, now)
        job = sync_job(runtime, interval=1.0)
        first, first_cpu, first_wall = _round(job)  # full reads: 200s, parsed (not measured)
        if first != FEEDS:
            raise RuntimeError(f"the first round synced {first} of {FEEDS} feeds")
        report.note(f"first round ({FEEDS} full reads): {first_cpu:.1f} s CPU, {first_wall:.1f} s")

        _all_due(runtime)
        synced, worker_cpu, worker_wall = _round(job)
        if synced != FEEDS:
            raise RuntimeError(f"the measured round synced {synced} of {FEEDS} feeds")
        bare_cpu, bare_wall = _bare_loop(urls)
        runtime.engine.dispose()
    finally:
        out, _ = server.communicate("", timeout=60)
    not_modified = int(out.strip() or 0)
    if not_modified != 2 * FEEDS:  # the worker's round and the bare loop's
        raise RuntimeError(f"the feed server answered {not_modified} 304s, not {2 * FEEDS}")

    share = 100 * worker_cpu / INTERVAL_S
    report.note(
        f"worker round: {FEEDS} syncs, 304 each, {worker_wall:.1f} s wall; "
        f"bare loop: {bare_wall:.1f} s wall"
    )
    report.figure(
        f"worker CPU, {FEEDS:,} unchanged feeds / 10 min",
        worker_cpu,
        "s",
        baseline_name="bare HTTP loop",
        baseline_value=bare_cpu,
        target="<= 120 s",  # 20% of one core over the 600 s interval
    )
    report.figure(
        "worker share of one core at 10-min interval",
        share,
        "%core",
        baseline_name="bare HTTP loop",
        baseline_value=100 * bare_cpu / INTERVAL_S,
        target="<= 20 %core",
    )
