"""Where the owner meets: home city, places, hand-entered trips, and what the plan needs of them.

No Flask here: the settings pages and the CLI call these; the plan reads `where_for`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from integrations import geo
from integrations.calendars.sync import horizon
from integrations.config import Config
from integrations.storage import calendar_store
from integrations.storage import places as store
from integrations.storage.bookings import BookingStore
from integrations.storage.db import transaction
from scheduler.model import Interval, ProposedTime
from scheduler.places import (
    VIDEO_CALL,
    City,
    Place,
    Trip,
    city_key,
    left_behind,
    offered_elsewhere,
    place_applies,
    same_city,
)
from scheduler.text import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    counted,
    day_text,
    in_supported_range,
    is_web_link,
    refuse_controls,
)
from scheduler.trips import (
    Occurrence,
    called_off,
    clashing_trip,
    merge_trips,
    trips_from_occurrences,
)
from web.composition import Runtime
from web.errors import NotFound, UserError
from web.services.accounts import account_and_config

MEET_PLACE = "Google Meet (the link is in the calendar invitation)"


@dataclass(frozen=True)
class Where:
    """What the plan needs to know about where the owner is and meets."""

    home: City | None
    trips: list[Trip] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    defaults: dict[str, int] = field(default_factory=dict)
    video_link: str = ""
    video_place: str = VIDEO_CALL

    def placing(
        self, *, zone: tzinfo, city_of: dict[int, str], trips: Sequence[Trip] | None = None
    ) -> dict[str, Any]:
        """Where the owner is and meets, as `scheduler.pairing.pair` and `locate` take it."""
        return {
            "zone": zone,
            "home": self.home,
            "trips": self.trips if trips is None else trips,
            "city_of": city_of,
            "places": self.places,
            "default_places": self.defaults,
            "video_link": self.video_link,
            "video_place": self.video_place,
        }


def _printable(value: str, what: str, limit: int) -> str:
    """`value` on one line (runs of white space as one space), or UserError naming a control
    character in it or its length past `limit`."""
    text = " ".join(value.split())
    refused = refuse_controls(text, what)
    if refused:
        raise UserError(refused)
    if len(text) > limit:
        raise UserError(f"{what} must be at most {limit} characters, got {len(text)}")
    return text


def _url(value: str, what: str) -> str:
    text = value.strip()
    if text and not is_web_link(text):
        raise UserError(f'{what} "{text[:80]}" is not an http(s) link')
    if len(text) > 2000:
        raise UserError(f"{what} is longer than 2000 characters")
    return text


def contact_zone(contact: Any) -> str:
    """The zone a contact reads times in, as far as we know it: their own, else their city's
    (when it resolves), else ""."""
    if contact.timezone:
        return str(contact.timezone)
    return city_zone(contact.city)


def city_zone(text: str) -> str:
    """The zone of the city `text` names, when it resolves; else ""."""
    city = geo.resolve(text) if text else None
    return city.timezone if city is not None and city.resolved else ""


def resolved_city(text: str) -> City:
    """The city the owner or a contact typed, resolved (or flagged)."""
    return geo.resolve(text)


def city_problem(typed: str) -> str | None:
    """Why a typed city does not resolve, as a sentence telling what to write; None when it
    does (or nothing was typed)."""
    typed = " ".join(typed.split())
    city = geo.resolve(typed) if typed else None
    if city is None or city.resolved:
        return None
    if city.flag == "ambiguous":
        ways = " or ".join(f'"{label}"' for label in geo.spellings(typed))
        return f'"{typed}" names several cities: write which, like {ways}'
    return f'"{typed}" is not a city we know: check the spelling'


def where_for(
    session: Session,
    config: Config,
    user_id: int,
    *,
    today: date,
    google_connected: bool,
    occurrences: Sequence[Occurrence] = (),
) -> Where:
    """Home city, trips (entered by hand, and read from `occurrences`: the calendar store's
    events in the horizon), places with the default per meal, and the video link for calls."""
    home = _home(config)
    trips = _all_trips(session, user_id, home, today, occurrences)
    places, defaults = store.load_places(session, user_id)
    if google_connected and config.google.meet_link:
        # The Meet link is made with the Google event, so the invite can only say so.
        return Where(home, trips, places, defaults, "", MEET_PLACE)
    return Where(home, trips, places, defaults, config.owner.video_room_url)


def _all_trips(
    session: Session,
    user_id: int,
    home: City | None,
    today: date,
    occurrences: Sequence[Occurrence],
) -> list[Trip]:
    """The trips entered by hand (those not over by `today`) and those read from
    `occurrences`, merged where they overlap."""
    manual = store.load_trips(session, user_id, geo.resolve, until_after=today)
    found = trips_from_occurrences(occurrences, home, geo.resolve) if occurrences else []
    return merge_trips([*manual, *found]) if found else manual


def stored_occurrences(
    session: Session, user_id: int, today: date, config: Config
) -> list[Occurrence]:
    """The calendar store's events over the planning horizon, as the trip rules read them."""
    return occurrences_on(
        session, user_id, today, config.scheduling.horizon_days + 1, ZoneInfo(config.owner.timezone)
    )


