"""The dashboard on a trip: the trip's sentence, the week picture's trip days, and the place."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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
