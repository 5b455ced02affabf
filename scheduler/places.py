"""Where a meeting happens: cities, places, trips, in person or video, and waking hours.

Pure: cities arrive already resolved (name, country, zone) from `integrations.geo`; nothing here
reads data files or the clock. The rules:

- The owner is in a trip's city on every date the trip covers (dates in the trip city's zone),
  else at home.
- A time is *in person* when the contact lives in the city the owner is in at that time; it is a
  *video* call when both cities are known and differ. When either city is unknown, a contact
  without a known zone is taken as local (in person, as the app always assumed) and one with a
  zone is offered a video call.
- A video time must lie within the invitee's waking hours (default 07:00-21:00 their time,
  start and end on the same local date).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from scheduler.text import day_month
from scheduler.zones import known_zone


class Mode(StrEnum):
    IN_PERSON = "in_person"
    VIDEO = "video"


DEFAULT_WAKING: tuple[time, time] = (time(7, 0), time(21, 0))


def city_key(name: str, country: str = "") -> str:
    """A comparison key for a city: case- and space-insensitive name, plus country when known."""
    base = " ".join(name.split()).casefold()
    return f"{base}|{country.upper()}" if base and country else base


def same_city(a: str, b: str) -> bool:
    """Keys name the same city: equal, or equal names where one side lacks the country."""
    if not a or not b:
        return False
    if a == b:
        return True
    a_name, _, a_country = a.partition("|")
    b_name, _, b_country = b.partition("|")
    return a_name == b_name and (not a_country or not b_country)


@dataclass(frozen=True, slots=True)
class City:
    """A resolved city (or one kept as typed: `timezone` empty and `flag` saying why)."""

    name: str
    country: str = ""
    timezone: str = ""
    latitude: float | None = None
    longitude: float | None = None
    flag: str = ""  # "" when resolved; "unknown" or "ambiguous" otherwise

    @property
    def key(self) -> str:
        return city_key(self.name, self.country)

    @property
    def resolved(self) -> bool:
        return not self.flag and bool(self.timezone)


@dataclass(frozen=True, slots=True)
class Place:
    """Somewhere the owner likes to meet, in one city, suiting some meals (empty = any)."""

    name: str
    address: str = ""
    map_link: str = ""
    city: str = ""
    meals: frozenset[str] = frozenset()
    id: int | None = None

    def suits(self, meal: str) -> bool:
        return not self.meals or meal in self.meals

    @property
    def text(self) -> str:
        """'Café Einstein, Unter den Linden 42': what an invite names as the place."""
        return f"{self.name}, {self.address}" if self.address else self.name


@dataclass(frozen=True, slots=True)
class Trip:
    """The owner away in a city from `start` to `end` (both dates included, the city's zone)."""

    city: str
    timezone: str
    start: date
    end: date
    country: str = ""
    source: str = "manual"  # "manual" | "calendar"
    id: int | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"trip to {self.city} ends on {self.end} before it starts")
        if known_zone(self.timezone) is None:
            raise ValueError(f"trip to {self.city}: unknown time zone {self.timezone!r}")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def key(self) -> str:
        return city_key(self.city, self.country)

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end

    def covers_instant(self, moment: datetime) -> bool:
        return self.covers(moment.astimezone(self.zone).date())

    @property
    def label(self) -> str:
        """'Boston 10–12 Dec' (or '30 Dec – 2 Jan', '10 Dec' for one day)."""
        a, b = self.start, self.end
        if a == b:
            span = day_month(a)
        elif (a.year, a.month) == (b.year, b.month):
            span = f"{a.day}–{b.day} {b:%b}"
        else:
            span = f"{day_month(a)} – {day_month(b)}"
        return f"{self.city} {span}"


def trip_at(moment: datetime, trips: Sequence[Trip]) -> Trip | None:
    """The trip the owner is on at `moment` (the first, when trips overlap), else None."""
    for trip in trips:
        if trip.covers_instant(moment):
            return trip
    return None


def offered_elsewhere(time_city: str, start: datetime, trips: Sequence[Trip]) -> bool:
    """A time offered for one city (`time_city`, where the owner was to be) that falls on a
    trip to another: the owner will not be there, so it is not offered."""
    trip = trip_at(start, trips)
    return trip is not None and not same_city(city_key(time_city), trip.key)