def occurrences_on(
    session: Session, user_id: int, first: date, days: int, zone: ZoneInfo
) -> list[Occurrence]:
    """The calendar store's events on `days` days from `first` (in `zone`), as the trip rules
    read them."""
    horizon = Interval(*days_span(zone, first, first + timedelta(days=days - 1)))
    return [
        Occurrence(
            o.start.astimezone(zone),
            o.end.astimezone(zone),
            summary=o.summary,
            location=o.location,
            all_day=_whole_days(o.start.astimezone(zone), o.end.astimezone(zone)),
            attendees=o.attendees,
        )
        for o in calendar_store.upcoming(session, user_id, horizon)
    ]


def _whole_days(start: datetime, end: datetime) -> bool:
    """An all-day event is stored as local midnight to local midnight (the store keeps
    instants, not DATE values)."""
    midnight = datetime.min.time()
    return start.time() == midnight and end.time() == midnight and end > start


def _home(config: Config) -> City | None:
    """The owner's home city, resolved (or flagged, and then no city the trip rules compare)."""
    home = geo.resolve(config.owner.city) if config.owner.city else None
    if home is not None and not home.resolved:
        home = City(home.name, flag=home.flag)
    return home


def add_place(
    runtime: Runtime,
    user_id: int,
    *,
    name: str,
    address: str = "",
    map_link: str = "",
    city: str = "",
    meals: tuple[str, ...] = (),
    default_for: tuple[str, ...] = (),
) -> int:
    """Store a place; its city is kept as typed (flagged on the page if it does not resolve)."""
    name = _printable(name, "The place's name", 200)
    if not name:
        raise UserError("The place needs a name")
    place = Place(
        name,
        _printable(address, "The address", 500),
        _url(map_link, "The map link"),
        _printable(city, "The city", 200),
        frozenset(_printable(m, "A meal", 64) for m in meals if m.strip()),
    )
    with transaction(runtime.sessions) as session:
        _, config = account_and_config(session, runtime, user_id)
        windows = [w.name for w in config.windows]
        for meal in (*place.meals, *(m for m in default_for if m)):
            if meal not in windows:
                raise UserError(
                    f"{meal!r} is not one of your meal windows ({', '.join(windows) or 'none'})"
                )
        for meal in (m for m in default_for if m):
            if not place.suits(meal):
                raise UserError(
                    f"{place.name} suits only {', '.join(sorted(place.meals))}: it cannot be "
                    f"the default place for {meal}"
                )
        return store.add_place(session, user_id, place, tuple(m for m in default_for if m))


def remove_place(runtime: Runtime, user_id: int, place_id: int) -> None:
    with transaction(runtime.sessions) as session:
        if not store.delete_place(session, user_id, place_id):
            raise NotFound(f"no place with id {place_id}")


@dataclass(frozen=True)
class TripAdded:
    """A trip stored, and what it changed: times open invites offered on its days for another
    city, taken off them; and the coffees already booked on its days, for the owner to see."""

    id: int
    withdrawn: int
    booked: tuple[Interval, ...]

    def lines(self, zone: tzinfo) -> list[str]:
        """What to tell the owner besides "added"."""
        out = []
        if self.withdrawn:
            out.append(
                f"{counted(self.withdrawn, 'time')} your open invites offered on those days "
                "(planned for where you were to be) taken off them"
            )
        return out + _booked_lines(self.booked, zone, "in person is booked", ", away from the trip")


