"""Where you meet, at a phone's size: a New York invitee sees a video call at a sane hour with
the owner's meal named; an invitee in the owner's city sees the place with its map link."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.invites import format_span
from scheduler.model import Contact, ProposedTime
from tests.e2e.conftest import LiveApp
from web.services.accounts import create_first_account
from web.services.invites import create_invite

pytestmark = pytest.mark.e2e

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _next_weekday(after: date, weekday: int) -> date:
    day = after + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def _invite(live: LiveApp, contact: Contact, times: list[ProposedTime]) -> str:
    rt = live.runtime
    owner = create_first_account(rt, "olivia@example.com", "correct horse battery", "Olivia")
    with transaction(rt.sessions) as session:
        row = ContactRepository(session, owner).add(contact)
        session.flush()
        contact_id = row.id
    created = create_invite(
        rt, owner, contact_id, times, None, send_email=False, now=datetime.now(UTC)
    )
    return created.url.replace(rt.config.web.base_url, live.base_url)


def test_a_new_york_invitee_sees_a_video_call_at_a_sane_hour_and_the_owners_lunch(
    live: LiveApp, chromium: Any
) -> None:
    day = _next_weekday(datetime.now(BERLIN).date() + timedelta(days=2), 3)
    start = datetime.combine(day, time(13, 0), tzinfo=BERLIN)
    video = ProposedTime(
        start,
        start + timedelta(minutes=45),
        "lunch",
        mode="video",
        place="Video call",
        place_url="https://meet.example/olivia",
        city="Berlin",
    )
    ana = Contact("Ana Lima", ("ana@example.org",), city="New York", timezone="America/New_York")
    url = _invite(live, ana, [video])

    context = chromium.new_context(
        timezone_id="America/New_York", locale="en-GB", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.goto(url)
    label = page.locator("ul.times time.when").first.inner_text()
    assert label == format_span(video.start, video.end, "America/New_York")
    local = video.start.astimezone(NEW_YORK).time()
    assert time(7) <= local <= time(9)  # a sane hour in New York
    where = page.locator("ul.times .where").first
    assert where.get_attribute("data-mode") == "video"
    assert "Video call" in where.inner_text()
    assert "Olivia's lunch in Berlin, 13:00" in where.inner_text()
    assert "02:00" not in page.content()
    live.shot(page, "video-new-york")
    context.close()


def test_an_invitee_in_the_owners_city_sees_the_place_with_a_map_link(
    live: LiveApp, chromium: Any
) -> None:
    day = _next_weekday(datetime.now(BERLIN).date() + timedelta(days=2), 1)
    start = datetime.combine(day, time(8, 0), tzinfo=BERLIN)
    coffee = ProposedTime(
        start,
        start + timedelta(minutes=45),
        "breakfast",
        mode="in_person",
        place="Café Einstein, Unter den Linden 42",
        place_url="https://maps.example/einstein",
        city="Berlin",
    )
    ben = Contact("Ben Okafor", ("ben@example.org",), city="Berlin", timezone="Europe/Berlin")
    url = _invite(live, ben, [coffee])

    context = chromium.new_context(
        timezone_id="Europe/Berlin", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.goto(url)
    where = page.locator("ul.times .where").first
    assert where.get_attribute("data-mode") == "in_person"
    text = where.inner_text()
    assert "In person at Café Einstein, Unter den Linden 42" in text
    assert "breakfast in Berlin, 08:00" in text and "your time" not in text
    link = where.get_by_role("link", name="map")
    assert link.get_attribute("href") == "https://maps.example/einstein"
    live.shot(page, "in-person-berlin")
    context.close()
