"""Values that do not fit the database are left out and reported by line, the row kept with
that field empty (only a name that cannot be stored skips its row); the rest still imports.

PostgreSQL refuses a value longer than its VARCHAR column (and any NUL character), which used to
abort the whole import there while SQLite stored it: these run on both databases.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.contacts_import import ImportReport, import_contacts
from integrations.storage.contacts import load_contacts
from integrations.storage.db import transaction
from web.composition import Runtime

HEADER = ["name", "email", "company", "title", "timezone", "city", "notes"]


@pytest.fixture
def user(runtime: Runtime) -> Iterator[int]:
    yield runtime.owner_id(create=True)
    runtime.engine.dispose()  # close pooled connections before the database is dropped


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([HEADER, *rows])
    return path


def run(runtime: Runtime, user: int, path: Path) -> ImportReport:
    with transaction(runtime.sessions) as session:
        return import_contacts(session, user, path)


def names(runtime: Runtime, user: int) -> set[str]:
    with transaction(runtime.sessions) as session:
        return {c.name for c in load_contacts(session, user)}


def good(n: int) -> list[str]:
    return [f"Good {n}", f"good{n}@example.com", "Acme", "CTO", "Europe/Berlin", "Berlin", ""]


def test_an_overlong_company_is_left_empty_with_the_line_and_the_limit(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    long_company = ("Very Long Company " * 23).strip()  # 413 characters
    rows = [good(1), good(2), good(3), good(4), good(5)]
    rows.insert(3, ["Too Long", "too.long@example.com", long_company, "CEO", "", "", ""])
    report = run(runtime, user, write_csv(tmp_path / "contacts.csv", rows))

    assert (report.created, report.skipped) == (6, 0)
    # Header on line 1, so the fourth data row is line 5.
    assert report.notes == [(5, "company is 413 characters, at most 300; company left empty")]
    assert names(runtime, user) == {f"Good {n}" for n in range(1, 6)} | {"Too Long"}
    with transaction(runtime.sessions) as session:
        kept = {c.name: c for c in load_contacts(session, user)}["Too Long"]
    assert (kept.company, kept.title, kept.emails) == ("", "CEO", ("too.long@example.com",))


def test_every_limited_field_is_checked_and_named(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    rows = [
        good(1),
        ["N" * 301, "n@example.com", "", "", "", "", ""],
        ["Title", "t@example.com", "", "T" * 301, "", "", ""],
        ["City", "c@example.com", "", "", "", "C" * 201, ""],
        ["Email", "e" * 310 + "@example.com", "", "", "", "", ""],
        ["Both", "b@example.com", "X" * 301, "Y" * 302, "", "", ""],
        good(2),
    ]
    report = run(runtime, user, write_csv(tmp_path / "contacts.csv", rows))

    # A name that cannot be stored skips its row; any other field is left out of it.
    assert report.problems == [(3, "name is 301 characters, at most 300")]
    assert report.notes == [
        (4, "title is 301 characters, at most 300; title left empty"),
        (5, "city is 201 characters, at most 200; city left empty"),
        (6, "email is 322 characters, at most 320; that email left out"),
        (7, "company is 301 characters, at most 300; company left empty"),
        (7, "title is 302 characters, at most 300; title left empty"),
    ]
    assert names(runtime, user) == {"Good 1", "Title", "City", "Email", "Both", "Good 2"}


def test_long_notes_need_no_limit(runtime: Runtime, user: int, tmp_path: Path) -> None:
    notes = "Talked about sourdough. " * 2000  # 48,000 characters in a Text column
    rows = [[*good(1)[:6], notes]]
    report = run(runtime, user, write_csv(tmp_path / "contacts.csv", rows))

    assert (report.created, report.skipped) == (1, 0)
    with transaction(runtime.sessions) as session:
        (contact,) = load_contacts(session, user)
    assert contact.notes == notes.strip()


def test_an_unknown_time_zone_is_reported_on_its_row(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    rows = [
        good(1),
        ["Zoned", "z@example.com", "", "", "Mars/Olympus_Mons", "", ""],
        ["Folder", "f@example.com", "", "", "America/Argentina", "", ""],
        ["Huge", "h@example.com", "", "", "Europe/" + "x" * 400, "", ""],
        good(2),
    ]
    report = run(runtime, user, write_csv(tmp_path / "contacts.csv", rows))

    left = "; timezone left empty"
    assert report.notes == [
        (3, f"timezone 'Mars/Olympus_Mons' is not a known time zone (like Europe/Berlin){left}"),
        (4, f"timezone 'America/Argentina' is not a known time zone (like Europe/Berlin){left}"),
        (5, f"timezone 'Europe/{'x' * 50}...' is not a known time zone (like Europe/Berlin){left}"),
    ]
    assert names(runtime, user) == {"Good 1", "Zoned", "Folder", "Huge", "Good 2"}


def test_a_nul_character_is_reported_on_its_row(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    rows = [good(1), ["Nul", "nul@example.com", "Ac\x00me", "", "", "", ""], good(2)]
    report = run(runtime, user, write_csv(tmp_path / "contacts.csv", rows))

    assert report.notes == [(3, "company contains a NUL character; company left empty")]
    assert names(runtime, user) == {"Good 1", "Nul", "Good 2"}


def test_a_vcard_time_zone_naming_a_folder_is_ignored_not_fatal(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    cards = tmp_path / "cards.vcf"
    cards.write_text(
        "BEGIN:VCARD\nVERSION:3.0\nFN:Ana\nEMAIL:ana@example.com\nTZ:America/Argentina\n"
        "END:VCARD\nBEGIN:VCARD\nVERSION:3.0\nFN:Bo\nEMAIL:bo@example.com\n"
        f"ORG:{'O' * 301}\nEND:VCARD\n"
    )
    report = run(runtime, user, cards)

    assert (report.created, report.skipped) == (2, 0)
    # Named on the ORG line itself (the card begins on line 7).
    assert (11, "company is 301 characters, at most 300; company left empty") in report.notes
    assert names(runtime, user) == {"Ana", "Bo"}


def test_the_cli_imports_the_good_rows_and_names_the_overlong_one(
    database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[owner]\nname = "Test Owner"\nemails = ["owner@example.com"]\n'
        'timezone = "Europe/Berlin"\n\n[web]\ninstance_path = "instance"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}
    env["MEETAGAIN_DATABASE_URL"] = database_url
    rows = [good(1), good(2), ["Too Long", "too.long@example.com", "C" * 412, "", "", "", ""]]
    path = write_csv(tmp_path / "contacts.csv", [*rows, good(3)])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "web", "--config", str(config), *args]
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done

    cli("init")
    done = cli("contacts", "import", str(path))

    assert done.stdout.splitlines()[0] == "created 4, updated 0, already up to date 0, skipped 0"
    assert "line 4: company is 412 characters, at most 300; company left empty" in done.stdout


def test_a_cadence_beyond_ten_years_is_left_empty_with_the_line_and_the_limit(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    path = tmp_path / "cadence.csv"
    path.write_text(
        "name,email,cadence_days\n"
        "Ana,ana@example.com,30\n"
        "Ben,ben@example.com,9999999999\n"
        "Cy,cy@example.com,99999999999999999999999\n"
        "Di,di@example.com,3650\n",
        encoding="utf-8",
    )
    report = run(runtime, user, path)

    assert report.notes == [
        (3, "cadence_days '9999999999' must be at most 3650; cadence_days left empty"),
        (
            4,
            "cadence_days '99999999999999999999999' must be at most 3650; cadence_days left empty",
        ),
    ]
    with transaction(runtime.sessions) as session:
        cadences = {c.name: c.cadence_days for c in load_contacts(session, user)}
    assert cadences == {"Ana": 30, "Ben": None, "Cy": None, "Di": 3650}


def test_more_tags_or_questions_than_a_contact_keeps_are_reported_on_their_row(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    """The contact form keeps at most 30 tags (100 characters each), 20 questions (500 each)
    and 2,000 characters of how you met: an import must not store a contact the form could
    then never save."""
    path = tmp_path / "contacts.csv"
    tags = ";".join(f"tag{n}" for n in range(31))
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(
            [
                ["name", "email", "tags", "questions", "how_met"],
                ["Fine", "fine@example.com", "a;b", "How is the book?", "A conference"],
                ["Tags", "tags@example.com", tags, "", ""],
                ["Long Tag", "long@example.com", "x" * 101, "", ""],
                ["Asks", "asks@example.com", "", ";".join(["Why?"] * 21), ""],
                ["Met", "met@example.com", "", "", "m" * 2001],
                ["Edge", "edge@example.com", ";".join(["t"] * 30), "q" * 500, "m" * 2000],
            ]
        )
    report = run(runtime, user, path)

    assert report.notes == [
        (3, "tags: 31 given, at most 30; tags left empty"),
        (4, "a tag is 101 characters, at most 100; tags left empty"),
        (5, "questions: 21 given, at most 20; questions left empty"),
        (6, "how_met is 2001 characters, at most 2000; how_met left empty"),
    ]
    assert names(runtime, user) == {"Fine", "Tags", "Long Tag", "Asks", "Met", "Edge"}


def test_an_address_copied_from_a_mail_program_imports_bare(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    rows = [
        ["Ana Lima", "Ana Lima <ana@example.org>", "", "", "", "", ""],
        ["Bo Li", "<mailto:bo@example.org>", "", "", "", "", ""],
    ]
    report = run(runtime, user, write_csv(tmp_path / "contacts.csv", rows))
    assert (report.created, report.skipped) == (2, 0)
    with transaction(runtime.sessions) as session:
        emails = {c.name: c.emails for c in load_contacts(session, user)}
    assert emails == {"Ana Lima": ("ana@example.org",), "Bo Li": ("bo@example.org",)}