def add_trip(runtime: Runtime, user_id: int, *, city: str, start: date, end: date) -> TripAdded:
    """Store a trip; the city must resolve (a trip needs a time zone) and the days must not
    overlap another trip entered by hand (nobody is in two cities at once). Times open invites
    offer on the trip's days for another city (a home lunch in person) are taken off them, in
    the same unit of work, so nobody books them while the owner is away."""
    typed = _printable(city, "The trip's city", 200)
    if not typed:
        raise UserError("Enter the city of the trip")
    problem = city_problem(typed)
    if problem:
        raise UserError(problem)
    for day, what in ((start, "starts"), (end, "ends")):
        if not in_supported_range(day):
            raise UserError(
                f"The trip {what} on {day}, outside the years meetagain plans "
                f"({EARLIEST_YEAR} to {LATEST_YEAR})"
            )
    if end < start:
        raise UserError(f"The trip ends on {end} before it starts on {start}")
    if (end - start).days > 366:
        raise UserError("A trip lasts at most a year")
    with transaction(runtime.sessions) as session:
        other = clashing_trip(store.entered_trips(session, user_id, lock=True), start, end)
        if other is not None:
            raise UserError(
                f"You are already in {other.city} from {other.start} to {other.end}: remove "
                "that trip first, or pick days around it"
            )
        trip_id = store.add_trip(session, user_id, typed, start, end)
        first, last = days_span(ZoneInfo(geo.resolve(typed).timezone), start, end)
        _, config = account_and_config(session, runtime, user_id)
        withdrawn = withdraw_elsewhere(session, config, user_id, first, last)
        # The coffees to meet in person elsewhere (those in the trip's city are its own).
        _, elsewhere = _met_in(BookingStore(session), user_id, first, last, typed)
        return TripAdded(trip_id, withdrawn, elsewhere)


def withdraw_elsewhere(
    session: Session,
    config: Config,
    user_id: int,
    first: datetime,
    last: datetime,
    *,
    trips: Sequence[Trip] | None = None,
) -> int:
    """Take off the owner's open invites the times starting in [first, last) that were
    offered for another city than the one a trip takes them to (a home lunch in person on a
    day in Boston); how many. The trips are those the plan reads: entered by hand, and found
    in the calendar store. Adding a trip calls it, a calendar sync that stored new events
    does, and so does offering times again after a cancel or a move, which would otherwise
    bring them back. `trips`: those over [first, last), when the caller has read them."""
    if trips is None:
        trips = trips_between(session, config, user_id, first, last)
    if not trips:
        return 0
    bookings = BookingStore(session)
    elsewhere = [
        t.id
        for t in bookings.open_times(user_id, first, last)
        if offered_elsewhere(t.city, t.interval.start, trips)
    ]
    bookings.withdraw_times(elsewhere)
    return len(elsewhere)


def trips_between(
    session: Session, config: Config, user_id: int, first: datetime, last: datetime
) -> list[Trip]:
    """The trips on the days from `first` to `last`: entered by hand and found in the calendar
    store, merged as the plan reads them. Read from the owner's day before `first`: a trip's
    days are the trip city's, and west of home its last one ends in the owner's next."""
    zone = ZoneInfo(config.owner.timezone)
    since = first.astimezone(zone).date() - timedelta(days=1)
    days = (last.astimezone(zone).date() - since).days + 1
    occurrences = occurrences_on(session, user_id, since, days, zone)
    return _all_trips(session, user_id, _home(config), since, occurrences)


@contextmanager
def trips_followed(
    runtime: Runtime,
    session: Session,
    user_id: int,
    *,
    now: datetime | None = None,
    within: Interval | None = None,
) -> Iterator[None]:
    """Around a change in this unit of work that may make, move or call off a trip (events
    stored or removed, a calendar removed, the home city changed): afterwards the owner's open
    invites follow it (`follow_trips`), from `now` as far ahead as the calendar store reads, or
    only around `within` (the time a sync's changes touch: the work stays with the change)."""
    now = now or datetime.now(UTC)
    _, config = account_and_config(session, runtime, user_id)
    first, last = now, _store_end(config, now)
    if within is not None:  # a day either side: a trip joins one on the next day
        first = max(first, within.start - timedelta(days=1))
        last = min(last, within.end + timedelta(days=1))
    if first >= last:
        yield
        return
    before = trips_between(session, config, user_id, first, last)
    yield
    session.flush()
    _, config = account_and_config(session, runtime, user_id)  # the home city may be new
    follow_trips(runtime, session, config, user_id, before, Interval(first, last), now=now)


def follow_trips(
    runtime: Runtime,
    session: Session,
    config: Config,
    user_id: int,
    before: Sequence[Trip],
    span: Interval,
    *,
    now: datetime,
) -> None:
    """The trips over `span` changed in this unit of work (`before`: as they were): the times
    a trip no longer there took off open invites are offered again where the bookings allow
    (as when a trip entered by hand is removed); then the times in `span` offered for a city
    the owner will not be in are taken off (as when one is entered)."""
    after = trips_between(session, config, user_id, span.start, span.end)
    bookings = BookingStore(session)
    for trip in called_off(before, after):
        _call_off(runtime, bookings, user_id, trip, after, now=now, until=_store_end(config, now))
    withdraw_elsewhere(session, config, user_id, span.start, span.end, trips=after)


