"""Where and how to meet: mode choice, waking hours across zones and DST, places, time labels."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.model import Contact, SchedulingPolicy, Slot
from scheduler.pairing import pair
from scheduler.places import (
    City,
    Mode,
    Place,
    Trip,
    awake,
    choose_mode,
    choose_place,
    city_key,
    time_label,
)
from scheduler.rules import DueContact

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOME = City("Berlin", "DE", "Europe/Berlin")
POLICY = SchedulingPolicy(max_per_day=1, max_per_week=3, times_per_invite=3)


def due(name: str, cid: int, **kw: object) -> DueContact:
    contact = Contact(name=name, emails=(f"{name.lower()}@example.com",), id=cid, **kw)  # type: ignore[arg-type]
    return DueContact(contact, 1.0, (f"{name} is due",), "cadence")


def test_contact_in_the_owners_city_meets_in_person_and_elsewhere_by_video() -> None:
    assert choose_mode(city_key("berlin ", "de"), HOME.key, "Europe/Berlin") is Mode.IN_PERSON
    assert choose_mode(city_key("Berlin"), HOME.key, None) is Mode.IN_PERSON
    assert choose_mode(city_key("New York", "US"), HOME.key, "America/New_York") is Mode.VIDEO


def test_unknown_city_is_in_person_only_without_a_foreign_zone() -> None:
    assert choose_mode("", HOME.key, None, "Europe/Berlin") is Mode.IN_PERSON
    assert choose_mode("", HOME.key, "Europe/Berlin", "Europe/Berlin") is Mode.IN_PERSON
    assert choose_mode("", HOME.key, "America/New_York", "Europe/Berlin") is Mode.VIDEO


@pytest.mark.parametrize(
    ("zone", "day", "wall", "expected"),
    [
        # Europe/Berlin springs forward on 29 Mar 2026 and falls back on 25 Oct 2026.
        ("Europe/Berlin", date(2026, 3, 29), time(7, 0), True),
        ("Europe/Berlin", date(2026, 3, 29), time(6, 45), False),
        ("Europe/Berlin", date(2026, 10, 25), time(20, 15), True),
        ("Europe/Berlin", date(2026, 10, 25), time(20, 30), False),
        # New York changes on 8 Mar and 1 Nov 2026.
        ("America/New_York", date(2026, 3, 8), time(7, 0), True),
        ("America/New_York", date(2026, 11, 1), time(6, 59), False),
        ("America/Los_Angeles", date(2026, 3, 8), time(20, 15), True),
        ("America/Santiago", date(2026, 4, 5), time(7, 0), True),
        ("Pacific/Apia", date(2026, 1, 1), time(23, 0), False),
        ("America/Bogota", date(2026, 6, 1), time(6, 30), False),
    ],
)
def test_waking_hours_are_wall_clock_in_the_invitees_zone(
    zone: str, day: date, wall: time, expected: bool
) -> None:
    tz = ZoneInfo(zone)
    start = datetime.combine(day, wall, tzinfo=tz)
    assert awake(start, start + timedelta(minutes=45), tz) is expected


@pytest.mark.parametrize(
    "day",
    [
        # The weeks when only the US has changed its clocks (5 h apart, not 6) and after both.
        date(2026, 3, 9),
        date(2026, 3, 30),
        date(2026, 10, 26),
        date(2026, 11, 2),
    ],
)
def test_a_new_york_invitee_is_never_offered_a_berlin_breakfast_at_night(day: date) -> None:
    slots = [
        Slot(
            datetime.combine(day + timedelta(days=d), time(7, 30), tzinfo=BERLIN),
            datetime.combine(day + timedelta(days=d), time(9), tzinfo=BERLIN),
            "breakfast",
        )
        for d in range(5)
    ] + [
        Slot(
            datetime.combine(day + timedelta(days=d), time(12), tzinfo=BERLIN),
            datetime.combine(day + timedelta(days=d), time(14), tzinfo=BERLIN),
            "lunch",
        )
        for d in range(5)
    ]
    ana = due("Ana", 1, city="New York", timezone="America/New_York")
    [proposal] = pair([ana], slots, policy=POLICY, zone=BERLIN, home=HOME)
    assert proposal.times
    for t in proposal.times:
        assert t.mode == "video" and t.place == "Video call"
        theirs = t.start.astimezone(NEW_YORK)
        assert time(7) <= theirs.time() and t.end.astimezone(NEW_YORK).time() <= time(21)
        assert t.window == "lunch"


def test_in_person_times_carry_the_default_place_for_the_meal() -> None:
    cafe = Place("Café Einstein", "Unter den Linden 42", "https://maps.example/1", "Berlin", id=1)
    canteen = Place("Kantine", "", "", "Berlin", frozenset({"lunch"}), id=2)
    boston = Place("Tatte", "", "", "Boston", id=3)
    places = [boston, canteen, cafe]
    day = date(2026, 12, 7)
    slots = [
        Slot(
            datetime.combine(day, time(7, 30), tzinfo=BERLIN),
            datetime.combine(day, time(9), tzinfo=BERLIN),
            "breakfast",
        ),
        Slot(
            datetime.combine(day + timedelta(days=1), time(12), tzinfo=BERLIN),
            datetime.combine(day + timedelta(days=1), time(13, 30), tzinfo=BERLIN),
            "lunch",
        ),
    ]
    ben = due("Ben", 2, city="Berlin")
    [p] = pair(
        [ben],
        slots,
        policy=POLICY,
        zone=BERLIN,
        home=HOME,
        places=places,
        default_places={"lunch": 2},
        video_link="https://meet.example/x",
    )
    assert [(t.mode, t.place, t.place_url, t.city) for t in p.times] == [
        ("in_person", "Café Einstein, Unter den Linden 42", "https://maps.example/1", "Berlin"),
        ("in_person", "Kantine", "", "Berlin"),
    ]
    assert p.city == "Berlin" and p.trip == ""


def test_home_places_do_not_apply_on_a_trip() -> None:
    cafe = Place("Café Einstein", city="Berlin", id=1)
    assert choose_place([cafe], "breakfast", city_key("Boston", "US")) is None
    assert choose_place([cafe], "breakfast", HOME.key) == cafe


def test_a_place_kept_without_a_city_is_where_the_owner_lives() -> None:
    """No home city set (or a place saved without one): it is a home place, used at home and
    never on a trip."""
    corner = Place("Corner Café", id=2)
    assert choose_place([corner], "lunch", "", at_home=True) == corner
    assert choose_place([corner], "lunch", HOME.key, at_home=True) == corner
    assert choose_place([corner], "lunch", city_key("Boston", "US"), at_home=False) is None
    assert choose_place([corner], "lunch", "") is None  # not said to be at home


def test_time_label_names_the_owners_meal_and_the_invitees_time_for_video_only() -> None:
    start = datetime(2026, 12, 10, 13, 0, tzinfo=BERLIN)
    assert (
        time_label(start, "lunch", "Berlin", Mode.VIDEO, NEW_YORK)
        == "lunch in Berlin, 13:00 — 07:00 your time"
    )
    assert (
        time_label(start, "lunch", "Berlin", Mode.IN_PERSON, NEW_YORK) == "lunch in Berlin, 13:00"
    )
    # No home city set: the clock is named, or 13:00 would read as the reader's own.
    assert time_label(start, "lunch", "", Mode.IN_PERSON, None) == "lunch, 13:00 (Berlin time)"
    kathmandu = start.astimezone(ZoneInfo("Asia/Kathmandu"))
    assert time_label(kathmandu, "lunch", "", Mode.IN_PERSON, None) == (
        "lunch, 17:45 (Kathmandu time)"
    )


def test_trip_label_reads_like_a_person_wrote_it() -> None:
    assert Trip("Boston", "America/New_York", date(2026, 12, 10), date(2026, 12, 12)).label == (
        "Boston 10–12 Dec"
    )
    assert Trip("Oslo", "Europe/Oslo", date(2026, 12, 30), date(2027, 1, 2)).label == (
        "Oslo 30 Dec – 2 Jan"
    )
    with pytest.raises(ValueError, match="ends on"):
        Trip("Oslo", "Europe/Oslo", date(2026, 12, 30), date(2026, 12, 1))
