"""Trips: slots in the trip city's zone, trips read from events, trip priority, shared events."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.model import (
    Contact,
    Interaction,
    Interval,
    Relationship,
    SchedulingPolicy,
    Window,
)
from scheduler.pairing import candidate_times, pair
from scheduler.places import City, Place, Trip
from scheduler.rules import DefaultRules, evaluate
from scheduler.trips import (
    AttendedEvent,
    Occurrence,
    called_off,
    clashing_trip,
    event_suggestions,
    events_from_occurrences,
    hand_picked_time,
    merge_trips,
    plan_slots,
    trip_priority,
    trips_from_occurrences,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOME = City("Berlin", "DE", "Europe/Berlin")
WINDOWS = (
    Window("breakfast", time(7, 30), time(9), frozenset(range(7))),
    Window("lunch", time(12), time(13, 30), frozenset(range(7))),
)
POLICY = SchedulingPolicy(max_per_day=1, max_per_week=3, times_per_invite=3, notice=timedelta(0))
CITIES = {
    "boston": City("Boston", "US", "America/New_York", 42.36, -71.06),
    "new york": City("New York", "US", "America/New_York"),
    "berlin": City("Berlin", "DE", "Europe/Berlin"),
    "santiago": City("Santiago", "CL", "America/Santiago"),
}


def resolve(name: str) -> City | None:
    return CITIES.get(" ".join(name.split()).casefold())


def boston(start: date, end: date) -> Trip:
    return Trip("Boston", "America/New_York", start, end, "US")


@pytest.mark.parametrize(
    ("zone_name", "city", "start"),
    [
        ("America/New_York", "Boston", date(2026, 3, 7)),  # clocks change on 8 Mar
        ("America/New_York", "Boston", date(2026, 10, 31)),  # and on 1 Nov
        ("America/Santiago", "Santiago", date(2026, 4, 4)),  # changes at midnight (5 Apr)
        ("America/Santiago", "Santiago", date(2026, 9, 5)),  # 6 Sep: midnight does not exist
    ],
)
def test_trip_days_use_meal_windows_in_the_trip_citys_zone(
    zone_name: str, city: str, start: date
) -> None:
    zone = ZoneInfo(zone_name)
    trip = Trip(city, zone_name, start, start + timedelta(days=2))
    now = datetime.combine(start - timedelta(days=3), time(0), tzinfo=BERLIN)
    slots = plan_slots(
        [],
        WINDOWS,
        zone=BERLIN,
        trips=[trip],
        start=start - timedelta(days=2),
        days=7,
        now=now,
        policy=POLICY,
    )
    on_trip = [s for s in slots if trip.covers_instant(s.start)]
    assert {s.start.astimezone(zone).date() for s in on_trip} == {
        start + timedelta(days=d) for d in range(3)
    }
    for s in on_trip:
        assert s.start.tzinfo == zone
        local = s.start.astimezone(zone).time()
        assert local in (time(7, 30), time(12)), s
    # At home before and after: Berlin wall clock.
    home = [s for s in slots if not trip.covers_instant(s.start)]
    assert home and all(s.start.astimezone(BERLIN).time() in (time(7, 30), time(12)) for s in home)
    # Never two slots at once.
    assert all(not a.interval.overlaps(b.interval) for a, b in zip(slots, slots[1:], strict=False))


def test_an_all_day_trip_to_boston_becomes_a_three_day_trip() -> None:
    first = date(2026, 12, 10)
    records = [
        Occurrence(
            datetime.combine(first, time(0), tzinfo=BERLIN),
            datetime.combine(first + timedelta(days=3), time(0), tzinfo=BERLIN),
            "Trip to Boston",
            all_day=True,
        ),
        # A dentist at home and a meeting without a place are no trips.
        Occurrence(
            datetime(2026, 12, 14, 9, tzinfo=BERLIN),
            datetime(2026, 12, 14, 10, tzinfo=BERLIN),
            "Dentist",
            "Friedrichstraße 1, Berlin",
        ),
        Occurrence(
            datetime(2026, 12, 15, 9, tzinfo=BERLIN), datetime(2026, 12, 15, 10, tzinfo=BERLIN)
        ),
        # A talk with a LOCATION in New York is a one-day trip there, on its New York date.
        Occurrence(
            datetime(2026, 12, 18, 2, tzinfo=BERLIN),
            datetime(2026, 12, 18, 3, tzinfo=BERLIN),
            "Talk",
            "Javits Center, 429 11th Ave, New York",
        ),
    ]
    trips = trips_from_occurrences(records, HOME, resolve)
    assert [(t.city, t.start, t.end, t.source) for t in trips] == [
        ("Boston", first, date(2026, 12, 12), "calendar"),
        ("New York", date(2026, 12, 17), date(2026, 12, 17), "calendar"),
    ]


def test_manual_and_calendar_trips_to_one_city_merge() -> None:
    a = boston(date(2026, 12, 10), date(2026, 12, 12))
    b = Trip("Boston", "America/New_York", date(2026, 12, 13), date(2026, 12, 14), "US", "calendar")
    [merged] = merge_trips([b, a])
    assert (merged.start, merged.end) == (date(2026, 12, 10), date(2026, 12, 14))


def test_a_trip_removed_cut_short_or_going_elsewhere_is_called_off() -> None:
    kept = boston(date(2026, 12, 1), date(2026, 12, 2))
    removed = boston(date(2026, 12, 10), date(2026, 12, 12))
    long = boston(date(2026, 12, 20), date(2026, 12, 24))
    short = boston(date(2026, 12, 20), date(2026, 12, 21))
    lisbon = Trip("Lisbon", "Europe/Lisbon", date(2027, 1, 5), date(2027, 1, 6), "PT")
    porto = Trip("Porto", "Europe/Lisbon", date(2027, 1, 5), date(2027, 1, 6), "PT")
    assert called_off([kept, removed, long, lisbon], [kept, short, porto]) == [
        removed,
        long,
        lisbon,
    ]
    # Where it came from (entered or read) does not matter: the days and the city do.
    assert called_off([kept], [replace(kept, source="calendar", id=None)]) == []
    assert called_off([], [kept]) == []


def test_a_time_in_person_in_the_city_of_a_trip_called_off_is_left_behind() -> None:
    from scheduler.places import left_behind

    gone = boston(date(2026, 12, 10), date(2026, 12, 12))
    on_its_day = datetime(2026, 12, 11, 12, tzinfo=ZoneInfo("America/New_York"))
    after = datetime(2026, 12, 14, 12, tzinfo=ZoneInfo("America/New_York"))
    assert left_behind("Boston", "in_person", on_its_day, gone, [])
    assert left_behind("Boston", "", on_its_day, gone, [])  # no mode kept: met in person
    # A video call does not need the owner in Boston; a home lunch is not the trip's; a day
    # after the trip is not its.
    assert not left_behind("Boston", "video", on_its_day, gone, [])
    assert not left_behind("Berlin", "in_person", on_its_day, gone, [])
    assert not left_behind("Boston", "in_person", after, gone, [])
    # Still in Boston that day (the trip was cut short or moved, not called off).
    still = boston(date(2026, 12, 11), date(2026, 12, 11))
    assert not left_behind("Boston", "in_person", on_its_day, gone, [still])


def contact(name: str, cid: int, city: str, last: date, rel: Relationship) -> Contact:
    return Contact(
        name=name,
        emails=(f"{name.lower()}@example.com",),
        id=cid,
        city=city,
        relationship=rel,
        interactions=(Interaction(last - timedelta(days=400)), Interaction(last)),
    )


def test_a_trip_puts_the_contacts_who_live_there_first_with_a_sentence() -> None:
    today = date(2026, 12, 1)
    ana = contact("Ana Lima", 1, "Boston", today - timedelta(days=90 + 21), Relationship.PEER)
    ben = contact("Ben Okafor", 2, "Boston", today - timedelta(days=80), Relationship.PEER)
    cleo = contact("Cleo", 3, "Berlin", today - timedelta(days=400), Relationship.MENTOR)
    dan = contact("Dan", 4, "Boston", today - timedelta(days=10), Relationship.PEER)
    contacts = [ana, ben, cleo, dan]
    report = evaluate(contacts, today=today)
    assert [d.contact.name for d in report.due] == ["Cleo", "Ana Lima"]
    ordered, notes = trip_priority(
        [boston(date(2026, 12, 10), date(2026, 12, 12))],
        report.due,
        contacts,
        today=today,
        rules=DefaultRules(),
    )
    assert [d.contact.name for d in ordered] == ["Ana Lima", "Ben Okafor", "Cleo"]
    [note] = notes
    assert note.sentence == (
        "You're in Boston 10–12 Dec: Ana and Ben live there; Ana is 3 weeks overdue"
    )
    assert ordered[0].reasons[0] == note.sentence
    assert ordered[1].reasons == (note.sentence, "Nearly due: 10 days to go")


def test_during_a_trip_boston_contacts_meet_in_person_in_boston_time() -> None:
    today = date(2026, 12, 7)
    now = datetime.combine(today, time(6), tzinfo=BERLIN)
    trip = boston(date(2026, 12, 10), date(2026, 12, 12))
    slots = plan_slots(
        [], WINDOWS, zone=BERLIN, trips=[trip], start=today, days=7, now=now, policy=POLICY
    )
    ana = Contact("Ana", ("ana@example.com",), id=1, city="Boston", timezone="America/New_York")
    from scheduler.rules import DueContact

    tatte = Place("Tatte", "1 Beacon St", "https://maps.example/tatte", "Boston", id=7)
    home_cafe = Place("Café Einstein", city="Berlin", id=1)
    [p] = pair(
        [DueContact(ana, 51.0, ("trip",), "trip")],
        slots,
        policy=POLICY,
        zone=BERLIN,
        home=HOME,
        trips=[trip],
        places=[home_cafe, tatte],
    )
    assert p.trip == "Boston 10–12 Dec"
    in_person = [t for t in p.times if t.mode == "in_person"]
    assert in_person, p.times
    for t in in_person:
        assert trip.covers_instant(t.start)
        assert t.start.utcoffset() == timedelta(hours=-5)  # Boston's offset, in the JSON too
        assert (t.place, t.place_url, t.city) == (
            "Tatte, 1 Beacon St",
            "https://maps.example/tatte",
            "Boston",
        )
    for t in p.times:
        if t.mode == "video":
            local = t.start.astimezone(NEW_YORK).time()
            assert time(7) <= local


def test_the_trip_days_go_to_the_people_who_live_there_and_home_days_to_the_rest() -> None:
    """Earlier video calls are not offered in place of the trip: someone living in the trip's
    city gets the trip's in-person times, and a contact at home gets home days, not calls from
    the trip."""
    from scheduler.rules import DueContact

    today = date(2026, 12, 7)
    now = datetime.combine(today, time(6), tzinfo=BERLIN)
    trip = boston(date(2026, 12, 10), date(2026, 12, 12))
    slots = plan_slots(
        [], WINDOWS, zone=BERLIN, trips=[trip], start=today, days=7, now=now, policy=POLICY
    )
    # No zone known for Ana: video calls at any of the owner's meal times would suit her.
    ana = Contact("Ana", ("ana@example.com",), id=1, city="Boston")
    cleo = Contact("Cleo", ("cleo@example.com",), id=2, city="Berlin", timezone="Europe/Berlin")
    proposals = pair(
        [DueContact(ana, 51.0, ("trip",), "trip"), DueContact(cleo, 50.0, ("due",), "due")],
        slots,
        policy=POLICY,
        zone=BERLIN,
        home=HOME,
        trips=[trip],
    )
    by_name = {p.contact.name: p for p in proposals}
    assert [(t.mode, t.start.astimezone(NEW_YORK).date().day) for t in by_name["Ana"].times] == [
        ("in_person", 10),
        ("in_person", 11),
        ("in_person", 12),
    ]
    assert {t.mode for t in by_name["Cleo"].times} == {"in_person"}
    assert not any(trip.covers_instant(t.start) for t in by_name["Cleo"].times)


def test_events_we_both_attend_suggest_breakfast_before_it() -> None:
    ana = Contact("Ana Lima", ("ana@example.com",), id=1, city="Boston")
    start = datetime(2026, 12, 10, 10, 0, tzinfo=NEW_YORK)  # a Thursday
    records = [
        Occurrence(
            start,
            start + timedelta(hours=8),
            "TechConf",
            "Hynes, Boston",
            False,
            ("ANA@example.com", "x@y.z"),
        ),
        Occurrence(start, start + timedelta(hours=1), "Standup", "", False, ("bob@example.com",)),
    ]
    events = events_from_occurrences(records, [ana], resolve, HOME)
    assert events == [
        AttendedEvent(
            "TechConf",
            start,
            start + timedelta(hours=8),
            "Boston",
            "America/New_York",
            ("ANA@example.com",),
        )
    ]
    now = datetime(2026, 12, 1, 9, tzinfo=BERLIN)
    [s] = event_suggestions(events, [ana], WINDOWS, now=now, owner_zone=BERLIN, policy=POLICY)
    assert s.sentence == "Ana will be at TechConf on Thursday: breakfast before it?"
    [slot] = s.slots
    assert (
        slot.window,
        slot.start.astimezone(NEW_YORK).time(),
        slot.end.astimezone(NEW_YORK).time(),
    ) == (
        "breakfast",
        time(7, 30),
        time(9, 0),
    )


def test_times_around_an_event_keep_clear_of_busy_time_by_the_buffer() -> None:
    """A morning workshop before TechConf leaves no breakfast before it and a lunch only once
    the workshop (and the buffer) is over; with the whole day busy, no offer at all."""
    ana = Contact("Ana Lima", ("ana@example.com",), id=1)
    day = date(2026, 12, 10)
    conf = AttendedEvent(
        "TechConf",
        datetime.combine(day, time(15), BERLIN),
        datetime.combine(day, time(17), BERLIN),
        "",
        "",
        ("ana@example.com",),
    )
    workshop = Interval(
        datetime.combine(day, time(7), BERLIN), datetime.combine(day, time(12, 30), BERLIN)
    )
    now = datetime(2026, 12, 1, 9, tzinfo=BERLIN)
    offer = lambda busy: event_suggestions(  # noqa: E731
        [conf], [ana], WINDOWS, now=now, owner_zone=BERLIN, policy=POLICY, busy=busy
    )
    [s] = offer([workshop])
    assert s.sentence == "Ana will be at TechConf on Thursday: lunch before it?"
    [slot] = s.slots
    assert (slot.window, slot.start.time(), slot.end.time()) == (
        "lunch",
        time(12, 40),
        time(13, 30),
    )
    whole_day = Interval(workshop.start, datetime.combine(day, time(23), BERLIN))
    assert offer([whole_day]) == []


def test_a_trip_entered_by_hand_clashes_with_one_sharing_a_day() -> None:
    lisbon = Trip("Lisbon", "Europe/Lisbon", date(2027, 3, 1), date(2027, 3, 4))
    assert clashing_trip([lisbon], date(2027, 3, 4), date(2027, 3, 6)) is lisbon  # its last day
    assert clashing_trip([lisbon], date(2027, 2, 27), date(2027, 3, 1)) is lisbon  # its first
    assert clashing_trip([lisbon], date(2027, 3, 5), date(2027, 3, 9)) is None  # the day after


def test_people_with_equal_claims_are_named_in_name_order_accents_aside() -> None:
    """ "Émile" sorts with the e's, as in the contacts list and the due list, not after "Zoe"."""
    today = date(2026, 12, 1)
    last = today - timedelta(days=120)
    zoe = contact("Zoe", 1, "Boston", last, Relationship.PEER)
    emile = contact("Émile", 2, "Boston", last, Relationship.PEER)
    report = evaluate([zoe, emile], today=today)
    assert [d.contact.name for d in report.due] == ["Émile", "Zoe"]
    ordered, [note] = trip_priority(
        [boston(date(2026, 12, 10), date(2026, 12, 12))],
        report.due,
        [zoe, emile],
        today=today,
        rules=DefaultRules(),
    )
    assert [d.contact.name for d in ordered] == ["Émile", "Zoe"]
    assert note.sentence.startswith("You're in Boston 10–12 Dec: Émile and Zoe live there")