def left_behind(
    time_city: str, mode: str, start: datetime, gone: Trip, trips: Sequence[Trip]
) -> bool:
    """A time offered to meet in person in the city of a trip now called off (`gone`), on its
    days: unless a trip (of `trips`, those now) still takes the owner there, they will not be
    in that city. A video call does not depend on where the owner is."""
    if mode == Mode.VIDEO.value or not gone.covers_instant(start):
        return False
    if not same_city(city_key(time_city), gone.key):
        return False
    now = trip_at(start, trips)
    return now is None or not same_city(city_key(time_city), now.key)


def choose_mode(
    contact_city: str, owner_city: str, contact_zone: str | None, owner_zone: str = ""
) -> Mode:
    """In person when the contact is where the owner is; video otherwise (see module doc)."""
    if contact_city and owner_city:
        return Mode.IN_PERSON if same_city(contact_city, owner_city) else Mode.VIDEO
    if not contact_zone or known_zone(contact_zone) is None or contact_zone == owner_zone:
        return Mode.IN_PERSON
    return Mode.VIDEO


def awake(
    start: datetime, end: datetime, zone: ZoneInfo, waking: tuple[time, time] = DEFAULT_WAKING
) -> bool:
    """True when [start, end) lies within waking hours on one local date in `zone`."""
    first, last = waking
    a = start.astimezone(zone)
    b = end.astimezone(zone)
    if a.date() != b.date():
        return False
    return first <= a.time() and b.time() <= last and b.astimezone(UTC) > a.astimezone(UTC)


def place_applies(place: Place, city: str, *, at_home: bool) -> bool:
    """Whether the owner can meet at `place` when they are in `city` (a city key): a place in
    that city, or one kept without a city (where the owner lives) when they are at home."""
    return same_city(city_key(place.city), city) or (at_home and not place.city.strip())


def choose_place(
    places: Sequence[Place],
    meal: str,
    city: str,
    defaults: Mapping[str, int] | None = None,
    *,
    at_home: bool = False,
) -> Place | None:
    """The default place for this meal if it is in `city`, else the first place there suiting it.

    Places in another city never apply: during a trip the home places do not. A place kept
    without a city is where the owner lives: it applies at home (`at_home`), home city set
    or not.
    """
    here = [p for p in places if place_applies(p, city, at_home=at_home)]
    wanted = (defaults or {}).get(meal)
    for p in here:
        if wanted is not None and p.id == wanted and p.suits(meal):
            return p
    for p in here:
        if p.suits(meal):
            return p
    return None


# The place of a video time when the owner keeps no room link (and Google makes no Meet).
VIDEO_CALL = "Video call"


def video_where(place: str, place_url: str, owner_name: str) -> str:
    """Where a video call is, for a calendar event or an email: its link; else what the place
    says of it (Google Meet's link comes with the invitation); else who sends the link."""
    if place_url:
        return place_url
    if place and place != VIDEO_CALL:
        return place
    return f"{owner_name or 'the organiser'} will send the link"


def describe_where(mode: str, place: str, place_url: str, meal: str, owner_name: str) -> str:
    """'Video call · Olivia's lunch in Berlin, 13:00' or 'In person at Tatte · map: https://…'."""
    if mode == Mode.VIDEO:
        text = VIDEO_CALL
        if meal:
            text += f" · {owner_name}'s {meal}" if owner_name else f" · {meal}"
        return text
    if mode != Mode.IN_PERSON:
        return ""
    text = f"In person at {place}" if place else "In person"
    if meal:
        text += f" · {meal}"
    if place_url:
        text += f" · map: {place_url}"
    return text


def time_label(
    start: datetime,
    meal: str,
    owner_city: str,
    mode: Mode | str,
    invitee_zone: ZoneInfo | None,
) -> str:
    """'breakfast in Berlin, 08:00' and, for a video call in another zone, '— 02:00 your time'.

    `start` is in the owner's zone at that time (home, or the trip city's)."""
    if owner_city:
        text = f"{meal} in {owner_city}, {start:%H:%M}"
    else:
        # No city to name: the clock it is read on, or "lunch, 12:00" reads as the reader's.
        key = str(getattr(start.tzinfo, "key", "") or "")
        clock = key.rsplit("/", 1)[-1].replace("_", " ")
        text = f"{meal}, {start:%H:%M}" + (f" ({clock} time)" if clock else "")
    if mode == Mode.VIDEO and invitee_zone is not None:
        theirs = start.astimezone(invitee_zone)
        if theirs.utcoffset() != start.utcoffset():
            text += f" — {theirs:%H:%M} your time"
    return text
