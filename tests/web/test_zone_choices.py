"""The time-zone picker lists the tz database's canonical zones, not its backward-compatible
aliases; an alias a user has stored, or sends, is still accepted and stays picked."""

from __future__ import annotations

import re

from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from tests.web.support import Web, text
from tests.web.test_setup_wizard import windows_form
from web.composition import Runtime

ALIASES = ("Africa/Asmera", "America/Atka", "US/Pacific", "Asia/Calcutta", "Europe/Kiev")
CANONICAL = ("Europe/Berlin", "Europe/Oslo", "Africa/Asmara", "Asia/Kolkata", "Europe/Kyiv", "UTC")


def _options(page: str) -> list[str]:
    select_html = page.split('id="f-timezone"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]+)"', select_html)


def _selected(page: str) -> list[str]:
    select_html = page.split('id="f-timezone"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]+)" selected>', select_html)


def _store_zone(runtime: Runtime, zone: str) -> None:
    with transaction(runtime.sessions) as session:
        user = session.scalar(select(models.User))
        assert user is not None
        user.timezone = zone


def test_the_zone_picker_lists_canonical_zones_without_their_old_aliases(
    site: Web, owner: int
) -> None:
    listed = _options(text(site.get("/setup/time")))
    assert not set(ALIASES) & set(listed)
    assert set(CANONICAL) <= set(listed)
    assert listed == sorted(listed) and len(listed) == len(set(listed))


def test_a_stored_alias_stays_picked_and_an_alias_sent_is_accepted(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    _store_zone(sqlite_runtime, "America/Atka")
    page = text(site.get("/setup/time"))
    assert _selected(page) == ["America/Atka"]
    assert _options(page).count("America/Atka") == 1
    saved = site.post("/setup/time", windows_form(timezone="Asia/Calcutta"))
    assert saved.status_code == 303
    assert _selected(text(site.get("/setup/time"))) == ["Asia/Calcutta"]
    refused = site.post("/setup/time", windows_form(timezone="Mars/Olympus"))
    assert refused.status_code == 400 and "Mars/Olympus" not in _options(text(refused))
