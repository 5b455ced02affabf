"""Importing contacts from real files: native CSV, LinkedIn, vCard, mapped Excel CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from integrations.contacts_import import ContactFileError, export_csv, import_contacts
from integrations.storage.contacts import load_contacts
from integrations.storage.db import transaction
from scheduler.model import Contact, Meal, Relationship
from web.composition import Runtime

DATA = Path(__file__).parent.parent / "data" / "contacts"
EXCEL_MAP = "Full Name=name,E-mail=email,Firma=company,Notizen=notes"


def run(runtime: Runtime, user: int, source: Path | bytes, **kw: object):  # type: ignore[no-untyped-def]
    with transaction(runtime.sessions) as session:
        return import_contacts(session, user, source, **kw)  # type: ignore[arg-type]


def contacts(runtime: Runtime, user: int) -> dict[str, Contact]:
    with transaction(runtime.sessions) as session:
        return {c.name: c for c in load_contacts(session, user)}


def export(runtime: Runtime, user: int) -> str:
    with transaction(runtime.sessions) as session:
        return export_csv(session, user)


@pytest.fixture
def user(runtime: Runtime) -> Iterator[int]:
    yield runtime.owner_id(create=True)
    runtime.engine.dispose()  # close pooled connections before the database is dropped


def test_native_csv_imports_every_column(runtime: Runtime, user: int) -> None:
    report = run(runtime, user, DATA / "native.csv")
    assert (report.created, report.updated, report.skipped) == (5, 0, 0)
    jonas = contacts(runtime, user)["Jonas Weber"]
    assert jonas.emails == ("jonas.weber@example.com", "jonas@nordlicht.example")
    assert jonas.relationship is Relationship.MENTOR
    assert jonas.tags == ("board", "berlin")
    assert jonas.notes == "Prefers Italian, no fish"
    assert jonas.preferred_meals == {Meal.LUNCH}
    assert jonas.preferred_days == {1, 3}
    assert (jonas.first_met, jonas.last_met, jonas.times_met) == (
        date(2019, 5, 2),
        date(2026, 1, 26),
        4,
    )
    priya = contacts(runtime, user)["Priya Raman"]
    assert priya.cadence_days == 30 and priya.snoozed_until == date(2026, 4, 1)
    assert priya.timezone == "Europe/London"
    assert contacts(runtime, user)["Yusuf Demir"].do_not_invite


def test_export_then_import_is_lossless(runtime: Runtime, user: int, tmp_path: Path) -> None:
    run(runtime, user, DATA / "native.csv")
    run(runtime, user, DATA / "linkedin_connections.csv")
    first = export(runtime, user)
    other = runtime.owner_id("someone.else@example.com", create=True)
    report = run(runtime, other, first.encode())
    assert report.skipped == 0
    assert export(runtime, other) == first
    strip = lambda c: (c.name, c.emails, c.first_met, c.last_met, c.times_met, c.linkedin_url)  # noqa: E731
    assert sorted(map(strip, contacts(runtime, other).values())) == sorted(
        map(strip, contacts(runtime, user).values())
    )


def test_importing_the_same_file_twice_changes_nothing(runtime: Runtime, user: int) -> None:
    for name in ("native.csv", "linkedin_connections.csv", "apple_contacts.vcf", "contacts_v4.vcf"):
        run(runtime, user, DATA / name)
        before = export(runtime, user)
        report = run(runtime, user, DATA / name)
        assert (report.created, report.updated) == (0, 0), name
        assert export(runtime, user) == before


def test_linkedin_export_skips_the_notes_preamble_and_keeps_accents_and_commas(
    runtime: Runtime, user: int
) -> None:
    report = run(runtime, user, DATA / "linkedin_connections.csv")
    assert report.format == "linkedin"
    # A row with one bad field is kept, that field empty, and the line and field named.
    assert (report.created, report.skipped) == (6, 0)
    assert report.problems == []
    assert report.notes == [
        (9, "Connected On '31 Foo 2024' is not a date (use YYYY-MM-DD); Connected On left empty"),
        (10, "Email Address 'not-an-email' is not an email address; Email Address left empty"),
    ]
    broken = contacts(runtime, user)["Broken Date"]
    assert (broken.first_met, broken.company) == (None, "Nowhere")
    assert contacts(runtime, user)["Søren Kierkegaard"].emails == ()
    jose = contacts(runtime, user)["José Núñez"]
    assert jose.company == "Acme, Inc."
    assert (jose.first_met, jose.how_met) == (date(2024, 3, 15), "LinkedIn")
    assert jose.linkedin_url == "https://www.linkedin.com/in/jose-nunez-1a2b3c"
    assert contacts(runtime, user)["Zoë Müller"].title == "Founder, CEO"


def test_a_profile_url_that_is_no_web_address_is_left_empty_with_its_line(
    runtime: Runtime, user: int
) -> None:
    """ "javascript:alert(1)" must not become "https://www.javascript:alert(1)": the contact is
    kept, its URL left empty, and the line says why."""
    text = (
        "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
        "Eve,Script,javascript:alert(1),eve@example.org,,,\n"
        "Ada,Lovelace,linkedin.com/in/ada/,,,,\n"
    )
    report = run(runtime, user, text.encode())
    assert (report.created, report.skipped) == (2, 0)
    assert report.notes == [
        (2, "linkedin_url 'javascript:alert(1)' is not a web address; URL left empty")
    ]
    people = contacts(runtime, user)
    assert people["Eve Script"].linkedin_url == ""
    assert people["Ada Lovelace"].linkedin_url == "https://www.linkedin.com/in/ada"


def test_linkedin_merges_by_email_then_by_profile_url(runtime: Runtime, user: int) -> None:
    run(runtime, user, DATA / "native.csv")  # Ana Souza met at PyData, with an email
    report = run(runtime, user, DATA / "linkedin_connections.csv")
    assert (report.created, report.updated) == (5, 1)
    ana = contacts(runtime, user)["Ana Souza"]
    assert ana.how_met == "PyData Berlin"  # LinkedIn fills gaps, it does not overwrite
    assert ana.linkedin_url == "https://www.linkedin.com/in/anasouza"
    # José has no email: a re-export with a different name spelling still finds him by URL.
    renamed = (
        (DATA / "linkedin_connections.csv")
        .read_text(encoding="utf-8")
        .replace("José,Núñez", "Jose,Nunez")
    )
    report = run(runtime, user, renamed.encode())
    assert report.created == 0
    assert "Jose Nunez" in contacts(runtime, user)


def test_vcards_from_apple_contacts(runtime: Runtime, user: int) -> None:
    report = run(runtime, user, DATA / "apple_contacts.vcf")
    assert report.format == "vcard"
    assert (report.created, report.skipped) == (2, 1)
    assert report.problems == [(27, "card has no FN, no N and no EMAIL")]
    found = contacts(runtime, user)
    jonas = found["Jonas Weber"]
    assert jonas.emails == ("jonas.weber@example.com", "jonas@home.example")
    assert jonas.notes.endswith("always asks about the kids.")  # folded line joined
    assert (jonas.company, jonas.city) == ("Nordlicht GmbH", "Berlin")
    assert "Dr. Chidi Anan Okafor" in found  # N without FN


def test_vcards_from_google_contacts_merge_duplicate_emails(runtime: Runtime, user: int) -> None:
    report = run(runtime, user, DATA / "google_contacts.vcf")
    assert (report.created, report.skipped) == (2, 0)
    sofia = contacts(runtime, user)["Sofia Rossi"]
    assert sofia.emails == ("sofia.rossi@example.it", "sofia.r@gmail.example")
    assert sofia.tags == ("Product",)
    assert contacts(runtime, user)["Marcus Lee"].notes == "Met at KubeCon EU, talked about eBPF"


def test_vcard_4_with_folded_lines_and_bad_cards(runtime: Runtime, user: int) -> None:
    report = run(runtime, user, DATA / "contacts_v4.vcf")
    assert (report.created, report.skipped) == (3, 1)
    assert [line for line, _ in report.problems] == [24]
    # A card with a name and a bad email is kept without it, as a CSV row is; the note names
    # the EMAIL line itself (the card begins on line 19).
    assert report.notes == [
        (22, "EMAIL 'broken-at-example' is not an email address; EMAIL left empty")
    ]
    assert contacts(runtime, user)["Broken Email"].emails == ()
    isabel = contacts(runtime, user)["Isabel García"]
    assert isabel.timezone == "Europe/Madrid"
    assert "mentoring programme" in isabel.notes
    assert contacts(runtime, user)["Greta Larsen"].city == "Copenhagen"


def test_excel_csv_with_bom_and_semicolons_imports_through_a_mapping(
    runtime: Runtime, user: int
) -> None:
    report = run(runtime, user, DATA / "excel_semicolon_bom.csv", mapping=EXCEL_MAP)
    assert (report.created, report.skipped) == (3, 0)
    found = contacts(runtime, user)
    assert found["Jürgen Groß"].notes == "Likes pretzels; early riser"
    assert found["Jürgen Groß"].company == "Bäckerei Groß"
    again = run(runtime, user, DATA / "excel_semicolon_bom.csv", mapping=EXCEL_MAP)
    assert (again.created, again.updated) == (0, 0)


def test_bad_rows_are_reported_by_line_and_the_rest_imports(runtime: Runtime, user: int) -> None:
    report = run(runtime, user, DATA / "native_bad_rows.csv")
    # Each bad row has one bad field: the row is kept, that field empty, and said so.
    assert (report.created, report.skipped) == (6, 0)
    assert [line for line, _ in report.notes] == [3, 4, 6, 7]
    assert report.notes[0][1].startswith("relationship 'boss' is not one of")
    assert all(note.endswith(" left empty") for _, note in report.notes)
    found = contacts(runtime, user)
    assert found["Bad Relationship"].relationship.value == "other"
    assert (found["Bad Date"].first_met, found["Bad Date"].company) == (None, "Acme")
    assert found["Bad Email"].emails == ()
    assert found["Bad Count"].interactions == ()
    good = contacts(runtime, user)["Good One"]
    assert (good.times_met, good.last_met) == (3, date(2025, 6, 1))
    # times_met 3: the last on last_met, the earlier ones on first_met.
    assert [i.on for i in good.interactions] == [date(2025, 1, 1)] * 2 + [date(2025, 6, 1)]


def test_a_file_that_is_not_contacts_is_refused_with_one_line(
    runtime: Runtime, user: int, tmp_path: Path
) -> None:
    bad = tmp_path / "numbers.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ContactFileError, match="numbers.csv: line 1: no name or email column"):
        run(runtime, user, bad)
    # Two columns giving one field: the second's values would be dropped without a word.
    twice = tmp_path / "twice.csv"
    twice.write_text("name,Name,email\nA,B,dup@example.com\n")
    with pytest.raises(
        ContactFileError,
        match="twice.csv: line 1: the columns 'name' and 'Name' both give the contact's name",
    ):
        run(runtime, user, twice)
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("name,email\nJürgen,j@example.de\n".encode("latin-1"))
    with pytest.raises(ContactFileError, match="latin1.csv: line 2: not UTF-8"):
        run(runtime, user, latin)
    # Excel's "Unicode text" and Outlook exports: UTF-16, with or without a byte order mark.
    for name, encoding in (("excel.csv", "utf-16"), ("bare.csv", "utf-16-le")):
        wide = tmp_path / name
        wide.write_bytes("name,email\nJürgen,j@example.de\n".encode(encoding))
        with pytest.raises(
            ContactFileError, match=f"{name}: the file is UTF-16 encoded, not UTF-8 \\(save it"
        ):
            run(runtime, user, wide)
    with pytest.raises(ContactFileError, match="not a LinkedIn"):
        run(runtime, user, DATA / "native.csv", format="linkedin")
    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text('name,email,notes\nAna,a@example.org,"two\nlines"\n"Bob,b@example.org\n')
    with pytest.raises(ContactFileError, match="unclosed.csv: line 4: a quoted field starts here"):
        run(runtime, user, unclosed)
    with transaction(runtime.sessions) as session:
        assert load_contacts(session, user) == []


def test_a_crash_in_the_middle_of_an_import_leaves_the_contacts_as_they_were(
    sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    runtime = sqlite_runtime
    user = runtime.owner_id(create=True)
    run(runtime, user, DATA / "native.csv")
    before = export(runtime, user)
    # A database rule that rejects one contact, far down a file whose earlier rows update
    # existing contacts and create new ones (written in earlier chunks).
    with runtime.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER reject_boom BEFORE INSERT ON contacts WHEN NEW.name = 'Boom' "
            "BEGIN SELECT RAISE(ABORT, 'rejected by the database'); END"
        )
    rows = ["name,email,company"]
    rows += ["Jonas Weber,jonas.weber@example.com,Changed GmbH"]
    rows += [f"Person {i},p{i}@example.com,Acme" for i in range(2500)]
    rows += ["Boom,boom@example.com,Acme"]
    big = tmp_path / "big.csv"
    big.write_text("\n".join(rows) + "\n")
    with pytest.raises(Exception, match="rejected by the database"):
        run(runtime, user, big)
    assert export(runtime, user) == before
    with runtime.engine.connect() as conn:
        assert conn.execute(text("select count(*) from contacts")).scalar() == 5


def test_a_bad_row_after_a_multi_line_note_is_reported_on_its_own_line(
    runtime: Runtime, user: int
) -> None:
    data = (
        b"name,email,notes\n"
        b'Ana,ana@example.org,"line one\nline two\nline three"\n'
        b"Bad,not-an-email,\n"
    )
    report = run(runtime, user, data)
    assert report.notes == [(5, "email 'not-an-email' is not an email address; email left empty")]
    assert contacts(runtime, user)["Ana"].notes == "line one\nline two\nline three"


def test_an_email_another_contact_already_has_stays_there_and_the_row_says_so(
    runtime: Runtime, user: int
) -> None:
    run(runtime, user, b"name,email\nAna,ana@example.org\nBen,ben@example.org\n")
    report = run(runtime, user, b"name,email\nAna Lima,ana@example.org;ben@example.org\n")
    assert report.notes == [
        (2, "email ben@example.org already belongs to another contact; kept there")
    ]
    found = contacts(runtime, user)
    assert found["Ana Lima"].emails == ("ana@example.org",)
    assert found["Ben"].emails == ("ben@example.org",)


def test_two_rows_for_one_email_merge_and_the_later_row_says_so(
    runtime: Runtime, user: int
) -> None:
    report = run(
        runtime, user, b"name,email,company\nAna,ana@example.org,Old\nAna L,ANA@example.org,New\n"
    )
    assert (report.created, report.updated) == (1, 0)
    assert report.notes == [(3, "the same contact as line 2: merged")]
    assert contacts(runtime, user)["Ana L"].company == "New"


def test_a_google_contacts_export_is_recognised_by_its_header(runtime: Runtime, user: int) -> None:
    report = run(runtime, user, DATA / "google_contacts.csv")
    assert (report.format, report.created, report.skipped) == ("google", 2, 0)
    found = contacts(runtime, user)
    priya = found["Priya Raman"]
    assert priya.emails == ("priya.raman@example.com", "priya@home.example")
    assert (priya.company, priya.title, priya.city) == ("Lumen Analytics", "Data Lead", "Berlin")
    assert priya.notes == "Met at PyData, talks fast"
    # Google puts several addresses of one label in one cell, separated by " ::: ".
    assert found["Tomás Ortega"].emails == ("tomas@example.es", "tomas.o@example.es")


def test_an_outlook_export_is_recognised_by_its_header(runtime: Runtime, user: int) -> None:
    report = run(runtime, user, DATA / "outlook_contacts.csv")
    assert (report.format, report.created, report.skipped) == ("outlook", 1, 0)
    hannah = contacts(runtime, user)["Hannah Berg"]
    assert hannah.emails == ("hannah.berg@example.se", "hb@home.example")
    # Outlook's "Title" is "Ms."; the job is in "Job Title".
    assert (hannah.company, hannah.title, hannah.city) == (
        "Nordic Soft",
        "Product Manager",
        "Stockholm",
    )
    assert hannah.notes == "Coffee fan"


def test_a_row_without_email_finds_its_contact_by_name_case_and_accents_aside(
    runtime: Runtime, user: int
) -> None:
    run(runtime, user, "name,company\nJosé García,Old\n".encode())
    report = run(runtime, user, b"name,company\nJOSE GARCIA,New\nJosef Garcia,Other\n")
    assert (report.created, report.updated) == (1, 1)
    found = contacts(runtime, user)
    assert sorted(found) == ["JOSE GARCIA", "Josef Garcia"]
    assert found["JOSE GARCIA"].company == "New"
