"""scheduler/ is the pure domain: it may import the standard library's pure parts, never I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SCHEDULER = Path(__file__).resolve().parents[2] / "scheduler"

FORBIDDEN = {
    "integrations",
    "web",
    "flask",
    "sqlalchemy",
    "alembic",
    "google",
    "googleapiclient",
    "smtplib",
    "requests",
    "urllib",
    "socket",
    "http",
    "caldav",
    "icalendar",
    "subprocess",
}
# Pure parts of forbidden packages: urllib.parse splits text and opens nothing.
PURE = {"urllib.parse"}


def forbidden_imports(source: str, filename: str) -> list[str]:
    """`file:line imports name` for every import of a forbidden top-level package."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in _DYNAMIC
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        else:
            continue
        found += [
            f"{filename}:{node.lineno} imports {name}"
            for name in names
            if name.split(".")[0] in FORBIDDEN and name not in PURE
        ]
    return found


_DYNAMIC = {"import_module", "__import__"}


def test_the_scheduler_package_imports_no_io_or_framework_package() -> None:
    files = sorted(SCHEDULER.rglob("*.py"))
    assert files, "scheduler/ has no Python files"
    problems = [
        problem
        for file in files
        for problem in forbidden_imports(file.read_text(encoding="utf-8"), str(file))
    ]
    assert problems == []


_CLOCKS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}
_CLOCKS |= {("time", name) for name in ("time", "monotonic", "perf_counter", "localtime")}


def clock_reads(source: str, filename: str) -> list[str]:
    """`file:line reads the clock` for datetime.now(), date.today(), time.time() and kin."""
    return [
        f"{filename}:{node.lineno} reads the clock with {node.func.value.id}.{node.func.attr}()"
        for node in ast.walk(ast.parse(source, filename))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and (node.func.value.id, node.func.attr) in _CLOCKS
    ]


def test_the_scheduler_never_reads_the_clock_itself() -> None:
    # Time is passed in as `now`/`today`, so every result is reproducible in a test.
    problems = [
        problem
        for file in sorted(SCHEDULER.rglob("*.py"))
        for problem in clock_reads(file.read_text(encoding="utf-8"), str(file))
    ]
    assert problems == []


def test_the_clock_guard_sees_now_and_today() -> None:
    source = "datetime.now(UTC)\ndate.today()\ntime.monotonic()\nslot.now\nx.today()"
    assert len(clock_reads(source, "x.py")) == 3


@pytest.mark.parametrize(
    "source",
    [
        "import socket",
        "import urllib.request",
        "from http import client",
        "from sqlalchemy.orm import Session",
        "def f():\n    import requests",
        "import importlib\nimportlib.import_module('web.cli')",
        "if True:\n    from integrations import config",
    ],
)
def test_the_guard_catches_an_io_import_wherever_it_hides(source: str) -> None:
    assert len(forbidden_imports(source, "x.py")) == 1


@pytest.mark.parametrize(
    "source",
    [
        "import zoneinfo",
        "from datetime import datetime",
        "from scheduler.model import Interval",
        "from . import model",
        "import httpx_like_name_is_not_http",
        "from urllib.parse import urlsplit",
    ],
)
def test_the_guard_lets_pure_imports_through(source: str) -> None:
    assert forbidden_imports(source, "x.py") == []
