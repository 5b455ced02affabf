"""The demo data (`meetagain demo`) shows up once the owner account is claimed on first run."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import LiveApp, create_first_account
from web.services.demo import load_demo

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


def test_the_demo_owner_claims_the_seeded_data_and_sees_a_full_dashboard(
    live: LiveApp, chromium: Any
) -> None:
    from playwright.sync_api import expect

    load_demo(live.runtime, live.runtime.owner_id(create=True))
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        create_first_account(page, live, PASSWORD)
        page.get_by_role("link", name="Dashboard").click()
        expect(page.locator("li.proposal").first).to_be_visible()
        expect(page.locator(".bars")).to_contain_text("Overdue more than a month")
        live.shot(page, "demo-dashboard")
        page.get_by_role("link", name="Contacts", exact=True).click()
        expect(page.get_by_text(re.compile(r"^25 contacts"))).to_be_visible()
        live.shot(page, "demo-contacts")
        page.get_by_role("link", name="Jonas Weber").click()
        expect(page.get_by_role("heading", name="Jonas Weber")).to_be_visible()
        live.shot(page, "demo-contact")
        page.get_by_role("link", name="Calendars").click()
        expect(page.get_by_role("link", name="Work (demo)")).to_be_visible()
        live.shot(page, "demo-calendars")
    finally:
        context.close()
    live.publish("demo", ("demo-",))


def test_without_javascript_the_owner_can_still_plan_approve_and_snooze(
    live: LiveApp, chromium: Any
) -> None:
    from playwright.sync_api import expect

    load_demo(live.runtime, live.runtime.owner_id(create=True))
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, java_script_enabled=False
    )
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        create_first_account(page, live, PASSWORD)
        page.get_by_role("link", name="Dashboard").click()
        first, second = page.locator("li.proposal").nth(0), page.locator("li.proposal").nth(1)
        name = first.locator("h3 a").inner_text()
        other = second.locator("h3 a").inner_text()
        first.get_by_text("Change a time").click()  # <details> opens without any script
        first.get_by_role("button", name="Approve and invite").click()
        expect(page.locator(".flash.ok")).to_contain_text(f"Invite to {name} created")
        card = page.locator("li.proposal", has_text=other)
        card.get_by_label(f"Snooze {other} for").select_option("90")
        card.get_by_role("button", name="Snooze").click()
        expect(page.locator(".flash.ok")).to_contain_text(f"{other} snoozed for 90 days")
        page.get_by_role("link", name="Contacts", exact=True).click()
        page.get_by_label("Search").fill(other.split()[0])
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_role("link", name=other)).to_be_visible()
        live.shot(page, "nojs-contacts-search")
    finally:
        context.close()
