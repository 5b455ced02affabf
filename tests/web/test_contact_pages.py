"""Contacts in the web app: add, search, sort, the contact page, edit, log, snooze, import."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.model import Contact
from tests.web.support import Web, text
from web.composition import Runtime
from web.services.contacts import ContactLine


def today() -> date:
    return datetime.now(UTC).date()


def add(site: Web, name: str, email: str = "", **extra: str) -> int:
    site.get("/contacts/new")
    response = site.post("/contacts/new", {"name": name, "emails": email, **extra})
    assert response.status_code == 303, text(response)
    return int(response.location.rstrip("/").rsplit("/", 1)[1])


def contact_row(runtime: Runtime, contact_id: int) -> models.Contact:
    with transaction(runtime.sessions) as session:
        row = session.get(models.Contact, contact_id)
        assert row is not None
        row.emails, row.interactions  # noqa: B018 - load before the session closes
        return row


def test_adding_a_contact_by_hand_with_when_you_last_met(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    met = (today() - timedelta(days=40)).isoformat()
    contact_id = add(
        site, "Ana Souza", "ana@example.org", relationship="mentor", how_met="PyData", last_met=met
    )
    row = contact_row(sqlite_runtime, contact_id)
    assert row.relationship_kind == "mentor"
    assert [e.email for e in row.emails] == ["ana@example.org"]
    assert [i.occurred_on.isoformat() for i in row.interactions] == [met]
    page = text(site.get(f"/contacts/{contact_id}"))
    assert "Ana Souza" in page and "PyData" in page and "every 45 days" in page


def test_the_add_form_takes_the_city_with_the_cities_type_ahead(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    form = text(site.get("/contacts/new"))
    assert 'name="city"' in form and 'data-cities="/places/cities.json"' in form
    contact_id = add(site, "Sam Boston", "sam@example.org", city="Boston")
    assert contact_row(sqlite_runtime, contact_id).city == "Boston"


def test_a_contact_added_with_a_city_reads_times_in_its_zone_and_sleeps_at_night(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """The add form has no zone field: a New York contact's zone comes from the city, so a
    Berlin breakfast picked by hand is a video call at 2 in the morning for her, and refused
    (before, with no zone known, it went out as "in person" with no place)."""
    from zoneinfo import ZoneInfo

    contact_id = add(site, "Grace Miller", "grace@example.org", city="New York")
    assert contact_row(sqlite_runtime, contact_id).timezone == "America/New_York"
    day = today() + timedelta(days=3)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    resp = site.post(f"/contacts/{contact_id}/invite", {"day": day.isoformat(), "time": "08:00"})
    assert resp.status_code == 400
    there = datetime.combine(day, datetime.min.time(), ZoneInfo("Europe/Berlin")).replace(hour=8)
    there = there.astimezone(ZoneInfo("America/New_York"))
    assert (
        f"is {there:%H:%M} for Grace Miller (America/New_York), outside the waking hours"
        in unescape(text(resp))
    )
    # A zone that came from the city follows the city; one typed stays.
    form = {"name": "Grace Miller", "emails": "grace@example.org", "relationship": "peer"}
    site.get(f"/contacts/{contact_id}")
    moved = site.post(
        f"/contacts/{contact_id}/edit",
        {**form, "city": "London", "timezone": "America/New_York"},
    )
    assert moved.status_code == 303, text(moved)
    assert contact_row(sqlite_runtime, contact_id).timezone == "Europe/London"
    site.post(f"/contacts/{contact_id}/edit", {**form, "city": "London", "timezone": "Asia/Tokyo"})
    site.post(f"/contacts/{contact_id}/edit", {**form, "city": "Paris", "timezone": "Asia/Tokyo"})
    assert contact_row(sqlite_runtime, contact_id).timezone == "Asia/Tokyo"


def test_a_contact_without_a_name_or_with_a_bad_email_is_refused(site: Web, owner: int) -> None:
    site.get("/contacts/new")
    response = site.post("/contacts/new", {"name": "", "emails": "not-an-email"})
    assert response.status_code == 400
    page = text(response)
    assert "Enter a name." in page and "is not an email address" in page


def test_the_edit_form_shows_every_problem_at_once(site: Web, owner: int) -> None:
    """Checks of the form and of the contact service answer together: one send shows all
    that is wrong, and nothing is saved."""
    contact_id = add(site, "Ana", "ana@example.org", company="Lumen")
    site.get(f"/contacts/{contact_id}")
    response = site.post(
        f"/contacts/{contact_id}/edit",
        {
            "name": "Ana",
            "emails": "bob@",
            "relationship": "peer",
            "tags": ", ".join(f"t{n}" for n in range(31)),
            "how_met": "m" * 2001,
            "linkedin_url": "javascript:alert(1)",
            "timezone": "Mars/Olympus",
        },
    )
    assert response.status_code == 400
    page = unescape(text(response))
    for said in (
        '"bob@" is not an email address.',
        "Keep at most 30 tags, got 31.",
        "How you met must be 2000 characters or fewer, got 2001.",
        "is not an http(s) link.",
        "Mars/Olympus",
    ):
        assert said in page, said
    assert "Lumen" in text(site.get(f"/contacts/{contact_id}"))


@pytest.mark.parametrize(
    "typed",
    [
        # From a mail link.
        " mailto:ana@example.org , MAILTO:ana.work@example.org",
        # From a mail program: names with a comma, quoted or as Outlook copies them, are not
        # split at it.
        '"Lima, Ana" <ana@example.org>; Lima, Ana <ana.work@example.org>',
    ],
)
def test_addresses_pasted_from_mail_links_and_programs_are_kept_bare(
    site: Web, owner: int, sqlite_runtime: Runtime, typed: str
) -> None:
    contact_id = add(site, "Ana", typed)
    row = contact_row(sqlite_runtime, contact_id)
    assert [e.email for e in row.emails] == ["ana@example.org", "ana.work@example.org"]


def test_an_email_can_belong_to_only_one_contact(site: Web, owner: int) -> None:
    add(site, "Ana", "ana@example.org")
    site.get("/contacts/new")
    response = site.post("/contacts/new", {"name": "Other Ana", "emails": "ANA@example.org"})
    assert response.status_code == 400
    assert "already belongs to another contact" in text(response)


def test_search_finds_by_name_company_and_tag_and_sorting_puts_overdue_first(
    site: Web, owner: int
) -> None:
    old = (today() - timedelta(days=400)).isoformat()
    recent = (today() - timedelta(days=2)).isoformat()
    add(site, "Zed Recent", "zed@example.org", company="Acme", last_met=recent)
    add(site, "Amy Overdue", "amy@example.org", company="Globex", last_met=old)
    page = text(site.get("/contacts"))
    assert page.index("Amy Overdue") < page.index("Zed Recent")
    by_name = text(site.get("/contacts?sort=name"))
    assert by_name.index("Amy Overdue") < by_name.index("Zed Recent")
    found = text(site.get("/contacts?q=acme"))
    assert "Zed Recent" in found and "Amy Overdue" not in found
    assert "1 contact matching" in found


def test_editing_keeps_what_was_not_changed_and_bad_input_loses_nothing(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(site, "Ana", "ana@example.org", company="Lumen")
    site.get(f"/contacts/{contact_id}")
    good = {
        "name": "Ana Souza",
        "emails": "ana@example.org, ana@work.example",
        "company": "Lumen",
        "relationship": "peer",
        "cadence_days": "30",
        "questions": "How is dbt?\nNew job?",
        "notes": "Likes espresso",
        "tags": "data, berlin",
        "meals": ["breakfast"],
    }
    assert site.post(f"/contacts/{contact_id}/edit", good).status_code == 303
    row = contact_row(sqlite_runtime, contact_id)
    assert row.name == "Ana Souza" and row.cadence_days == 30
    assert row.questions == ["How is dbt?", "New job?"]
    assert [e.email for e in row.emails] == ["ana@example.org", "ana@work.example"]
    bad = {**good, "name": "Changed", "cadence_days": "-4", "timezone": "Nowhere/Land"}
    response = site.post(f"/contacts/{contact_id}/edit", bad)
    assert response.status_code == 400
    page = text(response)
    assert "between 1 and 3650" in page and "is not a known time zone" in page
    assert contact_row(sqlite_runtime, contact_id).name == "Ana Souza"


def test_logging_a_meeting_restarts_the_cadence(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(
        site, "Ana", "ana@example.org", last_met=(today() - timedelta(days=300)).isoformat()
    )
    assert "days overdue" in text(site.get(f"/contacts/{contact_id}"))
    response = site.post(
        f"/contacts/{contact_id}/log",
        {"on": today().isoformat(), "kind": "coffee", "notes": "Talked about dbt"},
    )
    assert response.status_code == 303
    page = text(site.get(f"/contacts/{contact_id}"))
    assert "Talked about dbt" in page and "days overdue" not in page


def test_a_meeting_cannot_be_logged_with_a_bad_or_future_date(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(site, "Ana", "ana@example.org")
    site.get(f"/contacts/{contact_id}")
    site.post(f"/contacts/{contact_id}/log", {"on": "yesterday"})
    future = (today() + timedelta(days=5)).isoformat()
    site.post(f"/contacts/{contact_id}/log", {"on": future})
    assert contact_row(sqlite_runtime, contact_id).interactions == []


def test_snooze_and_do_not_invite(site: Web, owner: int, sqlite_runtime: Runtime) -> None:
    contact_id = add(site, "Ana", "ana@example.org")
    site.get(f"/contacts/{contact_id}")
    site.post(f"/contacts/{contact_id}/snooze", {"days": "30"})
    row = contact_row(sqlite_runtime, contact_id)
    assert row.snoozed_until is not None and row.snoozed_until > today()
    site.post(f"/contacts/{contact_id}/snooze", {"days": "0"})
    assert contact_row(sqlite_runtime, contact_id).snoozed_until is None
    site.post(f"/contacts/{contact_id}/do-not-invite", {"value": "1"})
    assert contact_row(sqlite_runtime, contact_id).do_not_invite
    assert "Allow invites again" in text(site.get(f"/contacts/{contact_id}"))
    site.post(f"/contacts/{contact_id}/do-not-invite", {"value": "0"})
    assert not contact_row(sqlite_runtime, contact_id).do_not_invite


def test_importing_a_file_shows_the_per_row_report(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    data = (
        b"name,email,company,relationship\n"
        b"Ana Souza,ana@example.org,Lumen,peer\n"
        b"Broken Row,not-an-email,X,peer\n"
        b"Jonas Weber,jonas@example.com,Nordlicht,mentor\n"
    )
    site.get("/contacts/import")
    odd = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(data), "people.csv"), "format": "zzz"},
        content_type="multipart/form-data",
    )
    assert odd.status_code == 400
    assert "is not one of auto, csv, linkedin or vcard: nothing was imported" in unescape(text(odd))
    response = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(data), "people.csv"), "format": "auto"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = text(response)
    assert "Imported people.csv" in page
    # The row with one bad field is kept without it, and the report names line and field.
    assert "<strong>3</strong> added" in page and "<strong>0</strong> skipped" in page
    assert "email &#39;not-an-email&#39; is not an email address; email left empty" in page
    with transaction(sqlite_runtime.sessions) as session:
        assert len(list(session.scalars(select(models.Contact)))) == 3


def test_an_imported_contact_with_long_notes_can_still_be_edited(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """An import keeps another tool's notes whole (30,000 characters here); the form asks for
    at most 20,000 only of notes being written, so the rest of the contact stays editable."""
    history = "\n".join(f"{n}: talked about sourdough and data teams" for n in range(700))
    data = f'name,email,company,notes\nAna Souza,ana@example.org,Lumen,"{history}"\n'.encode()
    site.get("/contacts/import")
    site.post(
        "/contacts/import",
        {"file": (io.BytesIO(data), "crm.csv"), "format": "auto"},
        content_type="multipart/form-data",
    )
    with transaction(sqlite_runtime.sessions) as session:
        (contact_id,) = session.scalars(select(models.Contact.id))
    assert len(contact_row(sqlite_runtime, contact_id).notes) > 20_000
    site.get(f"/contacts/{contact_id}")
    form = {
        "name": "Ana Souza",
        "emails": "ana@example.org",
        "company": "Lumen Analytics",
        "relationship": "peer",
        "notes": history.replace("\n", "\r\n"),  # as a browser sends a textarea back
    }
    assert site.post(f"/contacts/{contact_id}/edit", form).status_code == 303
    row = contact_row(sqlite_runtime, contact_id)
    assert row.company == "Lumen Analytics" and len(row.notes) > 20_000
    longer = {**form, "notes": history + "\nand more", "company": "Changed"}
    refused = site.post(f"/contacts/{contact_id}/edit", longer)
    assert refused.status_code == 400
    assert "The notes must be 20000 characters or fewer" in text(refused)
    assert contact_row(sqlite_runtime, contact_id).company == "Lumen Analytics"


def test_the_import_report_also_lists_rows_imported_with_a_note(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    add(site, "Ana Souza", "ana@example.org")
    add(site, "Ben Okafor", "ben@example.org")
    data = (
        b"name,email\n"
        b'Ana Souza,"ana@example.org; ben@example.org"\n'  # Ben's email stays with Ben
        b"Jonas Weber,jonas@example.com\n"
        b"Jonas Weber,jonas@example.com\n"
    )
    site.get("/contacts/import")
    response = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(data), "people.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = text(response)
    assert "Rows imported with a note" in page
    assert "ben@example.org already belongs to another contact" in page
    assert "the same contact as line 3: merged" in page
    assert '<h2 id="h-report">' in page  # under the page's h1, no level skipped


def test_an_unreadable_import_file_is_explained_and_changes_nothing(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/setup/contacts")
    response = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(b"\xff\xfe\x00bad"), "people.csv"), "wizard": "1"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "people.csv" in text(response) and "UTF-8" in text(response)
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(models.Contact)) is None


def test_export_gives_the_native_csv(site: Web, owner: int) -> None:
    add(site, "Ana Souza", "ana@example.org", company="Lumen")
    response = site.get("/contacts/export.csv")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = text(response)
    assert body.splitlines()[0].startswith("name,email,company")
    assert "Ana Souza,ana@example.org,Lumen" in body


def test_a_meeting_found_in_a_calendar_waits_for_confirmation(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(site, "Ana", "ana@example.org")
    with transaction(sqlite_runtime.sessions) as session:
        found = models.Interaction(
            user_id=owner,
            contact_id=contact_id,
            occurred_on=today() - timedelta(days=2),
            kind="meeting",
            notes="Lunch with Ana",
            source="calendar",
            confirmed=False,
            external_id="uid-1",
            created_at=datetime.now(UTC),
        )
        rejected = models.Interaction(
            user_id=owner,
            contact_id=contact_id,
            occurred_on=today() - timedelta(days=9),
            kind="meeting",
            notes="Ana's birthday",
            source="calendar",
            confirmed=False,
            external_id="uid-2",
            created_at=datetime.now(UTC),
        )
        session.add_all([found, rejected])
        session.flush()
        found_id, rejected_id = found.id, rejected.id
    dashboard = text(site.get("/"))
    assert "Meetings found in your calendars" in dashboard and "Lunch with Ana" in dashboard
    assert "Lunch with Ana" in text(site.get(f"/contacts/{contact_id}"))
    assert (
        site.post(
            f"/contacts/interactions/{found_id}", {"action": "confirm", "next": "/"}
        ).status_code
        == 303
    )
    assert (
        site.post(f"/contacts/interactions/{rejected_id}", {"action": "reject"}).status_code == 303
    )
    with transaction(sqlite_runtime.sessions) as session:
        kept = session.get(models.Interaction, found_id)
        dropped = session.get(models.Interaction, rejected_id)
        assert kept is not None and kept.confirmed
        assert dropped is not None and not dropped.confirmed and dropped.source == "rejected"
    assert "Meetings found in your calendars" not in text(site.get("/"))
    assert site.post(f"/contacts/interactions/{found_id}", {"action": "confirm"}).status_code == 404


def test_a_paused_contact_can_be_invited_again(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(site, "Ana", "ana@example.org")
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.Contact, contact_id)
        assert row is not None
        row.paused = True
    page = text(site.get(f"/contacts/{contact_id}"))
    assert "Invite again" in page
    assert site.post(f"/contacts/{contact_id}/unpause").status_code == 303
    assert not contact_row(sqlite_runtime, contact_id).paused
    assert site.post("/contacts/999999/unpause").status_code == 404


@pytest.mark.parametrize(
    ("overdue", "state"),
    [(1, "1 day overdue"), (2, "2 days overdue"), (0, "due today"), (-1, "due in 1 day")],
)
def test_how_overdue_a_contact_is_reads_as_plain_english(overdue: int, state: str) -> None:
    on = today()
    line = ContactLine(Contact("Ana"), 30, on, on, overdue, on)
    assert line.state == state
