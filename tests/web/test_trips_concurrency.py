"""Two overlapping trips added at the same moment (two tabs, a double click on two nodes): on
SQLite and PostgreSQL one is stored and the other refused, never both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from tests.helpers.concurrency import at_once
from tests.helpers.invite_fixtures import make_owner
from web.composition import Runtime
from web.errors import UserError
from web.services.places import add_trip, page


def test_overlapping_trips_added_at_once_store_one(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    for attempt in range(5):
        start = date(2027, 3, 1) + timedelta(days=10 * attempt)
        outcomes = _add_at_once(runtime, owner, start, ("Lisbon", "Porto"))
        assert sorted(outcomes) == ["refused", "stored"], (attempt, outcomes)
    assert len(page(runtime, owner, runtime.config)["trips"]) == 5


def _add_at_once(runtime: Runtime, owner: int, start: date, cities: tuple[str, ...]) -> list[str]:
    """Add a trip to each city for the same days, all at once: what each got."""

    def adding(city: str) -> Callable[[], str]:
        def attempt() -> str:
            try:
                add_trip(runtime, owner, city=city, start=start, end=start + timedelta(days=3))
                return "stored"
            except UserError as exc:
                return "refused" if "remove that trip first" in str(exc) else str(exc)

        return attempt

    return at_once(*(adding(city) for city in cities))
