"""Odd form input is answered with a message, never a 500, and never loses stored data."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy import text as sql_text

from integrations.storage import models
from integrations.storage.db import transaction
from tests.web.support import PASSWORD, Web, ics_bytes, make_app, text
from web.composition import Runtime
from web.services.accounts import create_first_account
from web.services.calendar_sync import run_due

# "²" and "٣" pass str.isdigit(); 5000 digits pass it too but int() refuses them.
ODD_NUMBERS = ["²", "٣", "9" * 5000, "-5", "1e3", "3.5"]


def add_contact(site: Web, name: str = "Ana Souza", email: str = "ana@example.org") -> int:
    site.get("/contacts/new")
    response = site.post("/contacts/new", {"name": name, "emails": email})
    assert response.status_code == 303, text(response)
    return int(response.location.rsplit("/", 1)[1])


def contact(runtime: Runtime, contact_id: int) -> models.Contact:
    with transaction(runtime.sessions) as session:
        row = session.get(models.Contact, contact_id)
        assert row is not None
        return row


@pytest.mark.parametrize("days", ODD_NUMBERS)
def test_an_odd_snooze_length_is_refused_and_changes_nothing(
    site: Web, owner: int, sqlite_runtime: Runtime, days: str
) -> None:
    contact_id = add_contact(site)
    for url in (f"/contacts/{contact_id}/snooze", f"/plan/{contact_id}/snooze"):
        response = site.post(url, {"days": days})
        assert response.status_code == 400, url  # the page again, saying why
        assert "between 1 and 3650; nothing was changed" in text(response), url
        assert contact(sqlite_runtime, contact_id).snoozed_until is None


def test_an_odd_snooze_of_someone_elses_contact_on_the_plan_is_still_404(
    site: Web, owner: int
) -> None:
    assert site.post("/plan/999/snooze", {"days": "-5"}).status_code == 404


@pytest.mark.parametrize("cadence", ODD_NUMBERS[:4])
def test_an_odd_cadence_is_reported_next_to_its_field(
    site: Web, owner: int, sqlite_runtime: Runtime, cadence: str
) -> None:
    contact_id = add_contact(site)
    site.get(f"/contacts/{contact_id}")
    response = site.post(
        f"/contacts/{contact_id}/edit", {"name": "Changed", "cadence_days": cadence}
    )
    assert response.status_code == 400
    assert "between 1 and 3650" in text(response)
    assert contact(sqlite_runtime, contact_id).name == "Ana Souza"


@pytest.mark.parametrize("value", ["²", "9" * 5000, "x"])
def test_odd_ids_in_the_calendar_choice_and_meeting_confirmation_change_nothing(
    site: Web, owner: int, sqlite_runtime: Runtime, value: str
) -> None:
    site.get("/calendars")
    site.post(
        "/calendars/ics",
        {"name": "Work", "file": (io.BytesIO(ics_bytes()), "work.ics")},
        content_type="multipart/form-data",
    )
    response = site.post("/calendars/choose", {"busy": [value], "receiver": value})
    # Read as "nothing ticked", it would stop every calendar counting as busy, silently.
    assert response.status_code == 400
    assert "is not a calendar id; nothing was changed" in text(response)
    with transaction(sqlite_runtime.sessions) as session:
        [cal] = session.scalars(select(models.Calendar))
        assert cal.counts_as_busy
    response = site.post("/meetings/confirm", {"id": [value]})
    assert response.status_code == 400
    assert "Tick at least one meeting" in text(response)


@pytest.mark.parametrize("day", ["", "56", "7", "-1", "²"])
def test_an_odd_weekday_in_the_meal_windows_is_ignored(
    site: Web, owner: int, sqlite_runtime: Runtime, day: str
) -> None:
    site.get("/setup/time")
    form = {
        "timezone": "Europe/Berlin",
        "w_lunch_on": "1",
        "w_lunch_start": "12:00",
        "w_lunch_end": "13:00",
        "w_lunch_days": [day],
    }
    response = site.post("/setup/time", form)
    assert response.status_code == 400
    assert "Pick at least one day" in text(response)
    response = site.post("/setup/time", {**form, "w_lunch_days": [day, "2"]})
    assert response.status_code == 303
    with transaction(sqlite_runtime.sessions) as session:
        user = session.scalar(select(models.User))
        assert user is not None
        assert user.settings["windows"]["lunch"]["weekdays"] == ["wed"]


@pytest.fixture
def both_databases(runtime: Runtime) -> Iterator[Web]:
    """A signed-in owner on SQLite and on PostgreSQL (which enforces column lengths)."""
    create_first_account(runtime, "owner@example.com", PASSWORD, "Olivia Owner")
    site = Web(make_app(runtime).test_client())
    assert site.sign_in("owner@example.com").status_code == 303
    yield site


def test_over_long_names_are_refused_with_a_message_on_every_database(
    both_databases: Web, runtime: Runtime
) -> None:
    site = both_databases
    site.get("/calendars")
    response = site.post(
        "/calendars/ics",
        {"name": "N" * 300, "file": (io.BytesIO(ics_bytes()), "work.ics")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "200 characters or fewer" in text(response)
    response = site.post(
        "/calendars/caldav",
        {"caldav_url": "http://127.0.0.1:1/cal/", "username": "u" * 300, "password": "x"},
    )
    assert response.status_code == 400
    assert "200 characters or fewer" in text(response)
    site.get("/contacts/new")
    response = site.post("/contacts/new", {"name": "Ana", "emails": "a" * 330 + "@example.org"})
    assert response.status_code == 400
    assert "is not an email address" in text(response)
    response = site.post(
        "/settings/users",
        {"email": "b" * 250 + "@example.org", "password": PASSWORD, "name": "B" * 300},
    )
    assert response.status_code == 303
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(models.Calendar)) is None
        assert session.scalar(select(models.Contact)) is None
        names = set(session.scalars(select(models.User.name)))
        assert "B" * 200 in names


def test_a_binary_file_is_refused_as_contacts_and_as_a_calendar(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    add_contact(site)
    blob = bytes(range(256)) * 40
    site.get("/contacts/import")
    for fmt in ("auto", "csv", "linkedin", "vcard"):
        response = site.post(
            "/contacts/import",
            {"file": (io.BytesIO(blob), "photo.jpg"), "format": fmt},
            content_type="multipart/form-data",
        )
        assert response.status_code == 400, fmt
        assert "photo.jpg" in text(response), fmt
    site.get("/calendars")
    response = site.post(
        "/calendars/ics",
        {"name": "Photo", "file": (io.BytesIO(blob), "photo.ics")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "photo.ics" in text(response)
    with transaction(sqlite_runtime.sessions) as session:
        assert [c.name for c in session.scalars(select(models.Contact))] == ["Ana Souza"]
        assert session.scalar(select(models.Calendar)) is None


def test_unknown_ids_are_404_not_500(site: Web, owner: int) -> None:
    for url in ("/contacts/999", "/calendars/999", "/plan/999", "/invites/bookings/999"):
        assert site.get(url).status_code == 404, url
    for url in (
        "/contacts/999/edit",
        "/contacts/999/log",
        "/contacts/999/do-not-invite",
        "/contacts/999/invite",  # with no day: the unknown id is said first
        "/contacts/999/merge",
        "/contacts/interactions/999",
        "/calendars/999/check",
        "/calendars/999/delete",
        "/plan/999/skip",
        "/invites/999/cancel",
        "/outbox/999/retry",
    ):
        data = {"name": "X", "on": datetime.now(UTC).date().isoformat()}
        assert site.post(url, data).status_code == 404, url


def test_an_id_too_large_for_any_database_is_404_on_every_route(
    app: Flask, site: Web, owner: int
) -> None:
    """Every route with a numeric id, with one no 64-bit column can hold: the same 404 as any
    unknown id, never an overflow's 500."""
    huge = "9" * 23
    checked = 0
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        url = re.sub(r"<int:\w+>", huge, rule.rule)
        url = re.sub(r"<(?:\w+:)?\w+>", "x", url)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            data = {"name": "X", "on": datetime.now(UTC).date().isoformat(), "days": "3"}
            answer = site.get(url) if method == "GET" else site.post(url, data)
            assert answer.status_code == 404, f"{method} {url}: {answer.status_code}"
            checked += 1
    assert checked >= 30  # the owner's contacts, invites, bookings, calendars, places, users


