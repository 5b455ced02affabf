"""Run the benchmarks: every `bench/bench_*.py` module's `run(report)`, one table at the end.

    python bench/run.py              # all modules (what `make bench` does)
    python bench/run.py startup      # modules whose name contains "startup"
    python bench/run.py --list
    python bench/run.py --json out.json --strict

A module that raises is reported with its error and the others still run; the exit status is
then 1. With --strict a figure that misses its target also makes the exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH.parent) not in sys.path:
    # Run as a script, Python puts bench/ on the path, not the project: `import bench` needs it.
    sys.path.insert(0, str(BENCH.parent))

from bench.report import Report  # noqa: E402


def discover(patterns: list[str]) -> list[str]:
    """Names of the benchmark modules (bench_*.py), filtered by substrings, in name order."""
    names = sorted(p.stem for p in BENCH.glob("bench_*.py"))
    if patterns:
        names = [n for n in names if any(p in n for p in patterns)]
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", help="run only modules whose name contains these")
    parser.add_argument("--list", action="store_true", help="list the modules and exit")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a figure misses its target"
    )
    args = parser.parse_args(argv)

    names = discover(args.patterns)
    if args.list:
        print("\n".join(names))
        return 0
    if not names:
        print("no benchmark modules matched", file=sys.stderr)
        return 1

    workdir = Path(tempfile.mkdtemp(prefix="meetagain-bench-"))
    report = Report(workdir=workdir)
    errors: list[tuple[str, str]] = []
    started = time.perf_counter()
    try:
        for name in names:
            report.start_module(name)
            module_started = time.perf_counter()
            try:
                module = importlib.import_module(f"bench.{name}")
                module.run(report)
            except Exception as exc:  # one broken benchmark must not hide the others
                traceback.print_exc(file=sys.stdout)
                errors.append((name, f"{exc.__class__.__name__}: {exc}".splitlines()[0]))
                print(f"   ERROR in {name}: {errors[-1][1]}", flush=True)
            else:
                print(f"   ({time.perf_counter() - module_started:.1f} s)", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if args.json:
        args.json.write_text(report.to_json(), encoding="utf-8")
    passed = sum(f.verdict == "PASS" for f in report.figures)
    print(
        f"\n{len(names)} modules, {len(report.figures)} figures: {passed} PASS, "
        f"{len(report.misses)} MISS, {len(errors)} errors "
        f"({time.perf_counter() - started:.1f} s)"
    )
    for fig in report.misses:
        print(f"MISS  {fig.module}: {fig.name} (target {fig.target})")
    for name, message in errors:
        print(f"ERROR {name}: {message}")
    if errors or (args.strict and report.misses):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
