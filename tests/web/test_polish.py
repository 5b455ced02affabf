"""Rough edges a newcomer found walking through the app, each checked the way a user sees it."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path

from sqlalchemy import select

from integrations.config import load_config
from integrations.contacts_import.records import NATIVE_COLUMNS
from integrations.storage import models
from integrations.storage.db import transaction
from tests.helpers.http_server import LoopbackHttpServer
from tests.web.support import Web, ics_bytes, text
from web.composition import Runtime
from web.services.accounts import save_rules
from web.services.demo import load_demo


def today() -> date:
    """Today in the owner's time zone (the default config's), whose days the pages count: in
    the hour or two before midnight UTC it is already tomorrow in Berlin."""
    return datetime.now(load_config(None).zone).date()


def add(site: Web, name: str, email: str = "", **extra: str) -> int:
    site.get("/contacts/new")
    response = site.post("/contacts/new", {"name": name, "emails": email, **extra})
    assert response.status_code == 303, text(response)
    return int(response.location.rstrip("/").rsplit("/", 1)[1])


def emails_of(runtime: Runtime, contact_id: int) -> list[str]:
    with transaction(runtime.sessions) as session:
        row = session.get(models.Contact, contact_id)
        assert row is not None
        return [e.email for e in row.emails]


def static(site: Web, path: str) -> str:
    """A static file's text; the response is closed so its file handle is too."""
    response = site.get(path)
    try:
        assert response.status_code == 200
        return response.get_data(as_text=True)
    finally:
        response.close()


def section(page: str, heading_id: str) -> str:
    return page.split(f'id="{heading_id}"', 1)[1].split("</section>", 1)[0]


def proposal_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'action="/plan/(\d+)/approve"', page)]


def checked_times(page: str, contact_id: int) -> list[str]:
    form = page.split(f'action="/plan/{contact_id}/approve"', 1)[1].split("</form>", 1)[0]
    return re.findall(r'name="time" value="([^"]+)" checked', form)


def book_a_coffee(site: Web, runtime: Runtime) -> tuple[int, int]:
    """Approve the first demo proposal and let the contact pick a time: (contact, booking)."""
    from web.services.invites import accept_invite

    page = text(site.get("/"))
    contact_id = proposal_ids(page)[0]
    times = checked_times(page, contact_id)
    response = site.post(f"/plan/{contact_id}/approve", {"time": times})
    token = re.search(r"/i/([A-Za-z0-9_-]+)", text(site.get(response.location)))
    assert token is not None
    accept_invite(runtime, token.group(1), datetime.fromisoformat(times[0]), now=datetime.now(UTC))
    with transaction(runtime.sessions) as session:
        booking = session.scalars(select(models.Booking)).one()
        return contact_id, booking.id


# --- 1. wizard step 3 -----------------------------------------------------------------------


def test_the_wizard_contacts_step_offers_every_relationship_on_first_visit(
    site: Web, owner: int
) -> None:
    page = text(site.get("/setup/contacts"))
    select_html = page.split('id="f-relationship"', 1)[1].split("</select>", 1)[0]
    for value in ("mentor", "advocate", "recruiter", "friend", "other"):
        assert f'value="{value}"' in select_html


# --- 2. editing a contact with a broken email --------------------------------------------------


