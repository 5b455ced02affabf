"""What benchmark modules report through, and helpers to measure processes.

A benchmark module is `bench/bench_NAME.py` with `def run(report: Report) -> None`. It measures
and calls `report.figure(...)` once per number, each beside the baseline measured in the same run
and a target, so the table reads as ratios rather than machine-dependent absolutes:

    seconds, peak_mb = timed_subprocess(["meetagain", "--help"])
    report.figure("meetagain --help", seconds, "s",
                  baseline_name="python -c pass", baseline_value=base, target="< 0.5 s")

Targets are `OP NUMBER [UNIT]` with OP one of < <= > >= (or "at most", "at least", "under",
"over"). A unit of `x` compares the ratio value/baseline, `%` the ratio in percent, anything else
the value itself (s and ms convert). Any other text is shown but not judged.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A measured process failed; the message carries the end of its output."""


@dataclass(frozen=True)
class Figure:
    """One measured number with its baseline, target and verdict."""

    module: str
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    target: str = ""
    ratio: float | None = None
    verdict: str = ""  # "PASS", "MISS" or "" when the target is informational


@dataclass(frozen=True)
class ProcessRun:
    """How one child process went: wall time, its own peak RSS, exit code and output."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


_COLUMNS = (("figure", 44), ("value", 14), ("baseline", 30), ("ratio", 8), ("target", 14))


class Report:
    """Collects figures and notes and prints them as a table while the benchmarks run."""

    def __init__(self, out: IO[str] | None = None, workdir: Path | None = None) -> None:
        self.out = out or sys.stdout
        self.figures: list[Figure] = []
        self.notes: list[tuple[str, str]] = []
        self.module = ""
        self._workdir = workdir
        self._header_for = ""

    def start_module(self, module: str) -> None:
        """Begin the section of one benchmark module (the runner calls this)."""
        self.module = module
        self._print(f"\n== {module}")

    def figure(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        baseline_name: str | None = None,
        baseline_value: float | None = None,
        target: str = "",
    ) -> Figure:
        """Record and print one figure; returns it with its ratio and verdict."""
        ratio = (
            value / baseline_value
            if baseline_value is not None and baseline_value not in (0, 0.0)
            else None
        )
        verdict = judge(target, value, unit, ratio)
        fig = Figure(
            self.module, name, value, unit, baseline_name, baseline_value, target, ratio, verdict
        )
        self.figures.append(fig)
        if self._header_for != self.module:
            self._header_for = self.module
            self._print(_row([c for c, _ in _COLUMNS] + ["result"]))
        baseline = (
            f"{baseline_name}: {_number(baseline_value, unit)}"
            if baseline_name and baseline_value is not None
            else (baseline_name or "-")
        )
        self._print(
            _row(
                [
                    name,
                    _number(value, unit),
                    baseline,
                    f"{ratio:.2f}x" if ratio is not None else "-",
                    target or "-",
                    verdict or "-",
                ]
            )
        )
        return fig

    def note(self, text: str) -> None:
        """Print a line of context (input size, machine facts, what was skipped and why)."""
        self.notes.append((self.module, text))
        self._print(f"   note: {text}")

    def tmpdir(self, name: str) -> Path:
        """A fresh scratch folder for this run, removed when the runner finishes."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="meetagain-bench-"))
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._workdir))
        return path

    @property
    def misses(self) -> list[Figure]:
        return [f for f in self.figures if f.verdict == "MISS"]

    def to_json(self) -> str:
        return json.dumps(
            {
                "figures": [asdict(f) for f in self.figures],
                "notes": [{"module": m, "text": t} for m, t in self.notes],
            },
            indent=2,
        )

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def _row(cells: Sequence[str]) -> str:
    widths = [w for _, w in _COLUMNS] + [6]
    return "  ".join(
        (cell if len(cell) <= width else cell[: width - 1] + "…").ljust(width)
        for cell, width in zip(cells, widths, strict=True)
    ).rstrip()


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or value == int(value):
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


_TARGET = re.compile(
    r"^\s*(?P<op><=|>=|<|>|at most|at least|under|over|below|above)\s*"
    r"(?P<number>[0-9]*\.?[0-9]+)\s*(?P<unit>[^\s]*)\s*$",
    re.IGNORECASE,
)
_OPS: Mapping[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "under": lambda a, b: a < b,
    "below": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "at most": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "over": lambda a, b: a > b,
    "above": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "at least": lambda a, b: a >= b,
}
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0}


