"""Places and hand-entered trips: rows to domain objects and back, scoped to one user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.storage import models
from integrations.storage.bookings import lock_owner
from scheduler.places import City, Place, Trip


def load_places(session: Session, user_id: int) -> tuple[list[Place], dict[str, int]]:
    """The user's places (by name) and the default place id per meal window."""
    rows = session.scalars(
        select(models.Place).where(models.Place.user_id == user_id).order_by(models.Place.name)
    ).all()
    defaults: dict[str, int] = {}
    places = []
    for r in rows:
        places.append(Place(r.name, r.address, r.map_link, r.city, frozenset(r.meals or ()), r.id))
        for meal in r.default_for or ():
            defaults.setdefault(str(meal), r.id)
    return places, defaults


def add_place(session: Session, user_id: int, place: Place, default_for: tuple[str, ...]) -> int:
    """Store a place; a meal it is the default for stops being another place's default."""
    if default_for:
        for other in session.scalars(select(models.Place).where(models.Place.user_id == user_id)):
            kept = [m for m in other.default_for or () if m not in default_for]
            if kept != list(other.default_for or ()):
                other.default_for = kept
    row = models.Place(
        user_id=user_id,
        name=place.name,
        address=place.address,
        map_link=place.map_link,
        city=place.city,
        meals=sorted(place.meals),
        default_for=list(default_for),
    )
    session.add(row)
    session.flush()
    return row.id


def delete_place(session: Session, user_id: int, place_id: int) -> bool:
    row = session.get(models.Place, place_id)
    if row is None or row.user_id != user_id:
        return False
    session.delete(row)
    return True


@dataclass(frozen=True)
class EnteredTrip:
    """A trip as the owner typed it: the city is not resolved yet (the page flags it)."""

    id: int
    city: str
    start: date
    end: date


def entered_trips(session: Session, user_id: int, *, lock: bool = False) -> list[EnteredTrip]:
    """The user's hand-entered trips, by start; `lock`: first lock the owner (`lock_owner`),
    so that a trip added in this unit of work is checked against every other one."""
    if lock:
        lock_owner(session, user_id)
    rows = session.execute(
        select(models.Trip.id, models.Trip.city, models.Trip.start, models.Trip.end)
        .where(models.Trip.user_id == user_id)
        .order_by(models.Trip.start, models.Trip.id)
    )
    return [EnteredTrip(trip_id, city, start, end) for trip_id, city, start, end in rows]


def load_trips(
    session: Session, user_id: int, resolve: Callable[[str], City], *, until_after: date
) -> list[Trip]:
    """Hand-entered trips not over before `until_after`, with their cities resolved (a trip
    whose city does not resolve has no zone and is left out: the page flags it)."""
    trips = []
    for r in entered_trips(session, user_id):
        if r.end < until_after:
            continue
        city = resolve(r.city)
        if not city.resolved:
            continue
        trips.append(Trip(city.name, city.timezone, r.start, r.end, city.country, "manual", r.id))
    return trips


def add_trip(session: Session, user_id: int, city: str, start: date, end: date) -> int:
    row = models.Trip(user_id=user_id, city=city, start=start, end=end)
    session.add(row)
    session.flush()
    return row.id


def delete_trip(session: Session, user_id: int, trip_id: int) -> bool:
    row = session.get(models.Trip, trip_id)
    if row is None or row.user_id != user_id:
        return False
    session.delete(row)
    return True