def test_an_id_in_another_scripts_digits_names_no_row(site: Web, owner: int) -> None:
    """ "١" is a digit to Python's \\d and int(): the routes take ASCII digits only."""
    contact_id = add_contact(site)
    assert site.get(f"/contacts/{contact_id}").status_code == 200
    arabic = str(contact_id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert site.get(f"/contacts/{arabic}").status_code == 404


def test_an_invite_for_a_day_beyond_the_planned_years_is_refused_with_a_message(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add_contact(site)
    for day in ("9999-12-31", "0001-01-01"):
        sent = site.post(f"/contacts/{contact_id}/invite", {"day": day, "time": "12:30"})
        assert sent.status_code == 400, day
        page = text(sent)
        assert f"{day} is outside the years meetagain plans (1900 to 2999)" in page, day
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(models.Invite)) is None


def test_over_long_contact_fields_are_refused_by_name_and_keep_what_was_stored(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/contacts/new")
    response = site.post("/contacts/new", {"name": "N" * 100_000, "emails": "n@example.org"})
    assert response.status_code == 400
    assert "The name must be 300 characters or fewer, got 100000." in text(response)
    contact_id = add_contact(site)
    base = {"name": "Ana Souza", "emails": "ana@example.org", "relationship": "peer"}
    site.post(f"/contacts/{contact_id}/edit", {**base, "notes": "Met at PyData."})
    for extra, message in (
        ({"notes": "x" * 200_000}, "The notes must be 20000 characters or fewer, got 200000."),
        ({"city": "c" * 201}, "The city must be 200 characters or fewer, got 201."),
        ({"meals": ["lunch", "supper"]}, "Pick meals from the list."),
        ({"linkedin_url": "javascript:alert(1)"}, "is not an http(s) link."),
        ({"tags": ",".join(f"t{n}" for n in range(35))}, "Keep at most 30 tags, got 35."),
        ({"tags": "t" * 5000}, "A tag must be 100 characters or fewer, got 5000."),
        ({"questions": "q" * 200_000}, "A question must be 500 characters or fewer, got 200000."),
    ):
        response = site.post(f"/contacts/{contact_id}/edit", {**base, **extra})
        assert response.status_code == 400, extra
        assert message in text(response), extra
    row = contact(sqlite_runtime, contact_id)
    assert (row.notes, row.city, row.preferred_meals) == ("Met at PyData.", "", [])
    assert row.linkedin_url == ""
    assert (row.tags, row.questions) == ([], [])


def test_a_choice_outside_its_list_is_refused_not_read_as_another(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add_contact(site)
    assert site.post(f"/contacts/{contact_id}/do-not-invite", {"value": "maybe"}).status_code == 400
    assert site.post("/contacts/999/do-not-invite", {"value": "maybe"}).status_code == 404
    today = datetime.now(UTC).date().isoformat()
    logged = site.post(f"/contacts/{contact_id}/log", {"on": today, "kind": "bogus"})
    assert logged.status_code == 400
    assert "bogus" in text(logged) and "is not one of coffee, meal" in text(logged)
    long_notes = site.post(f"/contacts/{contact_id}/log", {"on": today, "notes": "n" * 20_001})
    assert long_notes.status_code == 400
    assert "The notes must be 20000 characters or fewer, got 20001; nothing was logged." in text(
        long_notes
    )
    assert contact(sqlite_runtime, contact_id).do_not_invite is False
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(models.Interaction)) is None


def test_a_caldav_password_sealed_under_an_old_secret_key_is_explained_not_a_500(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    from integrations.crypto import SecretBox

    with transaction(sqlite_runtime.sessions) as session:
        row = models.Calendar(
            user_id=owner,
            name="Dav",
            kind="caldav",
            location="http://127.0.0.1:9/dav/",
            username="me",
            secret_encrypted=SecretBox("an older secret key, long enough to be used").encrypt(
                b"pw"
            ),
            counts_as_busy=True,
            receives_events=False,
            last_error="",
            created_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        calendar_id = row.id
    site.get(f"/calendars/{calendar_id}")
    for action in ("test", "check"):
        response = site.post(f"/calendars/{calendar_id}/{action}")
        assert response.status_code == 303, action
        if action == "check":  # "Read now" queues; the worker's pass reads it
            run_due(sqlite_runtime)
        page = text(site.get(response.location))
        assert "cannot be decrypted" in page, action
    assert site.get("/").status_code == 200


def test_an_import_the_database_refuses_is_one_readable_line_without_sql(
    both_databases: Web, runtime: Runtime
) -> None:
    site = both_databases
    site.get("/contacts/new")
    site.post("/contacts/new", {"name": "Ana Souza", "emails": "ana@example.org"})
    long_row = "N" * 400 + ",a@example.org," + "C" * 400
    data = f"name,email,company\nBen,ben@example.org,X\n{long_row}\n".encode()
    site.get("/contacts/import")
    response = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(data), "people.csv")},
        content_type="multipart/form-data",
    )
    page = text(response)
    # SQLite stores long text as is; PostgreSQL refuses it. Either way: no SQL, nothing lost.
    assert "INSERT INTO" not in page and "[SQL" not in page
    if response.status_code == 400:
        assert "people.csv: a value in the file is too long to store" in page
    with transaction(runtime.sessions) as session:
        names = set(session.scalars(select(models.Contact.name)))
    assert "Ana Souza" in names


def test_an_import_a_database_constraint_refuses_is_a_400_naming_the_file_without_sql(
    both_databases: Web, runtime: Runtime
) -> None:
    """The service turns the refusal into the import's error; the page only shows it."""
    site = both_databases
    site.get("/contacts/new")
    site.post("/contacts/new", {"name": "Ana Souza", "emails": "ana@example.org"})
    refuse = (
        "ALTER TABLE contacts ADD CONSTRAINT short_city CHECK (length(city) < 6)"
        if runtime.engine.dialect.name == "postgresql"
        else "CREATE TRIGGER short_city BEFORE INSERT ON contacts WHEN length(NEW.city) > 5 "
        "BEGIN SELECT RAISE(ABORT, 'city too long'); END"
    )
    with runtime.engine.begin() as conn:
        conn.execute(sql_text(refuse))
    data = b"name,email,city\nBen,ben@example.org,Lisbon and around\n"
    site.get("/contacts/import")
    response = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(data), "people.csv")},
        content_type="multipart/form-data",
    )
    page = text(response)
    assert response.status_code == 400
    assert "people.csv: the database refused a value in the file; nothing was imported." in page
    assert "INSERT INTO" not in page and "short_city" not in page and "city too long" not in page
    with transaction(runtime.sessions) as session:
        names = set(session.scalars(select(models.Contact.name)))
    assert names == {"Ana Souza"}