def test_a_hand_picked_time_takes_its_windows_name_and_length_where_the_owner_is() -> None:
    long_lunch = (WINDOWS[0], replace(WINDOWS[1], duration=timedelta(minutes=60)))
    at = datetime(2026, 12, 14, 12, 15, tzinfo=BERLIN)

    def picked(start: datetime, trips: tuple[Trip, ...] = ()) -> tuple[datetime, str]:
        t = hand_picked_time(start, long_lunch, zone=BERLIN, trips=trips, policy=POLICY)
        return t.end, t.window

    assert picked(at) == (at + timedelta(minutes=60), "lunch")
    assert picked(at.replace(hour=8)) == (at.replace(hour=8) + POLICY.duration, "breakfast")
    # 12:45 + 60 minutes ends after 13:30: no window holds it, the default length stays.
    assert picked(at.replace(minute=45)) == (at.replace(minute=45) + POLICY.duration, "")
    # In Boston, 12:15 Berlin is 06:15 there: no meal; 18:15 Berlin is a Boston lunch.
    trip = (boston(date(2026, 12, 13), date(2026, 12, 15)),)
    assert picked(at, trip) == (at + POLICY.duration, "")
    evening = at.replace(hour=18)
    assert picked(evening, trip) == (evening + timedelta(minutes=60), "lunch")


