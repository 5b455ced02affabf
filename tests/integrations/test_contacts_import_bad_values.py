"""Values a fuzzer sent to the importer: each is reported on its line and the row is kept (or
skipped alone), never a hang, a crash or a number the forms would refuse. On both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from integrations.contacts_import import ImportReport, import_contacts
from integrations.storage import models
from integrations.storage.contacts import load_contacts
from integrations.storage.db import transaction
from scheduler.model import Contact
from web.composition import Runtime


@pytest.fixture
def user(runtime: Runtime) -> Iterator[int]:
    yield runtime.owner_id(create=True)
    runtime.engine.dispose()  # close pooled connections before the database is dropped


def run(runtime: Runtime, user: int, path: Path) -> ImportReport:
    with transaction(runtime.sessions) as session:
        return import_contacts(session, user, path)


def contacts(runtime: Runtime, user: int) -> dict[str, Contact]:
    with transaction(runtime.sessions) as session:
        return {c.name: c for c in load_contacts(session, user)}


def meetings(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(models.Interaction)) or 0


def test_a_huge_times_met_is_left_empty_with_its_line_instead_of_millions_of_meetings(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    path = tmp_path / "met.csv"
    path.write_text(
        "name,email,times_met,last_met\n"
        "Cy,cy@example.org,99999999999999999999999,2025-01-01\n"
        "Di,di@example.org,1000000,2025-01-01\n"
        "Ed,ed@example.org,500,2025-01-01\n",
        encoding="utf-8",
    )
    report = run(runtime, user, path)

    assert report.notes == [
        (
            2,
            "times_met '99999999999999999999999' must be at most 500; times_met left empty",
        ),
        (3, "times_met '1000000' must be at most 500; times_met left empty"),
    ]
    met = {name: c.times_met for name, c in contacts(runtime, user).items()}
    assert met == {"Cy": 1, "Di": 1, "Ed": 500}  # last_met still counts as one meeting
    assert meetings(runtime) == 502


def test_numbers_and_dates_in_other_scripts_digits_are_refused_as_the_forms_refuse_them(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    path = tmp_path / "digits.csv"
    path.write_text(
        "name,email,cadence_days,times_met,last_met\n"
        "Ana,ana@example.org,١٢,٣,2025-01-01\n"
        "Bo,bo@example.org,１２,,\n"
        "Cy,cy@example.org,12,3,2025-01-01\n",
        encoding="utf-8",
    )
    report = run(runtime, user, path)

    assert report.notes == [
        (2, "cadence_days '١٢' is not a whole number; cadence_days left empty"),
        (2, "times_met '٣' is not a whole number; times_met left empty"),
        (3, "cadence_days '１２' is not a whole number; cadence_days left empty"),
    ]
    found = contacts(runtime, user)
    assert (found["Ana"].cadence_days, found["Ana"].times_met) == (None, 1)
    assert found["Bo"].cadence_days is None
    assert (found["Cy"].cadence_days, found["Cy"].times_met) == (12, 3)


def test_a_linkedin_date_in_other_scripts_digits_is_left_empty_with_its_line(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    path = tmp_path / "Connections.csv"
    path.write_text(
        "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
        "Ana,Li,https://www.linkedin.com/in/ana-li,ana@example.org,,,٣ Feb 2024\n"
        "Bo,Ng,https://www.linkedin.com/in/bo-ng,bo@example.org,,,3 Feb 2024\n",
        encoding="utf-8",
    )
    report = run(runtime, user, path)

    assert report.notes == [
        (
            2,
            "Connected On '٣ Feb 2024' is not a date (use YYYY-MM-DD); Connected On left empty",
        )
    ]
    found = contacts(runtime, user)
    assert (found["Ana Li"].first_met, found["Bo Ng"].first_met) == (None, date(2024, 2, 3))


def test_a_cell_longer_than_csv_reads_skips_its_row_by_line_and_the_rest_imports(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    path = tmp_path / "bigcell.csv"
    spanning = '"' + "y\n" * 70_000 + '"'  # a quoted cell over 140,000 characters and lines
    path.write_text(
        "name,email,notes\n"
        "Ana,ana@example.org," + "x" * 200_000 + "\n"
        "Bo,bo@example.org,fine\n"
        f"Cy,cy@example.org,{spanning}\n"
        "Di,di@example.org,also fine\n"
        "Ed,ed@example.org," + "z" * 131_072 + "\n",
        encoding="utf-8",
    )
    report = run(runtime, user, path)

    most = "is longer than 131072 characters, the most a CSV cell may hold"
    assert report.problems == [(2, f"notes {most}"), (4, f"notes {most}")]
    found = contacts(runtime, user)
    assert set(found) == {"Bo", "Di", "Ed"}
    assert found["Di"].notes == "also fine" and len(found["Ed"].notes) == 131_072


def test_a_vcard_keeps_a_named_card_without_its_bad_email_and_reports_its_bad_lines(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    cards = tmp_path / "cards.vcf"
    cards.write_text(
        "BEGIN:VCARD\nVERSION:3.0\nFN:Ana\nEMAIL:not-an-email\nTZ:Mars/Phobos\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:3.0\nFN:Bo\nEMAIL:bo@example.org\nNOT A PROPERTY\n"
        " folded on\nTZ:-05:00\nTITLE:CTO\nEND:VCARD\n",
        encoding="utf-8",
    )
    report = run(runtime, user, cards)

    assert (report.created, report.skipped) == (2, 0)
    # Each note names the line of its property, not the card's BEGIN:VCARD.
    assert report.notes == [
        (4, "EMAIL 'not-an-email' is not an email address; EMAIL left empty"),
        (5, "timezone 'Mars/Phobos' is not a known time zone (like Europe/Berlin); TZ left empty"),
        (11, "'NOT A PROPERTYfolded on' is not a vCard property; line left out"),
    ]
    found = contacts(runtime, user)
    assert (found["Ana"].emails, found["Ana"].timezone) == ((), None)
    assert (found["Bo"].title, found["Bo"].timezone) == ("CTO", None)


def test_a_meeting_date_in_the_future_is_left_empty_with_its_line(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    """2030 would hide the contact from "who is due" until then: said, and left empty."""
    path = tmp_path / "future.csv"
    path.write_text(
        "name,email,first_met,last_met,times_met\n"
        "Fay,fay@example.org,2030-01-01,2030-01-02,1\n"
        "Gil,gil@example.org,2024-05-01,2025-01-02,2\n",
        encoding="utf-8",
    )
    report = run(runtime, user, path)
    assert (2, "first_met 2030-01-01 is in the future; first_met left empty") in report.notes
    assert (2, "last_met 2030-01-02 is in the future; last_met left empty") in report.notes
    found = contacts(runtime, user)
    assert (found["Fay"].first_met, found["Fay"].last_met) == (None, None)
    assert found["Gil"].last_met == date(2025, 1, 2)


def test_a_snooze_until_a_future_day_is_kept(runtime: Runtime, user: int, tmp_path: Path) -> None:
    """A snooze is always in the future: exported, it imports again as it was."""
    path = tmp_path / "snoozed.csv"
    path.write_text("name,email,snooze_until\nSam,sam@example.org,2031-06-01\n", encoding="utf-8")
    report = run(runtime, user, path)
    assert report.notes == []
    assert contacts(runtime, user)["Sam"].snoozed_until == date(2031, 6, 1)