def test_refused_owner_forms_answer_with_the_errors_status_and_the_page_saying_why(
    site: Web, owner: int
) -> None:
    """Bad input is a 400 and a thing that is not there a 404, on the page the form was on
    (not a 303 to it, which said "done" to anything but a person reading the page)."""
    ana = add_contact(site)
    site.get(f"/contacts/{ana}/merge")
    itself = site.post(f"/contacts/{ana}/merge", {"other": str(ana)})
    assert itself.status_code == 400 and "Pick two different contacts" in text(itself)
    later = site.post(f"/contacts/{ana}/log", {"on": "2999-01-01"})
    assert later.status_code == 400 and "today or earlier" in text(later)
    for path, said in (
        ("/places/999999/delete", "That place is already gone"),
        ("/places/trips/999999/delete", "That trip is already gone"),
    ):
        gone = site.post(path)
        assert gone.status_code == 404 and said in text(gone), path


def test_an_edit_that_leaves_fields_out_keeps_what_they_hold(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """A post without some fields (a script, a page from before a field existed) changes only
    what it sends; a field sent empty is cleared."""
    ana = add_contact(site)
    full = {
        "name": "Ana Souza",
        "emails": "ana@example.org",
        "company": "Helix",
        "title": "CTO",
        "notes": "Likes trains",
        "city": "Berlin",
        "timezone": "Europe/Berlin",
        "relationship": "mentor",
        "cadence_days": "30",
        "meals": ["", "lunch"],
    }
    site.get(f"/contacts/{ana}")
    assert site.post(f"/contacts/{ana}/edit", full).status_code == 303
    assert site.post(f"/contacts/{ana}/edit", {"name": "Ana S."}).status_code == 303
    row = contact(sqlite_runtime, ana)
    assert (row.name, row.company, row.title, row.notes, row.city) == (
        "Ana S.",
        "Helix",
        "CTO",
        "Likes trains",
        "Berlin",
    )
    kept = (row.timezone, row.relationship_kind, row.cadence_days)
    assert kept == ("Europe/Berlin", "mentor", 30)
    assert row.preferred_meals == ["lunch"]
    with transaction(sqlite_runtime.sessions) as session:
        emails = session.scalars(select(models.ContactEmail.email)).all()
    assert emails == ["ana@example.org"]
    # Sent empty: cleared (and no meal ticked is an answer too).
    assert site.post(f"/contacts/{ana}/edit", {"company": "", "meals": [""]}).status_code == 303
    row = contact(sqlite_runtime, ana)
    assert row.company == "" and row.preferred_meals == [] and row.name == "Ana S."
