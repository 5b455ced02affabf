"""The dashboard on a trip: the trip's sentence, the week picture's trip days, and the place."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.model import Contact, Interaction, Relationship
from tests.web.support import Web, text
from web.composition import Runtime
from web.services.accounts import save_owner_place
from web.services.places import add_place, add_trip

BERLIN = ZoneInfo("Europe/Berlin")


def _seed(runtime: Runtime, owner: int) -> tuple[int, int]:
    save_owner_place(runtime, owner, "Berlin", "https://meet.example/olivia")
    today = datetime.now(BERLIN).date()
    start = today + timedelta(days=2)  # three days always hold a weekday's meal windows
    add_trip(runtime, owner, city="Boston", start=start, end=start + timedelta(days=2))
    tatte = add_place(runtime, owner, name="Tatte", address="1 Beacon St", city="Boston")
    other = add_place(runtime, owner, name="Thinking Cup", address="165 Tremont St", city="Boston")
    with transaction(runtime.sessions) as session:
        ContactRepository(session, owner).add(
            Contact(
                "Ana Lima",
                ("ana@example.org",),
                relationship=Relationship.PEER,
                city="Boston",
                interactions=(
                    Interaction(today - timedelta(days=400)),
                    Interaction(today - timedelta(days=120)),
                ),
            )
        )
    del tatte
    return start.day, other


def test_a_trip_shows_its_sentence_its_days_and_in_person_times_there(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    day, other = _seed(sqlite_runtime, owner)
    page = text(site.get("/"))
    assert re.search(r"You&#39;re in Boston \d+.+: Ana lives there; Ana is \d+ weeks overdue", page)
    assert f"{day}<br>Boston" in page and 'class="block trip' in page
    assert "in person in Boston at Tatte, 1 Beacon St" in page
    contact_id = int(re.findall(r'action="/plan/(\d+)/approve"', page)[0])
    form = page.split(f'action="/plan/{contact_id}/approve"', 1)[1].split("</form>", 1)[0]
    checked = re.findall(r'name="time" value="([^"]+)" checked', form)
    assert 'name="place"' in form
    # A place id written with other digits ("²" passes str.isdigit) names no place: no 500.
    assert site.post(f"/plan/{contact_id}/approve", {"place": "²"}).status_code == 400
    # A home café is no place to meet in Boston: refused, the choice kept, nothing sent.
    home = add_place(sqlite_runtime, owner, name="Café Einstein", city="Berlin")
    wrong = site.post(f"/plan/{contact_id}/approve", {"time": checked, "place": str(home)})
    assert wrong.status_code == 400
    said = unescape(text(wrong))
    assert "Café Einstein is in Berlin, but you meet in Boston then" in said
    assert f'<option value="{home}" selected>' in said
    with transaction(sqlite_runtime.sessions) as session:
        assert list(session.scalars(select(models.Invite))) == []
    resp = site.post(f"/plan/{contact_id}/approve", {"time": checked, "place": str(other)})
    assert resp.status_code == 303
    with transaction(sqlite_runtime.sessions) as session:
        times = list(session.scalars(select(models.InviteTime)))
    in_person = [t for t in times if t.mode == "in_person"]
    assert in_person and all(t.place == "Thinking Cup, 165 Tremont St" for t in in_person)
    assert all(t.zone == "America/New_York" and t.city == "Boston" for t in in_person)
    for t in times:
        if t.mode == "video":
            assert t.place_url == "https://meet.example/olivia"
    assert datetime.now(UTC) < min(t.start for t in times)


@pytest.mark.parametrize("gym", [False, True])
def test_an_event_you_both_attend_offers_breakfast_before_it_in_its_city(
    site: Web, owner: int, sqlite_runtime: Runtime, tmp_path: Path, gym: bool
) -> None:
    """With a gym session 08:00-08:30 that morning, no breakfast before it is free (20 minutes
    either side of it, with the buffer): no offer, rather than one on top of the gym."""
    from web.services.calendar_sync import ensure_states, run_due
    from web.services.planning import events_json, plan_for_user

    boston = ZoneInfo("America/New_York")
    save_owner_place(sqlite_runtime, owner, "Berlin", "https://meet.example/olivia")
    add_place(sqlite_runtime, owner, name="Tatte", address="1 Beacon St", city="Boston")
    day = datetime.now(boston).date() + timedelta(days=3)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    start = datetime.combine(day, time(10), tzinfo=boston).astimezone(UTC)
    end = datetime.combine(day, time(17), tzinfo=boston).astimezone(UTC)
    ics = tmp_path / "conf.ics"
    ics.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:techconf\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
        f"DTEND:{end:%Y%m%dT%H%M%SZ}\r\nSUMMARY:TechConf\r\nLOCATION:Boston\r\n"
        "ATTENDEE;CN=Ana:mailto:Ana@Example.org\r\nATTENDEE:mailto:stranger@example.net\r\n"
        "END:VEVENT\r\n"
        + (
            "BEGIN:VEVENT\r\nUID:gym\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{start - timedelta(hours=2):%Y%m%dT%H%M%SZ}\r\n"
            f"DTEND:{start - timedelta(hours=1, minutes=30):%Y%m%dT%H%M%SZ}\r\n"
            "SUMMARY:Gym\r\nEND:VEVENT\r\n"
            if gym
            else ""
        )
        + "END:VCALENDAR\r\n"
    )
    with transaction(sqlite_runtime.sessions) as session:
        ContactRepository(session, owner).add(
            Contact(
                "Ana Lima",
                ("ana@example.org",),
                relationship=Relationship.PEER,
                city="Boston",
                interactions=(Interaction(datetime.now(UTC).date() - timedelta(days=20)),),
            )
        )
        session.add(
            models.Calendar(
                user_id=owner,
                name="Conferences",
                kind="ics",
                location=str(ics),
                counts_as_busy=True,
                receives_events=False,
                last_error="",
                created_at=datetime.now(UTC),
            )
        )
    ensure_states(sqlite_runtime)
    assert run_due(sqlite_runtime).synced == 1

    sentence = f"Ana will be at TechConf on {day:%A}: breakfast before it?"
    plan = plan_for_user(sqlite_runtime, owner, now=datetime.now(UTC))
    if gym:
        assert events_json(plan.events) == []
        return
    [offer] = events_json(plan.events)
    assert (offer["name"], offer["event"], offer["sentence"]) == ("Ana Lima", "TechConf", sentence)
    [t] = offer["times"]
    when = datetime.fromisoformat(t["start"])
    assert when.utcoffset() == when.astimezone(boston).utcoffset()  # Boston time
    assert when.date() == day and datetime.fromisoformat(t["end"]) <= start
    assert (t["window"], t["mode"], t["place"]) == ("breakfast", "in_person", "Tatte, 1 Beacon St")

    page = text(site.get("/"))
    note = page.split('class="flash info event-note"', 1)[1].split("</div>", 1)[0]
    assert sentence in note
    assert f"{when:%H:%M}–" in note and "In person at Tatte, 1 Beacon St" in note
