"""`meetagain slots` over 8 weeks of 5 big calendars, cold and warm, against a bare parse.

Baseline: a process that only imports icalendar and parses the same 5 files (no expansion).
Cold: `meetagain slots` with a fresh, empty database (the cache gets filled). Warm: the same
command again (calendars unchanged, so no file is read or parsed). Also: the same command in a
fresh checkout with no database at all (no cache), and peak memory of each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.gen_calendars import generate
from bench.report import BenchError, Report, bench_env, meetagain_argv, run_subprocess

PARSE_ONLY = (
    "import sys, icalendar\n"
    "for path in sys.argv[1:]:\n"
    "    with open(path, 'rb') as f:\n"
    "        icalendar.Calendar.from_ical(f.read())\n"
)
REPEAT = 3


def _best(argv: list[str], cwd: Path, env: dict[str, str], repeat: int) -> tuple[float, float, str]:
    """Best wall time, peak RSS (MB) and stdout of `repeat` runs that must succeed."""
    best, peak, out = float("inf"), 0.0, ""
    for _ in range(repeat):
        result = run_subprocess(argv, env, cwd, timeout=600)
        if result.returncode != 0:
            tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
            raise BenchError(f"{' '.join(argv[:3])} ... exited {result.returncode}: {tail}")
        best = min(best, result.seconds)
        peak = max(peak, result.peak_rss_mb)
        out = result.stdout
    return best, peak, out


def run(report: Report) -> None:
    """Cold and warm `meetagain slots` as ratios of the parse-only process, plus peak memory."""
    work = report.tmpdir("slots")
    paths = generate(work / "calendars")
    events = sum(p.read_bytes().count(b"BEGIN:VEVENT") for p in paths)
    series = sum(p.read_bytes().count(b"\nRRULE:") for p in paths)
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    report.note(f"{len(paths)} calendars, {events} VEVENTs, {series} series, {megabytes:.1f} MB")
    env = bench_env()

    base_s, base_mb, _ = _best(
        [sys.executable, "-c", PARSE_ONLY, *map(str, paths)], work, env, REPEAT
    )
    args = [
        *(a for p in paths for a in ("--calendar", str(p))),
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-03-02",
        "--days",
        "56",
        "--now",
        "2026-03-01T00:00:00+01:00",
        "--format",
        "json",
    ]
    slots_argv = meetagain_argv("slots", *args)

    cold_s, cold_mb, cold_out = float("inf"), 0.0, ""
    folder = work
    for attempt in range(REPEAT):  # each cold run gets a fresh database
        folder = work / f"cold-{attempt}"
        folder.mkdir()
        _best(meetagain_argv("init"), folder, env, 1)
        seconds, peak, cold_out = _best(slots_argv, folder, env, 1)
        cold_s, cold_mb = min(cold_s, seconds), max(cold_mb, peak)
    warm_s, warm_mb, warm_out = _best(slots_argv, folder, env, REPEAT + 2)
    if warm_out != cold_out:
        raise BenchError("warm and cold `meetagain slots` printed different slots")
    fresh = work / "no-database"
    fresh.mkdir()
    nodb_s, nodb_mb, nodb_out = _best(slots_argv, fresh, env, REPEAT)
    if nodb_out != cold_out:
        raise BenchError("`meetagain slots` without a database printed different slots")
    found = len(json.loads(cold_out)["slots"])
    report.note(f"8 weeks from 2026-03-02 in Europe/Berlin: {found} free slots")

    baseline = "parse only (icalendar)"
    report.figure(
        "slots 8 weeks, cold cache",
        cold_s,
        "s",
        baseline_name=baseline,
        baseline_value=base_s,
        target="<= 0.5x",
    )
    report.figure(
        "slots 8 weeks, warm cache",
        warm_s,
        "s",
        baseline_name=baseline,
        baseline_value=base_s,
        target="<= 0.2x",
    )
    report.figure(
        "slots 8 weeks, no database",
        nodb_s,
        "s",
        baseline_name=baseline,
        baseline_value=base_s,
        target="<= 1.3x",
    )
    report.figure(
        "slots peak memory, cold",
        cold_mb,
        "MB",
        baseline_name=baseline,
        baseline_value=base_mb,
        target="informational",
    )
    report.figure(
        "slots peak memory, warm",
        warm_mb,
        "MB",
        baseline_name=baseline,
        baseline_value=base_mb,
        target="informational",
    )
    report.note(f"best of {REPEAT} (warm: {REPEAT + 2}); no-database peak {nodb_mb:.0f} MB")
    _from_the_store(report, work, paths, env, base_s)


def _from_the_store(
    report: Report, work: Path, paths: list[Path], env: dict[str, str], base_s: float
) -> None:
    """`meetagain slots` without --calendar: the same 5 calendars as [[calendars]] of the config,
    synced once into the calendar store, then read from it (8 weeks from today)."""
    folder = work / "store"
    folder.mkdir()
    entries = "".join(
        f'[[calendars]]\nname = "Calendar {n + 1}"\nkind = "ics"\npath = "{p}"\n\n'
        for n, p in enumerate(paths)
    )
    # The store reaches the planning horizon plus 30 days ahead: 8 weeks need 28 + 30 days.
    (folder / "config.toml").write_text(
        f"[scheduling]\nhorizon_days = 28\n\n{entries}", encoding="utf-8"
    )
    _best(meetagain_argv("init"), folder, env, 1)
    window = ["--days", "56", "--format", "json"]
    first_s, _, first_out = _best(meetagain_argv("slots", *window), folder, env, 1)
    store_s, store_mb, store_out = _best(meetagain_argv("slots", *window), folder, env, REPEAT + 2)
    files = [a for p in paths for a in ("--calendar", str(p))]
    _, _, parsed_out = _best(meetagain_argv("slots", *files, *window), folder, env, 1)
    if not (store_out == first_out == parsed_out):
        raise BenchError("`meetagain slots` from the store printed other slots than from the files")
    report.note(
        f"first run (syncs the 5 calendars into the store): {first_s:.2f} s; "
        f"from the store, peak {store_mb:.0f} MB"
    )
    report.figure(
        "slots 8 weeks from the store",
        store_s,
        "s",
        baseline_name="parse only (icalendar)",
        baseline_value=base_s,
        target="<= 0.1x",
    )