def test_editing_a_contact_with_a_half_written_email_is_refused_next_to_the_field(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    contact_id = add(site, "Zoe Adams", "zoe.adams@example.com")
    site.get(f"/contacts/{contact_id}")
    response = site.post(
        f"/contacts/{contact_id}/edit",
        {"name": "Zoe Adams", "emails": "zoe.adams@example.com, broken@"},
    )
    assert response.status_code == 400
    page = text(response)
    assert '<p class="error" id="e-emails">&#34;broken@&#34; is not an email address.' in page
    assert emails_of(sqlite_runtime, contact_id) == ["zoe.adams@example.com"]


# --- 3. a CSV without a name or email column -----------------------------------------------------


def test_a_csv_without_name_or_email_columns_is_explained_for_the_web_with_a_template(
    site: Web, owner: int
) -> None:
    site.get("/contacts/import")
    response = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(b"Full Name,Mail\nAna,ana@example.org\n"), "mine.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    error = text(response).split('id="e-import">', 1)[1].split("</p>", 1)[0]
    assert "--map" not in error
    assert "mine.csv: line 1: no name or email column" in error
    assert "Rename your columns" in error and "CSV template" in error
    assert 'href="/contacts/template.csv"' in text(response)
    assert "Column mapping" in error
    # The web offers the CLI's --map: the same file, mapped, imports.
    mapped = site.post(
        "/contacts/import",
        {
            "file": (io.BytesIO(b"Full Name,Mail\nAna,ana@example.org\n"), "mine.csv"),
            "map": "Full Name=name,Mail=email",
        },
        content_type="multipart/form-data",
    )
    assert mapped.status_code == 200
    assert "<strong>1</strong> added" in text(mapped)
    unknown = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(b"Full Name\nBo\n"), "b.csv"), "map": "Full Name=fullname"},
        content_type="multipart/form-data",
    )
    assert unknown.status_code == 400
    assert "Column mapping: unknown field &#39;fullname&#39;" in text(unknown)
    template = site.get("/contacts/template.csv")
    assert template.status_code == 200 and template.mimetype == "text/csv"
    assert template.get_data(as_text=True).strip() == ",".join(NATIVE_COLUMNS)
    css = static(site, "/static/app.css")
    assert re.search(r"\.error \{[^}]*overflow-wrap: anywhere", css)


# --- 4 and 5. the owner's booking page; the contact page shows what is coming -------------------


