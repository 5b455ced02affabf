"""How fast the command starts: `meetagain --help` beside a bare `python -c pass`."""

from __future__ import annotations

import sys

from bench.report import Report, bench_env, meetagain_argv, timed_subprocess

REPEAT = 7


def run(report: Report) -> None:
    """Best-of-7 wall time and peak memory of `meetagain --help`, against the bare interpreter."""
    cwd = report.tmpdir("startup")
    env = bench_env()
    base, base_mb = timed_subprocess(
        [sys.executable, "-c", "pass"], env=env, cwd=cwd, repeat=REPEAT
    )
    help_s, help_mb = timed_subprocess(meetagain_argv("--help"), env=env, cwd=cwd, repeat=REPEAT)
    report.figure(
        "meetagain --help",
        help_s,
        "s",
        baseline_name="python -c pass",
        baseline_value=base,
        target="< 0.5 s",
    )
    report.figure(
        "meetagain --help peak memory",
        help_mb,
        "MB",
        baseline_name="python -c pass",
        baseline_value=base_mb,
        target="<= 4x",
    )
    sub_s, _ = timed_subprocess(meetagain_argv("db", "--help"), env=env, cwd=cwd, repeat=REPEAT)
    report.figure(
        "meetagain db --help",
        sub_s,
        "s",
        baseline_name="python -c pass",
        baseline_value=base,
        target="< 0.5 s",
    )
    report.note(f"best of {REPEAT} runs each; the help text must not import Flask or SQLAlchemy")
