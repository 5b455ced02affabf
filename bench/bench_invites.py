"""Invite pages under load: gunicorn (2 sync workers) on loopback, driven by wrk from another
process, beside a bare Flask "hello" app served the same way in the same run.

Figures: requests/s and p50/p99 latency for GET /i/<token> (the invite page) and for
POST action=accept (each request books a different invite, so every answer must be a 303),
with zero errors required, first on a prepared SQLite file with one owner, then on a fresh
PostgreSQL database (127.0.0.1:5432, or the server MEETAGAIN_BENCH_POSTGRES_URL names; created
for the run and dropped after it) with the accepts spread over 20 owners. Every owner has the
demo ICS calendar, read live on every accept. Bookings must equal the accepts answered 303.
Without /usr/bin/wrk a small threaded Python client does the same bounded load.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import ROOT, BenchError, Report, bench_env

SECONDS = float(os.environ.get("MEETAGAIN_BENCH_SECONDS", "5"))
CONNECTIONS = 4
WORKERS = 2
# More than any run can book (checked after the run), so every accept finds a free invite.
ACCEPT_INVITES = int(2500 * SECONDS) + 100
# The owner's caps: the accept invites offer four times a day (two hours apart, more than the
# default 10-minute buffer), so every one of them is bookable under these rules.
PER_DAY = 4
OWNERS_ON_POSTGRES = 20
POSTGRES_ADMIN_URL = os.environ.get(
    "MEETAGAIN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
WRK = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
if os.environ.get("MEETAGAIN_BENCH_CLIENT") == "python":  # force the fallback client
    WRK = None


# --- the apps gunicorn serves (factories: "bench.bench_invites:hello()") ----------------------


def hello() -> Any:
    """The baseline: the smallest Flask app there is."""
    from flask import Flask

    app = Flask("hello")

    @app.get("/")
    def index() -> str:
        return "hello"

    return app


def invite_app() -> Any:
    """meetagain as deployed ($MEETAGAIN_CONFIG), with the per-address rate limit off: every
    request of the benchmark comes from one address."""
    from integrations.config import load_config
    from web.http.app import create_app

    return create_app(load_config(), invite_rate_limit=None)


# --- preparing the database ------------------------------------------------------------------


@dataclass
class Prepared:
    config: Path
    page_token: str
    accept_file: Path
    database_url: str


def prepare(folder: Path, url: str, *, owners: int = 1) -> Prepared:
    """A migrated database with `owners` owners, each with the demo calendar and 20 contacts,
    one invite to view (the first owner's) and many to accept (one time each, all different
    for each owner), taken in turn from each owner."""
    from integrations.config import load_config
    from integrations.storage import models
    from integrations.storage.contacts import ContactRepository
    from integrations.storage.db import transaction
    from scheduler.invites import utc_iso
    from scheduler.model import Contact, ProposedTime
    from web.composition import Runtime
    from web.instance import create_secret, ensure_instance
    from web.services.demo import demo_calendar
    from web.services.invites import create_invite

    config_file = folder / "config.toml"
    config_file.write_text(
        f'[owner]\nname = "Olivia Owner"\nemails = ["olivia@example.com"]\n'
        f'timezone = "Europe/Berlin"\n\n[database]\nurl = "{url}"\n\n'
        f"[scheduling]\nmax_per_day = {PER_DAY}\nmax_per_week = {7 * PER_DAY}\n\n"
        f'[web]\ninstance_path = "{folder / "instance"}"\n'
    )
    config = load_config(config_file)
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    now = datetime.now(UTC)
    ics = folder / "work.ics"
    ics.write_bytes(
        demo_calendar(now.astimezone(config.zone).date(), config.zone, "olivia@example.com")
    )
    people: list[tuple[int, list[int]]] = []  # each owner and their contacts
    for n in range(owners):
        owner = runtime.owner_id(None if n == 0 else f"owner{n}@example.com", create=True)
        with transaction(runtime.sessions) as session:
            session.add(
                models.Calendar(
                    user_id=owner,
                    name="Work",
                    kind="ics",
                    location=str(ics),
                    counts_as_busy=True,
                    receives_events=False,
                    last_error="",
                    created_at=now,
                )
            )
            repo = ContactRepository(session, owner)
            contacts = [
                repo.add(
                    Contact(
                        name=f"Guest {n}",
                        emails=(f"guest{n}@example.org",),
                        how_met="a conference",
                        questions=("What are you building?",),
                    )
                ).id
                for n in range(20)
            ]
        people.append((owner, contacts))
    first = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=40)
    owner, contacts = people[0]
    page = create_invite(
        runtime,
        owner,
        contacts[0],
        [
            ProposedTime(
                first + timedelta(hours=h), first + timedelta(hours=h, minutes=45), "lunch"
            )
            for h in (0, 24, 48)
        ],
        now=now,
        send_email=False,
    )
    # The invites to accept are written in bulk, with exactly the rows create_invite writes
    # (checked against the first one, made by create_invite itself): thousands of them one
    # by one would take longer than the benchmark.
    each = -(-ACCEPT_INVITES // owners)
    starts = [
        first + timedelta(days=5 + n // PER_DAY, hours=8 + 2 * (n % PER_DAY)) for n in range(each)
    ]
    per_owner: list[list[str]] = []
    for owner, contacts in people:
        made = create_invite(
            runtime,
            owner,
            contacts[1],
            [ProposedTime(starts[0], starts[0] + timedelta(minutes=45), "lunch")],
            now=now,
            send_email=False,
        )
        mine = [f"{made.url.rsplit('/', 1)[1]} {utc_iso(starts[0])}"]
        mine += _bulk_invites(runtime, owner, contacts, starts[1:], model=made.invite_id)
        per_owner.append(mine)
    lines = [line for turn in zip(*per_owner, strict=True) for line in turn]
    accept_file = folder / "accept.txt"
    accept_file.write_text("\n".join(lines) + "\n")
    runtime.engine.dispose()
    return Prepared(config_file, page.url.rsplit("/", 1)[1], accept_file, url)


def _bulk_invites(
    runtime: Any,
    owner: int,
    contacts: list[int],
    starts: list[datetime],
    *,
    model: int,
) -> list[str]:
    """One open invite per start (contacts in turn), as "token start" lines for wrk."""
    import secrets

    from sqlalchemy import insert, select

    from integrations.storage import models
    from scheduler.invites import utc_iso
    from web.services.invites import TOKEN_BYTES, hash_token

    inv: Any = models.Invite.__table__  # Tables, typed as FromClause by the ORM
    tim: Any = models.InviteTime.__table__
    with runtime.engine.begin() as conn:
        first = conn.execute(select(inv).where(inv.c.id == model)).one()._asdict()
        del first["id"]
        invites, lines = [], []
        for n, start in enumerate(starts):
            token = secrets.token_urlsafe(TOKEN_BYTES)
            guest = 1 + (n + 1) % 19  # as create_invite would: contact, address, message
            invites.append(
                {
                    **first,  # the same message: every guest is "Guest N", met the same way
                    "contact_id": contacts[guest],
                    "email": f"guest{guest}@example.org",
                    "token_hash": hash_token(token),
                }
            )
            lines.append(f"{token} {utc_iso(start)}")
        ids = conn.execute(
            insert(inv).returning(inv.c.id, sort_by_parameter_order=True), invites
        ).scalars()
        times = [
            {
                "user_id": owner,
                "invite_id": invite_id,
                "start": start,
                "end": start + timedelta(minutes=45),
                "window": "lunch",
                "withdrawn": False,
            }
            for invite_id, start in zip(ids, starts, strict=True)
        ]
        conn.execute(insert(tim), times)
    return lines


def count_bookings(prepared: Prepared) -> int:
    from sqlalchemy import func, select

    from integrations.config import load_config
    from integrations.storage import models
    from integrations.storage.db import transaction
    from web.composition import Runtime

    runtime = Runtime(load_config(prepared.config))
    with transaction(runtime.sessions) as session:
        n = int(session.scalar(select(func.count()).select_from(models.Booking)) or 0)
    runtime.engine.dispose()
    return n


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database for this run (as tests/conftest.py makes them), dropped
    afterwards."""
    import psycopg

    name = f"meetagain_bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise BenchError(f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {exc}") from exc
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- serving and loading -----------------------------------------------------------------------