def _call_off(
    runtime: Runtime,
    bookings: BookingStore,
    user_id: int,
    gone: Trip,
    trips: Sequence[Trip],
    *,
    now: datetime,
    until: datetime | None = None,
) -> None:
    """A trip called off (`trips`: those still on): the times it took off open invites are
    offered again where the bookings allow, and those offered to meet in its city on its
    days, where the owner no longer will be, are taken off."""
    offer_again_on(
        runtime, bookings, user_id, gone.zone, gone.start, gone.end, now=now, until=until
    )
    first, last = days_span(gone.zone, gone.start, gone.end)
    bookings.withdraw_times(
        [
            t.id
            for t in bookings.open_times(user_id, first, last)
            if left_behind(t.city, t.mode, t.interval.start, gone, trips)
        ]
    )


def days_span(zone: tzinfo, first: date, last: date) -> tuple[datetime, datetime]:
    """The days from `first` to `last` (both included) in `zone`, as [start, end) instants."""
    return (
        datetime.combine(first, time(0), zone),
        datetime.combine(last + timedelta(days=1), time(0), zone),
    )


def _store_end(config: Config, now: datetime) -> datetime:
    """How far ahead the calendar store holds events (and so trips)."""
    return horizon(now, config.scheduling.horizon_days).wanted.end


def offer_again_on(
    runtime: Runtime,
    bookings: BookingStore,
    user_id: int,
    zone: tzinfo,
    first: date,
    last: date,
    *,
    now: datetime,
    until: datetime | None = None,
) -> None:
    """Offer again, where the bookings and the remaining trips allow, the withdrawn times of
    each of the owner's weeks that the days from `first` to `last` (in `zone`, the trip
    city's) touch, from `now` (and up to `until`), as after a cancel."""
    from web.services.invites.reoffer import restore_by_rules  # it uses withdraw_elsewhere

    begin, stop = days_span(zone, first, last)
    begin = max(begin, now)
    if until is not None:
        stop = min(stop, until)
    if begin >= stop:
        return
    # A moment in each week of the owner's (their zone decides where a week ends, so the
    # span's last instant too: a trip west of home ends in the owner's next day).
    moments, moment = [], begin
    while moment < stop:
        moments.append(moment)
        moment += timedelta(days=6)  # not 7: a week with a clock change is an hour shorter
    moments.append(stop - timedelta(microseconds=1))
    for moment in moments:
        restore_by_rules(runtime, bookings, user_id, moment, now=now)


@dataclass(frozen=True)
class TripRemoved:
    """A trip removed: its city, and the coffees still booked in person there on its days."""

    city: str
    booked: tuple[Interval, ...]

    def lines(self, zone: tzinfo) -> list[str]:
        """What to tell the owner besides "removed"."""
        said = f"in person in {self.city} is still booked"
        return _booked_lines(self.booked, zone, said, "", " if you are not going")


def _booked_lines(
    booked: Sequence[Interval], zone: tzinfo, said: str, why: str, unless: str = ""
) -> list[str]:
    """One line for each coffee a trip change leaves where it was, saying where to move it."""
    out = []
    for b in booked:
        local = b.start.astimezone(zone)
        out.append(
            f"a coffee {said} on {day_text(local)} at {local:%H:%M} "
            f"(your time){why}: move or cancel it from its page (Dashboard, Coffees booked)"
            f"{unless}"
        )
    return out


def remove_trip(runtime: Runtime, user_id: int, trip_id: int) -> TripRemoved:
    """Remove a trip; the times its adding took off open invites (planned for home) are
    offered again where the bookings allow, as after a cancel, and those offered to meet in
    its city are taken off. Names the coffees booked in the trip's city on its days, which
    nothing moves."""
    with transaction(runtime.sessions) as session:
        trip = next((t for t in store.entered_trips(session, user_id) if t.id == trip_id), None)
        if trip is None or not store.delete_trip(session, user_id, trip_id):
            raise NotFound(f"no trip with id {trip_id}")
        session.flush()
        bookings, now = BookingStore(session), datetime.now(UTC)
        where = geo.resolve(trip.city)
        zone = ZoneInfo(where.timezone or "UTC")
        first, last = days_span(zone, trip.start, trip.end)
        if where.resolved:
            gone = Trip(trip.city, where.timezone, trip.start, trip.end, where.country)
            _, config = account_and_config(session, runtime, user_id)
            still = trips_between(session, config, user_id, first, last)
            _call_off(runtime, bookings, user_id, gone, still, now=now)
        else:  # it never took the owner anywhere the plan knew; what it held goes back
            offer_again_on(runtime, bookings, user_id, zone, trip.start, trip.end, now=now)
        there, _ = _met_in(bookings, user_id, first, last, trip.city)
        return TripRemoved(trip.city, there)


