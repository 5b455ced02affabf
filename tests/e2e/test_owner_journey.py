"""A new owner in a real browser: setup, Google connect (FakeGoogle), contacts, plan, approve."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveApp

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
DEVICES: dict[str, dict[str, Any]] = {
    "laptop": {"viewport": {"width": 1280, "height": 860}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


def contacts_csv(folder: Path, today: date) -> Path:
    """Three people, two of them clearly overdue for a coffee."""
    long_ago = (today - timedelta(days=200)).isoformat()
    recent = (today - timedelta(days=3)).isoformat()
    rows = [
        "name,email,company,relationship,how_met,first_met,last_met,questions",
        f"Priya Raman,priya@example.net,Helix Bio,mentor,Leadership offsite,{long_ago},{long_ago},"
        "How is the new team?",
        f"Jonas Weber,jonas@example.com,Nordlicht,peer,PyData Berlin,{long_ago},{long_ago},",
        f"Marcus Lee,marcus@example.com,Atlas Cloud,peer,KubeCon,{recent},{recent},",
    ]
    path = folder / "contacts.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("device", list(DEVICES))
def test_a_new_owner_sets_up_connects_google_imports_contacts_and_approves_a_plan(
    live: LiveApp, chromium: Any, device: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    now = datetime.now(UTC)
    # Google says the owner is busy at breakfast tomorrow; that must not be proposed.
    live.google.set_busy(
        "ana@example.com", [(now + timedelta(days=1), now + timedelta(days=1, hours=2))]
    )
    context = chromium.new_context(
        timezone_id="America/New_York", locale="en-GB", **DEVICES[device]
    )
    context.set_default_timeout(15000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        page.goto(live.url("/"))
        expect(page).to_have_url(re.compile(r"/setup$"))
        # Keyboard users land on the skip link first, then the form, with a visible focus ring.
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        expect(page.get_by_label("Your name")).to_be_focused()
        outline = page.get_by_label("Your name").evaluate("e => getComputedStyle(e).outlineStyle")
        assert outline != "none"
        page.get_by_label("Your name").fill("Ana Owner")
        page.get_by_label("Email").fill("ana@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        live.shot(page, "account")
        page.get_by_role("button", name="Create account").click()

        # Step 1: the browser's zone is preselected; the week picture shows the windows.
        expect(page.get_by_role("heading", name="Time zone and meal times")).to_be_visible()
        expect(page.get_by_label("Your time zone")).to_have_value("America/New_York")
        expect(page.locator(".week .block.lunch").first).to_be_visible()
        live.shot(page, "time-and-meals")
        page.get_by_role("button", name="Save and continue").click()

        # Step 2: connect the (fake) Google account through the real OAuth redirects.
        expect(page.get_by_role("heading", name="Calendars", exact=True)).to_be_visible()
        page.get_by_role("button", name="Connect Google Calendar").click()
        expect(page.locator(".flash").filter(has_text="Google Calendar connected")).to_be_visible()
        expect(page.get_by_role("link", name="ana@example.com (Google)")).to_be_visible()
        live.shot(page, "calendars")
        page.get_by_role("button", name="Save choices").click()
        page.get_by_role("link", name="Continue to contacts").click()

        # Step 3: upload contacts and read the report.
        csv_path = contacts_csv(tmp_path, now.date())
        page.get_by_label("Contacts file").set_input_files(str(csv_path))
        page.get_by_role("button", name="Import", exact=True).click()
        expect(page.locator(".report")).to_contain_text(re.compile(r"3\s+added"))
        live.shot(page, "contacts-imported")
        page.get_by_role("link", name="Continue to rules").click()

        # Step 4: rules, then the dashboard with this week's plan.
        expect(page.get_by_role("heading", name="Rules")).to_be_visible()
        live.shot(page, "rules")
        page.get_by_role("button", name="Save rules").click()
        expect(page.get_by_role("heading", name="Your plan")).to_be_visible()
        proposal = page.locator("li.proposal").filter(has_text="Priya Raman")
        expect(proposal).to_be_visible()
        expect(page.locator(".week .block.free").first).to_be_attached()
        live.shot(page, "dashboard-plan")
        proposal.get_by_role("button", name="Approve and invite").click()
        flash = page.locator(".flash").filter(has_text="Invite to Priya Raman created")
        expect(flash).to_be_visible()
        expect(page.get_by_role("table").filter(has_text="Priya Raman")).to_be_visible()
        live.shot(page, "dashboard-approved")

        # The other owner pages, for the record.
        page.get_by_role("link", name="Contacts", exact=True).click()
        expect(page.get_by_role("heading", name="Contacts")).to_be_visible()
        live.shot(page, "contacts")
        page.get_by_role("link", name="Jonas Weber").click()
        expect(page.get_by_role("heading", name="Jonas Weber")).to_be_visible()
        live.shot(page, "contact")
        page.get_by_role("link", name="Settings").click()
        live.shot(page, "settings")
    finally:
        context.close()
    assert live.google.requests_to("token"), "the code was exchanged at the fake token endpoint"
    live.publish(device, ("dashboard-plan", "dashboard-approved", "calendars", "time", "contact"))
