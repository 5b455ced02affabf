"""The benchmark harness: verdicts on targets, the printed table, and process measurements."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from bench import run as bench_run
from bench.report import BenchError, Report, judge, run_subprocess, timed_subprocess


@pytest.mark.parametrize(
    ("target", "value", "unit", "ratio", "verdict"),
    [
        ("< 0.5 s", 0.2, "s", None, "PASS"),
        ("< 0.5 s", 0.7, "s", None, "MISS"),
        ("< 500 ms", 0.2, "s", None, "PASS"),
        ("<= 1.3x", 9.0, "s", 1.3, "PASS"),
        ("at most 1.3x", 9.0, "s", 1.31, "MISS"),
        (">= 50%", 900.0, "req/s", 0.5, "PASS"),
        ("at least 25%", 100.0, "req/s", 0.2, "MISS"),
        ("under 10 s", 12.0, "s", None, "MISS"),
        ("<= 2x", 1.0, "s", None, ""),  # no baseline: nothing to compare
        ("fast enough", 1.0, "s", 1.0, ""),
        ("< 3 MB", 1.0, "s", None, ""),  # units that do not convert are not judged
    ],
)
def test_targets_are_judged_against_value_or_ratio(
    target: str, value: float, unit: str, ratio: float | None, verdict: str
) -> None:
    assert judge(target, value, unit, ratio) == verdict


def test_a_figure_prints_value_baseline_ratio_target_and_verdict() -> None:
    out = io.StringIO()
    report = Report(out=out)
    report.start_module("bench_x")
    fig = report.figure(
        "plan", 1.5, "s", baseline_name="load", baseline_value=1.0, target="<= 1.5x"
    )
    report.note("20,000 contacts")
    assert fig.ratio == 1.5
    assert fig.verdict == "PASS"
    text = out.getvalue()
    assert "result" in text.splitlines()[2]
    row = text.splitlines()[3]
    for cell in ("plan", "1.50 s", "load: 1 s", "1.50x", "<= 1.5x", "PASS"):
        assert cell in row
    assert "note: 20,000 contacts" in text


def test_a_measured_process_reports_its_own_peak_memory_not_ours() -> None:
    ballast = bytearray(150 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(ballast[::4096])
    small = run_subprocess([sys.executable, "-c", "pass"])
    big = run_subprocess([sys.executable, "-c", "x = bytearray(100 * 1024 * 1024)"])
    assert small.peak_rss_mb < 60
    assert 100 < big.peak_rss_mb < 150
    assert small.returncode == 0
    del ballast


def test_a_failing_process_raises_with_its_error_output() -> None:
    with pytest.raises(BenchError, match="exited 3: boom"):
        timed_subprocess(
            [sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"]
        )


def test_the_runner_reports_a_broken_module_and_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "bench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bench_a_broken.py").write_text("def run(report):\n    raise ValueError('oops')\n")
    (package / "bench_b_fine.py").write_text(
        "def run(report):\n    report.figure('thing', 1.0, 's', target='< 2 s')\n"
    )
    monkeypatch.setattr(bench_run, "BENCH", package)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "bench" or m.startswith("bench.")]:
        monkeypatch.delitem(sys.modules, name)
    status = bench_run.main([])
    out = capsys.readouterr().out
    assert status == 1
    assert "ERROR bench_a_broken: ValueError: oops" in out
    assert "1 PASS, 0 MISS, 1 errors" in out