def judge(target: str, value: float, unit: str, ratio: float | None) -> str:
    """ "PASS" or "MISS" for a target such as "< 0.5 s", "<= 1.3x", ">= 50%"; "" if unjudgeable."""
    match = _TARGET.match(target)
    if not match:
        return ""
    op = _OPS[match.group("op").lower()]
    limit = float(match.group("number"))
    target_unit = match.group("unit")
    if target_unit == "x":
        measured = ratio
    elif target_unit == "%":
        measured = None if ratio is None else ratio * 100
    elif target_unit in ("", unit):
        measured = value
    elif target_unit in _SECONDS and unit in _SECONDS:
        measured = value * _SECONDS[unit] / _SECONDS[target_unit]
    else:
        return ""
    if measured is None:
        return ""
    return "PASS" if op(measured, limit) else "MISS"


# --- measuring ---------------------------------------------------------------------------------


# A fork inherits its parent's peak RSS (Linux records the old memory map's high-water mark at
# exec), so measuring a child of this process would report at least our own size. A small
# Python launcher forks the measured command instead and reports that grandchild's wait4()
# figures: the floor is the launcher's few MB, below any Python program's own peak.
_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
try:
    pid = os.posix_spawnp(argv[0], argv, os.environ)
except OSError as exc:
    sys.stderr.write(f"cannot run {argv[0]}: {exc}\\n")
    sys.exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
with open(report, "w") as f:
    f.write(f"{seconds} {usage.ru_maxrss} {code}")
sys.exit(code if code >= 0 else 128 - code)
"""


def run_subprocess(
    argv: Sequence[str | os.PathLike[str]],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    *,
    stdin: bytes | None = None,
    timeout: float | None = None,
) -> ProcessRun:
    """Run argv to completion and report its wall time and its own peak resident memory.

    Wall time is taken around the command alone (spawn to exit), not the launcher's start-up.
    Output goes through temporary files so nothing blocks on a full pipe.
    """
    with tempfile.TemporaryDirectory(prefix="meetagain-run-") as scratch:
        report_file = Path(scratch) / "usage"
        stdout_file = Path(scratch) / "stdout"
        stderr_file = Path(scratch) / "stderr"
        with stdout_file.open("wb") as out, stderr_file.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-S", "-I", "-c", _LAUNCHER, str(report_file)]
                + [os.fspath(a) for a in argv],
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # so a timeout can stop the whole group
            )
            try:
                process.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                command = " ".join(map(str, argv))
                raise BenchError(f"{command} took longer than {timeout} s") from None
        stdout = stdout_file.read_text("utf-8", "replace")
        stderr = stderr_file.read_text("utf-8", "replace")
        if not report_file.exists():
            raise BenchError(f"{' '.join(map(str, argv))} could not be started: {stderr.strip()}")
        seconds, maxrss, code = report_file.read_text().split()
        return ProcessRun(
            seconds=float(seconds),
            peak_rss_mb=_rss_mb(int(maxrss)),
            returncode=int(code),
            stdout=stdout,
            stderr=stderr,
        )


def _rss_mb(maxrss: int) -> float:
    # Linux reports kilobytes, macOS bytes.
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def timed_subprocess(
    argv: Sequence[str | os.PathLike[str]],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    *,
    repeat: int = 1,
    stdin: bytes | None = None,
    timeout: float | None = 600,
) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a process that must succeed: best time over `repeat` runs.

    Raises BenchError with the end of stderr when the process exits non-zero.
    """
    best = float("inf")
    peak = 0.0
    for _ in range(max(1, repeat)):
        result = run_subprocess(argv, env, cwd, stdin=stdin, timeout=timeout)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise BenchError(
                f"{' '.join(map(str, argv))} exited {result.returncode}: " + " | ".join(tail)
            )
        best = min(best, result.seconds)
        peak = max(peak, result.peak_rss_mb)
    return best, peak


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of `repeat` in-process calls of fn, in seconds."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def own_peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return _rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def meetagain_argv(*args: str) -> list[str]:
    """The `meetagain` command as users run it: the installed script next to this Python."""
    script = Path(sys.executable).parent / "meetagain"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "web", *args]


def bench_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's MEETAGAIN_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}
    env.update(extra)
    return env


@dataclass
class Timer:
    """A stopwatch for a block: `with Timer() as t: ...; t.seconds`."""

    seconds: float = 0.0
    _started: float = field(default=0.0, repr=False)

    def __enter__(self) -> Timer:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._started