def test_the_booking_page_is_a_card_with_the_note_label_above_its_box(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    load_demo(sqlite_runtime, owner)
    _, booking_id = book_a_coffee(site, sqlite_runtime)
    page = text(site.get(f"/invites/bookings/{booking_id}"))
    card = page.split('<section class="card booking-card"', 1)[1].split("</section>", 1)[0]
    assert "Pick another time" in card and "Cancel the coffee" in card
    # The reason for the other side is asked on the cancel page, which asks first.
    confirm = text(site.get(f"/invites/bookings/{booking_id}/cancel"))
    note = confirm.split('<div class="field">', 1)[1].split("</div>", 1)[0]
    assert note.index('<label for="cancel-note">') < note.index('<textarea id="cancel-note"')


def test_the_contact_page_shows_the_booked_coffee_and_open_invites(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    load_demo(sqlite_runtime, owner)
    contact_id, booking_id = book_a_coffee(site, sqlite_runtime)
    coming = section(text(site.get(f"/contacts/{contact_id}")), "h-coming")
    assert "Coffee booked for" in coming
    assert f'href="/invites/bookings/{booking_id}"' in coming

    page = text(site.get("/"))
    other = proposal_ids(page)[0]
    site.post(f"/plan/{other}/approve", {"time": checked_times(page, other)})
    assert "waiting for an answer" in section(text(site.get(f"/contacts/{other}")), "h-coming")


def test_a_contact_with_nothing_planned_says_so(site: Web, owner: int) -> None:
    contact_id = add(site, "Quiet Quinn", "quinn@example.org")
    coming = section(text(site.get(f"/contacts/{contact_id}")), "h-coming")
    assert "No coffee booked and no invite waiting." in coming


# --- 6. wording on the contact list and page ----------------------------------------------------


def test_a_met_once_contact_due_for_a_follow_up_is_not_called_on_track(
    site: Web, owner: int
) -> None:
    met = (today() - timedelta(days=10)).isoformat()
    contact_id = add(site, "Mia Once", "mia@example.org", last_met=met)
    row = text(site.get("/contacts")).split(">Mia Once</a>", 1)[1].split("</tr>", 1)[0]
    assert ">due</span>" in row
    assert "on track" not in row and "follow up now" in row
    page = text(site.get(f"/contacts/{contact_id}"))
    assert "on track" not in page and "follow up now" in page


def test_one_day_overdue_is_singular(site: Web, owner: int) -> None:
    met = (today() - timedelta(days=31)).isoformat()
    add(site, "Otto Overdue", "otto@example.org", last_met=met, cadence_days="30")
    page = text(site.get("/contacts"))
    assert "1 day overdue" in page and "1 days overdue" not in page


def test_a_connection_never_met_shows_last_met_never_and_when_you_connected(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    linkedin = (
        "Notes:\n\nFirst Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
        "Daniel,Kim,https://www.linkedin.com/in/dkim,daniel@example.org,Acme,CTO,10 May 2026\n"
    )
    site.get("/contacts/import")
    response = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(linkedin.encode()), "Connections.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, text(response)
    row = text(site.get("/contacts")).split(">Daniel Kim</a>", 1)[1].split("</tr>", 1)[0]
    last_met = row.split('data-label="Last met">', 1)[1].split("</td>", 1)[0]
    assert last_met.startswith("<span>never")
    assert "connected 10 May 2026" in last_met
    with transaction(sqlite_runtime.sessions) as session:
        contact_id = session.scalars(select(models.Contact.id)).one()
    page = text(site.get(f"/contacts/{contact_id}"))
    assert "<dt>Last met</dt><dd>never</dd>" in page
    assert "<dt>Connected</dt><dd>10 May 2026</dd>" in page


# --- 7. the dashboard heading and the weekly cap -------------------------------------------------


def test_the_dashboard_names_the_plan_and_the_days_it_covers(site: Web, owner: int) -> None:
    page = text(site.get("/"))
    heading = page.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert heading.startswith("Your plan")
    first, last = today(), today() + timedelta(days=13)  # horizon_days is 14 by default
    assert f"{first:%a} {first.day} {first:%b} – {last:%a} {last.day} {last:%b}" in heading
    assert "This week" not in heading


def test_when_the_weekly_limit_is_reached_the_dashboard_says_so(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    load_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    first = proposal_ids(page)[0]
    site.post(f"/plan/{first}/approve", {"time": checked_times(page, first)})
    save_rules(sqlite_runtime, owner, {}, {"max_per_week": 1})
    plan = section(text(site.get("/")), "h-plan")
    assert not proposal_ids(plan)
    assert "Nobody to propose" not in plan
    assert "The weekly limit is reached" in plan
    # It names the seven days it counts (from the first free time, not always today).
    assert re.search(
        r"The weekly limit is reached for \w{3} \d{1,2} \w{3} – \w{3} \d{1,2} \w{3}: 0 coffees "
        r"booked in those days and 1 invite still waiting for an answer, at most 1 a week",
        plan,
    )
    # A due contact's own plan page gives the same reason, with the way to invite anyway.
    due = re.findall(r'href="/contacts/(\d+)"', page)[1]
    own = unescape(text(site.get(f"/plan/{due}")))
    assert "Nobody is in this week's plan: the weekly limit is reached for" in own
    assert f'href="/contacts/{due}#h-invite"' in own


# --- 8. adding a feed that cannot be read --------------------------------------------------------


def test_adding_an_unreadable_feed_warns_and_last_read_stays_never(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with LoopbackHttpServer() as server:
        missing = server.url("/gone.ics")
        site.get("/calendars")
        response = site.post("/calendars/ics", {"name": "Gone", "url": missing})
        assert response.status_code == 303
        page = text(site.get(response.location))
    assert '<p class="flash warn">Calendar &#34;Gone&#34; added, but it could not be read' in page
    assert '<p class="flash ok">Calendar &#34;Gone&#34; added' not in page
    with transaction(sqlite_runtime.sessions) as session:
        cal = session.scalars(select(models.Calendar)).one()
        assert cal.last_read_at is None and cal.last_error
        cal_id, error = cal.id, cal.last_error
    detail = text(site.get(f"/calendars/{cal_id}"))
    assert "<dt>Last read</dt><dd>never</dd>" in detail
    assert error.split(":")[0] in detail


def test_adding_a_readable_feed_says_what_was_read(site: Web, owner: int) -> None:
    cal = ics_bytes(("Stand-up", "20300107T090000Z", "20300107T091500Z"))
    with LoopbackHttpServer() as server:
        url = server.serve("/cal.ics", cal, content_type="text/calendar")
        site.get("/calendars")
        response = site.post("/calendars/ics", {"name": "Work", "url": url})
        page = text(site.get(response.location))
    assert '<p class="flash ok">Calendar &#34;Work&#34; added: read 0 busy periods' in page


# --- 9. small things -----------------------------------------------------------------------------


def test_removing_a_calendar_asks_about_that_calendar_by_name(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    cal = ics_bytes(("Stand-up", "20300107T090000Z", "20300107T091500Z"))
    site.get("/calendars")
    site.post(
        "/calendars/ics",
        {"name": "Family", "file": (io.BytesIO(cal), "family.ics")},
        content_type="multipart/form-data",
    )
    with transaction(sqlite_runtime.sessions) as session:
        cal_id = session.scalars(select(models.Calendar.id)).one()
    page = text(site.get(f"/calendars/{cal_id}"))
    assert 'data-confirm="Remove the calendar “Family”?' in page
    assert 'getAttribute("data-confirm")' in static(site, "/static/app.js")


def test_snooze_offers_the_same_choices_on_the_dashboard_and_the_contact_page(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    load_demo(sqlite_runtime, owner)
    page = text(site.get("/"))
    contact_id = proposal_ids(page)[0]
    on_dashboard = page.split(f'id="sn-{contact_id}"', 1)[1].split("</select>", 1)[0]
    contact_page = text(site.get(f"/contacts/{contact_id}"))
    on_contact = contact_page.split('id="snooze-days"', 1)[1].split("</select>", 1)[0]

    def choices(html: str) -> list[tuple[str, str]]:
        return re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', html)

    assert choices(on_dashboard) == [("14", "2 weeks"), ("30", "1 month"), ("90", "3 months")]
    assert choices(on_contact) == choices(on_dashboard)


def test_changing_the_time_zone_from_settings_returns_to_settings(site: Web, owner: int) -> None:
    settings = text(site.get("/settings"))
    assert 'href="/setup/time?next=/settings"' in settings
    form = text(site.get("/setup/time?next=/settings"))
    assert '<input type="hidden" name="next" value="/settings">' in form
    response = site.post(
        "/setup/time",
        {
            "timezone": "Europe/London",
            "w_lunch_on": "1",
            "w_lunch_start": "12:00",
            "w_lunch_end": "13:30",
            "w_lunch_days": ["0", "1", "2", "3", "4"],
            "next": "/settings",
        },
    )
    assert response.status_code == 303 and response.location.endswith("/settings")


def test_a_next_leading_off_site_is_not_followed(site: Web, owner: int) -> None:
    site.get("/setup/time")
    response = site.post(
        "/setup/time",
        {
            "timezone": "Europe/London",
            "w_lunch_on": "1",
            "w_lunch_start": "12:00",
            "w_lunch_end": "13:30",
            "w_lunch_days": ["0"],
            "next": "//evil.example/",
        },
    )
    assert response.status_code == 303 and "evil" not in response.location


def test_there_is_a_favicon(site: Web, owner: int) -> None:
    page = text(site.get("/settings"))
    assert '<link rel="icon" href="/static/favicon.svg"' in page
    icon = site.get("/favicon.ico")
    icon.close()
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert "<svg" in static(site, "/static/favicon.svg")


def test_the_meal_choice_coffee_says_it_means_any_window(site: Web, owner: int) -> None:
    contact_id = add(site, "Cora Coffee", "cora@example.org")
    page = text(site.get(f"/contacts/{contact_id}"))
    assert 'value="coffee" > Coffee (any window)</label>' in page


# --- 10. serve on a port that is taken -----------------------------------------------------------


def test_serve_on_a_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}
    run = [sys.executable, "-m", "web"]
    init = subprocess.run(
        [*run, "init"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert init.returncode == 0, init.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*run, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use: pass --port or stop the other server"
    ]
