"""Where the owner is: manual trips and trips read from calendar occurrences join into one list."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.trips import Occurrence
from tests.helpers.invite_fixtures import make_owner
from web.composition import Runtime
from web.services.accounts import save_owner_place, user_config
from web.services.places import add_trip, where_for

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_trip_to_boston_from_the_calendar_joins_the_manual_one(sqlite_runtime: Runtime) -> None:
    owner = make_owner(sqlite_runtime)
    save_owner_place(sqlite_runtime, owner, "Berlin", "")
    add_trip(sqlite_runtime, owner, city="Boston", start=date(2026, 12, 12), end=date(2026, 12, 13))
    first = date(2026, 12, 10)
    occurrences = [
        Occurrence(
            datetime.combine(first, time(0), tzinfo=BERLIN),
            datetime.combine(first + timedelta(days=3), time(0), tzinfo=BERLIN),
            "Trip to Boston",
            all_day=True,
        ),
        Occurrence(
            datetime(2026, 12, 14, 9, tzinfo=BERLIN),
            datetime(2026, 12, 14, 10, tzinfo=BERLIN),
            "Standup",
            "Room 4, Berlin",
        ),
    ]
    with transaction(sqlite_runtime.sessions) as session:
        user = session.get(models.User, owner)
        assert user is not None
        config = user_config(sqlite_runtime, user)
        where = where_for(
            session,
            config,
            owner,
            today=date(2026, 12, 1),
            google_connected=False,
            occurrences=occurrences,
        )
    assert where.home is not None and where.home.timezone == "Europe/Berlin"
    assert [(t.city, t.start, t.end, t.timezone) for t in where.trips] == [
        ("Boston", date(2026, 12, 10), date(2026, 12, 13), "America/New_York")
    ]
