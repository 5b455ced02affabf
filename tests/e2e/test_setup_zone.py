"""The setup wizard's time zone in a real browser: the browser's guess never undoes a choice."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveApp

pytestmark = pytest.mark.e2e


def test_a_zone_picked_then_refused_for_another_field_stays_picked(
    live: LiveApp, chromium: Any
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(timezone_id="America/New_York", locale="en-GB")
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        page.goto(live.url("/setup"))
        page.get_by_label("Your name").fill("Ana Owner")
        page.get_by_label("Email").fill("ana@example.com")
        page.get_by_label("Password", exact=True).fill("correct horse battery")
        page.get_by_label("Password again").fill("correct horse battery")
        page.get_by_role("button", name="Create account").click()
        zone = page.get_by_label("Your time zone")
        expect(zone).to_have_value("America/New_York")  # the browser's guess, first time only

        zone.select_option("Europe/Berlin")
        lunch = page.locator("fieldset.window").filter(has_text="Lunch")
        lunch.get_by_label("From").fill("14:00")  # after its "Until": refused
        page.get_by_role("button", name="Save and continue").click()

        expect(page.get_by_text("The end must be after the start")).to_be_visible()
        expect(zone).to_have_value("Europe/Berlin")
        expect(lunch.get_by_label("From")).to_have_value("14:00")
    finally:
        context.close()
