"""Input that cannot break mail or crash a page: control characters in names and emails are
refused where they come in, long names keep their recipients through header folding, stored
bad rows are cleaned by migration, and dates out of range are a 400 (issue 13, items 6 and 7)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import select

from integrations.config import ConfigError, parse_config
from integrations.mail import SmtpMailer
from integrations.storage import db, models
from integrations.storage.db import transaction
from tests.conftest import make_config
from tests.helpers.invite_fixtures import (
    make_contact,
    make_owner,
    next_weekday_at,
    smtp_server,
    times_at,
)
from tests.web.support import PASSWORD, Web, text
from web.composition import Runtime
from web.instance import create_secret, ensure_instance
from web.services import invites as svc
from web.services.contacts import ContactError, create_contact
from web.services.outbox_worker import drain

BERLIN = ZoneInfo("Europe/Berlin")
NAMES_WITH_CONTROLS = ["Ana\r\nBcc: victim@example.org", "Ana\nSouza", "Ana\x0bSouza", "Ana\x85"]


def _contacts(runtime: Runtime) -> list[str]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(models.Contact.name)))


# ---------------------------------------------------------------- refused where they come in


@pytest.mark.parametrize("name", NAMES_WITH_CONTROLS)
def test_the_contact_form_refuses_a_name_with_a_control_character(
    site: Web, owner: int, sqlite_runtime: Runtime, name: str
) -> None:
    response = site.post("/contacts/new", {"name": name, "emails": "ana@example.org"})
    assert response.status_code == 400
    assert "The name contains" in text(response) and "one line of plain text" in text(response)
    assert _contacts(sqlite_runtime) == []


def test_editing_a_contact_refuses_a_line_break_in_name_or_email(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact = make_contact(sqlite_runtime, owner)
    bad_name = site.post(f"/contacts/{contact}/edit", {"name": "Ana\r\nSouza", "emails": ""})
    assert bad_name.status_code == 400 and "a carriage return" in text(bad_name)
    bad_email = site.post(
        f"/contacts/{contact}/edit", {"name": "Ana", "emails": "ana@example.org\r\nbcc@x.org"}
    )
    assert bad_email.status_code == 400 and "The emails contain" not in text(bad_email)
    assert "contains a carriage return" in text(bad_email)
    assert _contacts(sqlite_runtime) == ["Ana Souza"]


def test_the_contacts_service_refuses_a_line_break_too(sqlite_runtime: Runtime, owner: int) -> None:
    from scheduler.model import Contact

    with pytest.raises(ContactError, match="a line break") as refused:
        create_contact(sqlite_runtime, owner, Contact(id=None, name="Ana\nSouza"))
    assert refused.value.field == "name"


def test_an_import_row_with_a_line_break_in_a_name_is_reported_with_its_line(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    csv = (
        b"name,email\n"
        b"Bea Lima,bea@example.org\n"
        b'"Ana\r\nBcc: victim@example.org",ana@example.org\n'
        b"Caio Reis,caio\x01@example.org\n"
        b"Dora Kim,dora@example.org\n"
    )
    response = site.post(
        "/contacts/import", {"file": (__import__("io").BytesIO(csv), "contacts.csv")}
    )
    page = text(response)
    assert '<td data-label="Line">3</td>' in page
    assert "name contains a line break" in page
    assert '<td data-label="Line">5</td>' in page and "email contains" in page
    # The bad address is left out (never stored), the rest of its row kept.
    assert "that email left out" in page
    assert sorted(_contacts(sqlite_runtime)) == ["Bea Lima", "Caio Reis", "Dora Kim"]
    with transaction(sqlite_runtime.sessions) as session:
        stored = list(session.scalars(select(models.ContactEmail.email)))
    assert sorted(stored) == ["bea@example.org", "dora@example.org"]


def test_account_names_and_emails_refuse_control_characters(site: Web) -> None:
    site.get("/setup")
    form = {"password": PASSWORD, "confirm": PASSWORD}
    bad_name = site.post("/setup", {**form, "email": "a@example.com", "name": "Ana\r\nX"})
    assert bad_name.status_code == 400 and "The name contains a carriage return" in text(bad_name)
    bad_email = site.post("/setup", {**form, "email": "a@example.com\n", "name": "Ana"})
    assert bad_email.status_code == 400 and "a line break" in text(bad_email)
    # The one email rule: two addresses are no account's address.
    two = site.post("/setup", {**form, "email": "a@example.com,b@example.com", "name": "Ana"})
    assert two.status_code == 400 and "Enter an email address like" in text(two)


def test_the_config_refuses_an_owner_name_with_a_control_character() -> None:
    with pytest.raises(ConfigError, match=r"\[owner\] name"):
        parse_config('[owner]\nname = "Olivia\\r\\nBcc: x@example.org"\n')


# ---------------------------------------------------------------- headers keep their recipients


def test_a_90_character_display_name_round_trips_through_to_unchanged(
    sqlite_runtime: Runtime,
) -> None:
    owner = make_owner(sqlite_runtime)
    name = "Maximiliane Alexandra von Hohenzollern-Sigmaringen, Chief Operating Officer, ACME"
    name += " (Europe)"
    assert len(name) == 90
    contact = make_contact(sqlite_runtime, owner, name=name, email="max@example.org")
    now = datetime.now(UTC)
    start = next_weekday_at(now, 3, 12, 0, BERLIN)
    svc.create_invite(sqlite_runtime, owner, contact, times_at(start), now=now)
    with smtp_server() as server:
        mailer = SmtpMailer("127.0.0.1", server.port, security="none", timeout=5)
        assert drain(sqlite_runtime, mailer, now=now).sent == 1
        [got] = server.received
    assert got.recipients == ["max@example.org"]
    [to] = got.message["To"].addresses
    assert (to.display_name, to.addr_spec) == (name, "max@example.org")


# ---------------------------------------------------------------- rows stored before the fix


def test_a_stored_name_with_a_line_break_is_cleaned_and_its_invite_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEETAGAIN_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = make_config(tmp_path, url)
    create_secret(ensure_instance(config.instance_dir))
    runtime = Runtime(config)
    runtime.upgrade_database()
    owner = make_owner(runtime)
    # Written before names were checked: straight into the table, as an old release could.
    contact = make_contact(runtime, owner, name="Ana\r\nSouza", email="ana\r\n@example.org")
    runtime.engine.dispose()
    command.downgrade(db.alembic_config(url), "0001")
    db.upgrade(url)  # through 0002_sessions_roles, which cleans the row

    runtime = Runtime(config)
    try:
        with transaction(runtime.sessions) as session:
            row = session.get(models.Contact, contact)
            assert row is not None
            assert row.name == "Ana Souza"
            assert [e.email for e in row.emails] == ["ana@example.org"]
        now = datetime.now(UTC)
        start = next_weekday_at(now, 3, 12, 0, BERLIN)
        svc.create_invite(runtime, owner, contact, times_at(start), now=now)
        with smtp_server() as server:
            mailer = SmtpMailer("127.0.0.1", server.port, security="none", timeout=5)
            result = drain(runtime, mailer, now=now)
            assert (result.sent, result.retrying, result.failed) == (1, 0, 0)
            [got] = server.received
        assert got.message["To"].addresses[0].display_name == "Ana Souza"
    finally:
        runtime.engine.dispose()


# ---------------------------------------------------------------- dates out of range


@pytest.mark.parametrize(
    "start",
    [
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59+00:00",
        "9999-12-31T23:59:59-05:00",
        "1800-06-01T12:00:00+02:00",
    ],
)
def test_accepting_a_time_in_year_1_or_9999_is_a_400_with_a_message(
    app: Flask, sqlite_runtime: Runtime, start: str
) -> None:
    owner = make_owner(sqlite_runtime, password=PASSWORD)
    contact = make_contact(sqlite_runtime, owner)
    now = datetime.now(UTC)
    offered = times_at(next_weekday_at(now, 3, 12, 0, BERLIN))
    path = urlsplit(svc.create_invite(sqlite_runtime, owner, contact, offered, now=now).url).path
    response = app.test_client().post(path, data={"action": "accept", "start": start})
    assert response.status_code == 400
    assert "could not be read" in text(response) and "ISO 8601" in text(response)
    # The invite is untouched: the real time can still be accepted.
    ok = app.test_client().post(
        path, data={"action": "accept", "start": offered[0].start.isoformat()}
    )
    assert ok.status_code == 303


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "9999-12-31"])
def test_a_last_met_date_out_of_range_is_a_400_with_a_message(
    site: Web, owner: int, sqlite_runtime: Runtime, day: str
) -> None:
    response = site.post("/contacts/new", {"name": "Ana", "last_met": day})
    assert response.status_code == 400
    assert "Use a date from 1900 on" in text(response) or "in the future" in text(response)
    assert _contacts(sqlite_runtime) == []


def test_logging_a_meeting_in_year_1_is_refused_with_a_message(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact = make_contact(sqlite_runtime, owner)
    response = site.post(f"/contacts/{contact}/log", {"on": "0001-01-01", "kind": "coffee"})
    assert response.status_code == 400
    assert "nothing was logged" in text(response)
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(models.Interaction)) is None


def test_an_imported_date_in_year_1_is_reported_and_left_empty(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    # The row is kept (issue #15: one bad field does not drop a row); the date is not stored.
    csv = b"name,email,first_met\nAna,ana@example.org,0001-01-01\n"
    page = text(site.post("/contacts/import", {"file": (__import__("io").BytesIO(csv), "c.csv")}))
    assert "first_met &#39;0001-01-01&#39; is out of range" in page
    assert _contacts(sqlite_runtime) == ["Ana"]
    with transaction(sqlite_runtime.sessions) as session:
        assert session.scalar(select(models.Contact.first_met)) is None
