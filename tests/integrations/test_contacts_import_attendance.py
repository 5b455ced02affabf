"""Past meetings found in calendars become interactions the user confirms in bulk."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrations.calendars.attendance import from_occurrences
from integrations.calendars.errors import CalendarError
from integrations.calendars.events import parse_occurrences
from integrations.contacts_import import import_contacts
from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.model import Interval
from web.composition import Runtime
from web.services import contacts as service
from web.services.calendar_sync import look_for_meetings

DATA = Path(__file__).parent.parent / "data" / "contacts"
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 16, 8, 0, tzinfo=BERLIN)


def attended(data: bytes, *, start: datetime, now: datetime, source: str = "") -> list[Any]:
    """What the sync stores for a calendar, then what counts as a past meeting in it."""
    window = Interval(start, now + timedelta(days=30))
    found, _ = parse_occurrences(data, window, zone=BERLIN, me=["owner@example.com"], source=source)
    return from_occurrences([o for o in found if o.end <= now], zone=BERLIN)


def test_attended_meetings_skip_declined_cancelled_future_and_the_owner() -> None:
    found = attended(
        (DATA / "past_meetings.ics").read_bytes(),
        start=datetime(2025, 12, 1, tzinfo=BERLIN),
        now=NOW,
    )
    assert [(a.uid, a.on) for a in found] == [
        ("monthly-jonas@example.org", date(2026, 1, 12)),
        ("monthly-jonas@example.org", date(2026, 2, 9)),
        ("coffee-ana@example.org", date(2026, 3, 5)),
        ("stranger@example.org", date(2026, 3, 6)),
        ("monthly-jonas@example.org", date(2026, 3, 9)),
    ]
    assert all("owner@example.com" not in a.emails for a in found)
    ana = next(a for a in found if a.uid == "coffee-ana@example.org")
    assert ana.emails == ("ana.souza@example.org",)


def test_an_unreadable_calendar_names_its_source() -> None:
    with pytest.raises(CalendarError, match="work.ics: "):
        attended(b"garbage", start=datetime(2026, 1, 1, tzinfo=BERLIN), now=NOW, source="work.ics")


@pytest.fixture
def user(sqlite_runtime: Runtime) -> Iterator[int]:
    runtime = sqlite_runtime
    owner = runtime.owner_id(create=True)
    with transaction(runtime.sessions) as session:
        import_contacts(session, owner, DATA / "native.csv")
        session.add(
            models.Calendar(
                user_id=owner,
                name="Work",
                kind="ics",
                location=str(DATA / "past_meetings.ics"),
                counts_as_busy=True,
                receives_events=False,
                last_error="",
                created_at=NOW,
            )
        )
    yield owner
    runtime.engine.dispose()


def test_meetings_with_contacts_are_logged_unconfirmed_once_and_confirmed_in_bulk(
    sqlite_runtime: Runtime, user: int
) -> None:
    runtime = sqlite_runtime
    new, warnings = look_for_meetings(runtime, user, now=NOW)
    assert (new, warnings) == (4, [])
    assert look_for_meetings(runtime, user, now=NOW) == (0, [])  # no duplicates
    pending = service.pending_interactions(runtime, user)
    assert [(p.contact_name, p.on) for p in pending] == [
        ("Jonas Weber", date(2026, 3, 9)),
        ("Ana Souza", date(2026, 3, 5)),
        ("Jonas Weber", date(2026, 2, 9)),
        ("Jonas Weber", date(2026, 1, 12)),
    ]
    jonas_id = pending[0].contact_id
    before = service.get_contact(runtime, user, jonas_id, now=NOW).item.contact
    assert before.last_met == date(2026, 1, 26)  # unconfirmed meetings do not count yet
    confirm = [p.id for p in pending if p.contact_name == "Jonas Weber"]
    reject = [p.id for p in pending if p.contact_name == "Ana Souza"]
    assert service.confirm_interactions(runtime, user, confirm, reject=reject) == (3, 1)
    after = service.get_contact(runtime, user, jonas_id, now=NOW).item.contact
    assert after.last_met == date(2026, 3, 9)
    assert after.times_met == before.times_met + 3
    assert service.pending_interactions(runtime, user) == []
    # A rejected meeting does not come back when the calendar is read again.
    assert look_for_meetings(runtime, user, now=NOW) == (0, [])


def test_another_users_interactions_cannot_be_confirmed(sqlite_runtime: Runtime, user: int) -> None:
    runtime = sqlite_runtime
    look_for_meetings(runtime, user, now=NOW)
    ids = [p.id for p in service.pending_interactions(runtime, user)]
    stranger = runtime.owner_id("stranger@example.com", create=True)
    assert service.confirm_interactions(runtime, stranger, ids) == (0, 0)
    assert len(service.pending_interactions(runtime, user)) == 4