def test_the_windows_are_named_with_their_days_and_an_overrun_says_by_how_much() -> None:
    from scheduler.trips import too_long_for_window, windows_label

    weekdays = replace(WINDOWS[1], weekdays=frozenset(range(5)))
    assert windows_label((WINDOWS[0], weekdays)) == (
        "breakfast 07:30-09:00 every day, lunch 12:00-13:30 Mon–Fri"
    )
    assert windows_label(()) == "none"
    at = datetime(2026, 12, 14, 13, 0, tzinfo=BERLIN)
    assert too_long_for_window(at, WINDOWS, zone=BERLIN, trips=(), policy=POLICY) == (
        "a 45-minute lunch from 13:00 ends at 13:45, after lunch ends at 13:30"
    )
    assert (
        too_long_for_window(at.replace(hour=15), WINDOWS, zone=BERLIN, trips=(), policy=POLICY)
        == ""
    )


def test_times_around_an_event_come_from_a_piece_that_holds_a_time() -> None:
    """Busy until 12:25 leaves 12:35-13:20 before a 13:30 event: 45 minutes, but no quarter
    hour starts a 45-minute lunch there. The offer is made from a piece that holds one (here:
    none before, so none at lunch), never an offer with no times."""
    ana = Contact("Ana Lima", ("ana@example.com",), id=1)
    day = date(2026, 12, 10)
    conf = AttendedEvent(
        "TechConf",
        datetime.combine(day, time(13, 30), BERLIN),
        datetime.combine(day, time(17), BERLIN),
        "",
        "",
        ("ana@example.com",),
    )
    busy = Interval(
        datetime.combine(day, time(11), BERLIN), datetime.combine(day, time(12, 25), BERLIN)
    )
    now = datetime(2026, 12, 1, 9, tzinfo=BERLIN)
    found = event_suggestions(
        [conf], [ana], WINDOWS, now=now, owner_zone=BERLIN, policy=POLICY, busy=[busy]
    )
    for s in found:
        for slot in s.slots:
            assert candidate_times([slot], POLICY.duration, per_window=POLICY), slot
    [s] = found
    assert [sl.window for sl in s.slots] == ["breakfast"]
