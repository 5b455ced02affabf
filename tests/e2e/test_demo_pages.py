"""The demo data (`meetagain demo`) shows up once the owner account is claimed on first run."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import LiveApp
from web.demo import load_demo

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
        page.goto(live.url("/"))
        page.get_by_label("Email").fill("owner@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
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