class Gunicorn:
    """gunicorn on 127.0.0.1 with an ephemeral port, read back from its log."""

    def __init__(self, app: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                str(WORKERS),
                "--worker-class",
                "sync",
                "--log-level",
                "info",
                "--access-logfile",
                str(log.with_suffix(".access")),
                "--access-logformat",
                "%(s)s",
                app,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.handle,
        )
        self.port = 0
        self.skip = 0

    def __enter__(self) -> Gunicorn:
        deadline = time.monotonic() + 60
        booted = 0
        while time.monotonic() < deadline:
            text = self.log.read_text()
            match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            booted = text.count("Booting worker")
            if match and booted >= WORKERS:
                self.port = int(match.group(1))
                time.sleep(1.0)  # let the workers import the app
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__()
        raise BenchError(f"gunicorn did not start:\n{self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.handle.close()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by gunicorn and its workers (Linux /proc; 0
        elsewhere): unlike requests/s it hardly depends on what else the machine is doing."""
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(p) for p in children.split()]
            total = 0
            for pid in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
        except (OSError, ValueError):
            return 0.0
        return total / os.sysconf("SC_CLK_TCK")

    def mark(self) -> None:
        """From here on, count requests (the warm-up before is left out)."""
        time.sleep(0.2)  # the access log is written after the response
        self.skip = len(self.log.with_suffix(".access").read_text().splitlines())

    def statuses(self) -> dict[str, int]:
        """Status codes from the access log (one line per request, "%(s)s") after mark()."""
        counts: dict[str, int] = {}
        lines = self.log.with_suffix(".access").read_text().splitlines()[self.skip :]
        for line in lines:
            if re.fullmatch(r"\d{3}", line.strip()):
                counts[line.strip()] = counts.get(line.strip(), 0) + 1
        return counts


@dataclass
class Load:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


_ACCEPT_LUA = """
local items = {}
for line in io.lines(os.getenv("ACCEPT_FILE")) do
  local token, start = line:match("^(%S+) (%S+)$")
  items[#items + 1] = {token, start}
end
local n = 0
request = function()
  n = n + 1
  local item = items[n]
  return wrk.format("POST", "/i/" .. item[1],
    {["Content-Type"] = "application/x-www-form-urlencoded"},
    "action=accept&start=" .. item[2])
end
"""


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        raise BenchError(f"cannot read wrk latency {text!r}")
    factor = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[match.group(2)]
    return float(match.group(1)) * factor


def wrk(url: str, *, script: Path | None = None, env: dict[str, str] | None = None) -> Load:
    """Closed-loop load with CONNECTIONS connections for SECONDS, from one wrk thread."""
    assert WRK is not None
    argv = [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS:g}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run(
        [*argv, url], capture_output=True, text=True, env=env, timeout=SECONDS + 60, check=False
    )
    text = out.stdout
    if out.returncode != 0:
        raise BenchError(f"wrk failed: {out.stderr[-1000:]}")
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", text).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", text).group(1))  # type: ignore[union-attr]
    errors = 0
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if bad:
        errors += int(bad.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    if errors:
        print(f"wrk reported errors for {url}:\n{text}", file=sys.stderr)
    return Load(requests, rps, p50, p99, errors)


def python_load(url: str, bodies: list[tuple[str, str]] | None = None) -> Load:
    """The same closed loop from a threaded Python client (when wrk is missing)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    counter = iter(range(10**9))

    def client() -> None:
        nonlocal errors
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            began = time.perf_counter()
            try:
                if bodies is None:
                    conn.request("GET", parts.path)
                else:
                    token, start = bodies[next(counter)]
                    conn.request(
                        "POST",
                        f"/i/{token}",
                        body=f"action=accept&start={start}",
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                    )
                status = conn.getresponse().status
                ok = status < 400
            except OSError:
                ok = False
            finally:
                conn.close()
            with lock:
                latencies.append((time.perf_counter() - began) * 1000)
                errors += 0 if ok else 1

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return Load(len(latencies), len(latencies) / elapsed, pick(0.5), pick(0.99), errors)


def _warm_up(port: int, requests: list[tuple[str, str | None]]) -> None:
    import http.client

    for path, start in requests:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            if start is None:
                conn.request("GET", path)
            else:
                conn.request(
                    "POST",
                    path,
                    body=f"action=accept&start={start}",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            conn.getresponse().read()
        finally:
            conn.close()


# --- the benchmark ----------------------------------------------------------------------------


def run(report: Report) -> None:
    folder = report.tmpdir("invites")
    prepared = prepare(folder, f"sqlite:///{folder / 'bench.db'}")
    env = bench_env()
    env["MEETAGAIN_CONFIG"] = str(prepared.config)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["ACCEPT_FILE"] = str(prepared.accept_file)
    script = folder / "accept.lua"
    script.write_text(_ACCEPT_LUA)
    accepts = [tuple(line.split()) for line in prepared.accept_file.read_text().splitlines()]
    tool = "wrk" if WRK else "python client"

    cpu: dict[str, float] = {}  # server CPU microseconds per request

    def measure(
        app: str,
        path: str,
        name: str,
        accept: bool = False,
        *,
        on: tuple[dict[str, str], list[tuple[str, ...]]] | None = None,
    ) -> tuple[Load, Gunicorn]:
        env_, accepts_ = on or (env, accepts)
        with Gunicorn(app, env_, folder / f"{name}.log") as server:
            url = f"http://127.0.0.1:{server.port}{path}"
            # Warm both workers (imports, first queries, the calendar parse) off the clock; the
            # accept warm-up books invites from the end of the list, which the run never reaches.
            warm = [(p, None) for p in [path if not accept else "/healthz"] * 20]
            if accept:
                warm += [(f"/i/{t}", s) for t, s in accepts_[-8:]]
            _warm_up(server.port, warm)
            server.mark()
            before = server.cpu_seconds()
            if WRK:
                load = wrk(url, script=script if accept else None, env=env_)
            else:
                load = python_load(url, accepts_ if accept else None)  # type: ignore[arg-type]
            cpu[name] = (server.cpu_seconds() - before) / max(1, load.requests) * 1e6
        return load, server

    # hello runs first and last and its mean is the baseline: on a shared machine the load
    # drifts during the run, and this way neither side gets only the quiet (or busy) moments.
    first_hello, _ = measure("bench.bench_invites:hello()", "/", "hello")
    first_cpu = cpu["hello"]
    page_load, page_server = measure(
        "bench.bench_invites:invite_app()", f"/i/{prepared.page_token}", "page"
    )
    accept_load, accept_server = measure(
        "bench.bench_invites:invite_app()", "/", "accept", accept=True
    )
    pg_folder = folder / "postgres"
    pg_folder.mkdir()
    with fresh_postgres() as pg_url:
        pg = prepare(pg_folder, pg_url, owners=OWNERS_ON_POSTGRES)
        pg_env = {**env, "MEETAGAIN_CONFIG": str(pg.config), "ACCEPT_FILE": str(pg.accept_file)}
        pg_accepts = [tuple(line.split()) for line in pg.accept_file.read_text().splitlines()]
        pg_load, pg_server = measure(
            "bench.bench_invites:invite_app()",
            "/",
            "pg_accept",
            accept=True,
            on=(pg_env, pg_accepts),
        )
        pg_booked = count_bookings(pg) - 8
    last_hello, _ = measure("bench.bench_invites:hello()", "/", "hello")
    cpu["hello"] = (first_cpu + cpu["hello"]) / 2
    hello_load = Load(
        first_hello.requests + last_hello.requests,
        (first_hello.rps + last_hello.rps) / 2,
        (first_hello.p50_ms + last_hello.p50_ms) / 2,
        max(first_hello.p99_ms, last_hello.p99_ms),
        first_hello.errors + last_hello.errors,
    )
    booked = count_bookings(prepared) - 8  # the warm-up's bookings
    page_codes = page_server.statuses()
    accept_codes = accept_server.statuses()
    pg_codes = pg_server.statuses()
    if accept_load.requests > ACCEPT_INVITES:
        raise BenchError(f"{accept_load.requests} accepts but only {ACCEPT_INVITES} invites")

    base = f"hello ({tool}, {CONNECTIONS} conns)"
    # The order of the table: requests/s against the target, then p50 and p99 for each.
    for label, load, target in (
        ("invite page", page_load, ">= 40%"),
        ("accept", accept_load, ">= 20%"),
        (f"accept on PostgreSQL, {OWNERS_ON_POSTGRES} owners,", pg_load, ">= 20%"),
    ):
        report.figure(
            f"{label} requests/s",
            load.rps,
            "req/s",
            baseline_name=base,
            baseline_value=hello_load.rps,
            target=target,
        )
        for quantile, value, hello_value in (
            ("p50", load.p50_ms, hello_load.p50_ms),
            ("p99", load.p99_ms, hello_load.p99_ms),
        ):
            report.figure(
                f"{label} {quantile}",
                value,
                "ms",
                baseline_name=f"hello {quantile}",
                baseline_value=hello_value,
                target="informational",
            )
    if cpu.get("hello"):
        for name, label in (
            ("page", "invite page"),
            ("accept", "accept"),
            ("pg_accept", "accept on PostgreSQL"),
        ):
            report.figure(
                f"{label} server CPU per request",
                cpu[name],
                "us",
                baseline_name="hello",
                baseline_value=cpu["hello"],
                target="informational",
            )
    errors = hello_load.errors + page_load.errors + accept_load.errors + pg_load.errors
    errors += sum(n for code, n in page_codes.items() if code != "200")
    errors += sum(n for code, n in accept_codes.items() if code != "303")
    errors += sum(n for code, n in pg_codes.items() if code != "303")
    report.figure("errors (non-2xx/3xx, socket, unexpected status)", errors, "", target="<= 0")
    report.figure(
        "bookings made == accepts answered 303",
        booked,
        "",
        baseline_name="accept 303s",
        baseline_value=accept_codes.get("303", 0),
        target="<= 1x",
    )
    report.figure(
        "PostgreSQL bookings made == accepts answered 303",
        pg_booked,
        "",
        baseline_name="accept 303s",
        baseline_value=pg_codes.get("303", 0),
        target="<= 1x",
    )
    report.note(
        f"hello {first_hello.rps:,.0f} req/s first, {last_hello.rps:,.0f} last; "
        f"invites: {page_load.requests} page views, {accept_load.requests} accepts, "
        f"{booked} bookings on sqlite; {pg_load.requests} accepts, {pg_booked} bookings on "
        f"postgresql ({OWNERS_ON_POSTGRES} owners); {tool}, "
        f"{CONNECTIONS} connections, {SECONDS:g}s each, gunicorn {WORKERS} sync workers"
    )