def _met_in(
    bookings: BookingStore, user_id: int, first: datetime, last: datetime, city: str
) -> tuple[tuple[Interval, ...], tuple[Interval, ...]]:
    """The coffees booked to meet in person in [first, last): those in `city`, and the others
    (a time offered for no city counts as elsewhere)."""
    key = geo.resolve(city).key
    found = bookings.met_where(user_id, first, last)
    there = tuple(span for span, where in found if where and same_city(city_key(where), key))
    return there, tuple(span for span, _ in found if span not in there)


def page(runtime: Runtime, user_id: int, config: Config) -> dict[str, Any]:
    """What the places page shows: home city, places, trips, each city with its resolution."""
    with transaction(runtime.sessions) as session:
        places, defaults = store.load_places(session, user_id)
        trips = store.entered_trips(session, user_id)
        # The trips the plan also reads from the calendars (the store's copy, never a server).
        today = datetime.now(ZoneInfo(config.owner.timezone)).date()
        occurrences = stored_occurrences(session, user_id, today, config)
        found = trips_from_occurrences(occurrences, _home(config), geo.resolve)
        trip_view = [
            {
                "id": t.id,
                "city": t.city,
                "start": t.start,
                "end": t.end,
                "where": where,
                # "Boston, US", or what the name could not be told apart from ("ambiguous city")
                "where_label": geo.label(where) if where.resolved else f"{where.flag} city",
            }
            for t in trips
            for where in (geo.resolve(t.city),)
        ]
    default_of = {
        pid: sorted(m for m, p in defaults.items() if p == pid) for pid in defaults.values()
    }
    return {
        "home": config.owner.city,
        "home_city": geo.resolve(config.owner.city) if config.owner.city else None,
        "home_problem": city_problem(config.owner.city),
        "video_room_url": config.owner.video_room_url,
        "places": [
            {
                "place": p,
                "where": geo.resolve(p.city) if p.city else None,
                "default_for": default_of.get(p.id or 0, []),
            }
            for p in places
        ],
        "trips": trip_view,
        "calendar_trips": [
            {"city": t.city, "start": t.start, "end": t.end, "label": f"{t.city}, {t.country}"}
            for t in found
        ],
        "windows": [w.name for w in config.windows],
    }


def owner_places(runtime: Runtime, user_id: int) -> list[Place]:
    with transaction(runtime.sessions) as session:
        return store.load_places(session, user_id)[0]


def with_place(
    runtime: Runtime, user_id: int, times: list[ProposedTime], place_id: int
) -> list[ProposedTime]:
    """The times with the owner's chosen place on every in-person one (calls keep their room)."""
    with transaction(runtime.sessions, read_only=True) as session:
        places = store.load_places(session, user_id)[0]
        _, config = account_and_config(session, runtime, user_id)
    chosen = next((p for p in places if p.id == place_id), None)
    if chosen is None:
        raise NotFound(f"no place with id {place_id}")
    home = _home(config)
    for t in times:
        if t.mode != "in_person":
            continue
        at_home = not t.city or (home is not None and same_city(city_key(t.city), home.key))
        if at_home and home is None:
            continue  # no home city to tell places apart by: any place may be home
        if not place_applies(chosen, city_key(t.city), at_home=at_home):
            where = chosen.city or "your home city"
            raise UserError(
                f"{chosen.name} is in {where}, but you meet in {t.city or 'your home city'} "
                f"then: pick a place there, or keep the places as proposed"
            )
    return [
        replace(t, place=chosen.text, place_url=chosen.map_link) if t.mode == "in_person" else t
        for t in times
    ]


def city_suggestions(prefix: str) -> list[dict[str, str]]:
    """Type-ahead: the most populous cities starting with `prefix`."""
    return [
        {"label": geo.label(c), "name": c.name, "country": c.country, "timezone": c.timezone}
        for c in geo.suggest(prefix[:100])
    ]
