"""The top navigation holds still through the setup wizard: its four steps (and a step's form
answered with an error, drawn by the calendars or contacts pages) highlight no area, since the
steps say where you are; a step opened from Settings highlights Settings."""

from __future__ import annotations

import re

from tests.web.support import Web, text


def _highlighted(page: str) -> list[str]:
    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'aria-current="page">([^<]+)</a>', nav)


def test_no_area_is_highlighted_on_any_step_of_the_setup_wizard(site: Web, owner: int) -> None:
    for step in ("/setup/time", "/setup/calendars", "/setup/contacts", "/setup/rules"):
        page = site.get(step)
        assert page.status_code == 200
        assert _highlighted(text(page)) == [], step
    # A step's form sent back with an error is drawn by another area's view: still none.
    calendar = site.post("/calendars/ics", {"wizard": "1", "name": "", "url": ""})
    assert calendar.status_code == 400 and 'aria-label="Setup steps"' in text(calendar)
    assert _highlighted(text(calendar)) == []
    contact = site.post("/contacts/new", {"wizard": "1", "name": ""})
    assert contact.status_code == 400 and 'aria-label="Setup steps"' in text(contact)
    assert _highlighted(text(contact)) == []


def test_a_setup_step_opened_from_settings_and_the_areas_highlight_themselves(
    site: Web, owner: int
) -> None:
    assert _highlighted(text(site.get("/setup/time?next=/settings"))) == ["Settings"]
    assert _highlighted(text(site.get("/setup/rules?next=/settings"))) == ["Settings"]
    assert _highlighted(text(site.get("/calendars"))) == ["Calendars"]
    assert _highlighted(text(site.get("/contacts"))) == ["Contacts"]
    assert _highlighted(text(site.get("/settings"))) == ["Settings"]
