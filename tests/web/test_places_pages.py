"""The places page: home city and video room, places, trips, and the cities type-ahead."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from html import unescape
from zoneinfo import ZoneInfo

from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.model import Contact
from tests.web.support import Web, text, trip_ics
from web.composition import Runtime
from web.services.accounts import get_user, save_owner_place, user_config


def test_the_owner_sets_a_home_city_and_a_video_room(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    page = text(site.get("/places"))
    assert "Home city and video room" in page and 'data-cities="/places/cities.json"' in page
    resp = site.post("/places/home", {"city": "Boston", "video_room_url": "https://meet.example/o"})
    assert resp.status_code == 303
    config = user_config(sqlite_runtime, get_user(sqlite_runtime, owner))
    assert (config.owner.city, config.owner.video_room_url) == ("Boston", "https://meet.example/o")
    assert "Boston, US (America/New_York)" in text(site.get("/places"))
    site.post("/places/home", {"city": "Cambridge", "video_room_url": ""})
    said = 'names several cities: write which, like "Cambridge, GB" or "Cambridge, CA" or'
    assert said in unescape(text(site.get("/places")))
    bad = site.post("/places/home", {"city": "Berlin", "video_room_url": "ftp://x"})
    assert bad.status_code == 400 and "is not an http(s) URL" in text(bad)


def test_places_and_trips_are_added_listed_and_removed(site: Web, owner: int) -> None:
    resp = site.post(
        "/places/add",
        {
            "name": "Café Einstein",
            "address": "Unter den Linden 42",
            "map_link": "https://maps.example/einstein",
            "city": "Berlin",
            "meals": ["breakfast"],
            "default_for": ["breakfast"],
        },
    )
    assert resp.status_code == 303
    page = text(site.get("/places"))
    assert "<strong>Café Einstein</strong>, Unter den Linden 42" in page
    assert "default for breakfast" in page
    bad = site.post(
        "/places/add",
        {"name": "X", "map_link": "javascript:alert(1)", "default_for": ["breakfast", "lunch"]},
    )
    assert bad.status_code == 400 and "is not an http(s) link" in text(bad)
    # What was ticked stays ticked, as what was typed stays typed.
    for meal in ("breakfast", "lunch"):
        assert f'name="default_for" value="{meal}" checked' in text(bad)
    assert 'name="meals" value="breakfast" checked' not in text(bad)
    bad = site.post("/places/add", {"name": "X", "meals": ["supper"]})
    assert bad.status_code == 400
    assert "is not one of your meal windows (breakfast, lunch)" in unescape(text(bad))
    assert "<strong>X</strong>" not in text(site.get("/places"))

    assert (
        site.post(
            "/places/trips", {"trip_city": "Boston", "start": "2026-12-10", "end": "2026-12-12"}
        ).status_code
        == 303
    )
    page = text(site.get("/places"))
    assert "Boston <span" in page and "2026-12-10 – 2026-12-12" in page
    wrong = site.post(
        "/places/trips", {"trip_city": "Cambridge", "start": "2026-12-10", "end": "2026-12-12"}
    )
    assert wrong.status_code == 400 and "names several cities" in text(wrong)
    # What it suggests resolves.
    assert (
        site.post(
            "/places/trips",
            {"trip_city": "Cambridge, GB", "start": "2027-02-10", "end": "2027-02-12"},
        ).status_code
        == 303
    )
    for start, end, said in (
        ("0001-01-01", "0001-01-02", "The trip starts on 0001-01-01, outside the years"),
        ("9999-12-30", "9999-12-31", "The trip starts on 9999-12-30, outside the years"),
    ):  # the same years as everywhere else (the CLI's trips add says so too)
        wrong = site.post("/places/trips", {"trip_city": "Boston", "start": start, "end": end})
        assert wrong.status_code == 400 and said in text(wrong)
    wrong = site.post(
        "/places/trips", {"trip_city": "Boston", "start": "tomorrow", "end": "2026-12-12"}
    )
    assert wrong.status_code == 400
    assert "&#39;tomorrow&#39; is not a date like 2026-03-18." in text(wrong)
    for empty, message in (
        (
            {"trip_city": "", "start": "2027-01-10", "end": "2027-01-12"},
            "Enter the city of the trip.",
        ),
        (
            {"trip_city": "Boston", "start": "", "end": "2027-01-12"},
            "Enter the day the trip starts.",
        ),
    ):
        wrong = site.post("/places/trips", empty)
        assert wrong.status_code == 400 and message in text(wrong)
    # Nobody is in two cities at once: a trip overlapping another is refused, naming it.
    wrong = site.post(
        "/places/trips", {"trip_city": "London", "start": "2026-12-12", "end": "2026-12-14"}
    )
    assert wrong.status_code == 400
    said = "You are already in Boston from 2026-12-10 to 2026-12-12: remove that trip"
    assert said in text(wrong)
    assert "London" not in text(site.get("/places")).split("Trips", 1)[-1]
    assert (
        site.post(
            "/places/trips", {"trip_city": "London", "start": "2026-12-13", "end": "2026-12-14"}
        ).status_code
        == 303
    )


def test_the_cities_endpoint_suggests_the_biggest_first(site: Web, owner: int) -> None:
    data = site.get("/places/cities.json?q=bost").get_json()
    assert [c["label"] for c in data["cities"]][:2] == ["Boston, US", "Boston, GB"]
    assert data["cities"][0]["timezone"] == "America/New_York"
    assert site.get("/places/cities.json?q=b").get_json() == {"cities": []}


def test_the_cities_endpoint_needs_a_signed_in_owner(site: Web) -> None:
    assert site.get("/places/cities.json?q=bost").status_code in (302, 303, 401)


def test_a_contact_page_says_how_their_city_resolved(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    with transaction(sqlite_runtime.sessions) as session:
        repo = ContactRepository(session, owner)
        ana = repo.add(Contact("Ana", ("ana@example.org",), city="Boston")).id
        cam = repo.add(Contact("Cam", ("cam@example.org",), city="Cambridge")).id
    assert "Boston, US · America/New_York" in text(site.get(f"/contacts/{ana}"))
    assert 'names several cities: write which, like "Cambridge, GB"' in unescape(
        text(site.get(f"/contacts/{cam}"))
    )


def test_a_trip_read_from_an_uploaded_calendar_is_listed_with_the_trips(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """The plan puts Boston people first on a "Trip to Boston" event's days: the places page,
    where the owner looks for their trips, lists it too (and says where to change it)."""
    save_owner_place(sqlite_runtime, owner, "Berlin", "")
    first = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=9)
    last = first + timedelta(days=2)
    assert "From your calendars" not in text(site.get("/places"))
    site.get("/calendars")
    uploaded = site.post(
        "/calendars/ics",
        {"name": "Travel", "file": (io.BytesIO(trip_ics(first, last)), "trip.ics")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 303
    page = text(site.get("/places"))
    listed = page.split("From your calendars", 1)[1].split("</ul>", 1)[0]
    assert f'Boston <span class="muted small">(Boston, US)</span> {first} – {last}' in listed
    assert "To change one, change the event." in page


def test_a_trip_found_in_a_calendar_takes_home_times_off_open_invites(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """An all-day "Trip to Boston" says where the owner is, not that they are busy, so the
    accept's calendar check lets it through: an invite sent before the event appeared must
    lose its Berlin lunch on those days once the calendar is read, as when the trip is
    entered by hand."""
    from scheduler.invites import utc_iso
    from tests.helpers.invite_fixtures import make_contact, times_at
    from web.services import invites as svc

    now, day, lunch = _home_in_berlin(sqlite_runtime, owner)
    ana = make_contact(sqlite_runtime, owner, "Ana Souza", "ana@example.org")
    later = lunch(day + timedelta(days=5))
    offered = svc.create_invite(
        sqlite_runtime, owner, ana, times_at(lunch(day), later), now=now, send_email=False
    )
    token = offered.url.rsplit("/", 1)[1]
    _upload_travel(site, trip_ics(day, day + timedelta(days=2)))
    view = svc.load_invite(sqlite_runtime, token, now=now)
    assert [utc_iso(t.start) for t in view.remaining] == [utc_iso(later)]
    refused = site.client.post(
        f"/i/{token}", data={"action": "accept", "start": utc_iso(lunch(day))}
    )
    assert refused.status_code == 409
    assert (
        site.client.post(
            f"/i/{token}", data={"action": "accept", "start": utc_iso(later)}
        ).status_code
        == 303
    )


def test_home_times_a_calendar_trip_took_off_come_back_when_its_event_goes(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """The "Trip to Boston" event is cut short, then deleted, then its calendar removed: each
    time the Berlin lunches on the days the owner is home again are offered again, as when a
    trip entered by hand is removed (and those still on the trip stay off)."""
    from integrations.storage import calendars as calendar_rows
    from scheduler.invites import utc_iso
    from tests.helpers.invite_fixtures import make_contact, times_at
    from tests.web.support import instance_uploads
    from web.services import invites as svc
    from web.services.calendar_sync import sync_calendar

    now, day, lunch = _home_in_berlin(sqlite_runtime, owner)
    ana = make_contact(sqlite_runtime, owner, "Ana Souza", "ana@example.org")
    first, second, later = lunch(day), lunch(day + timedelta(days=1)), lunch(day + timedelta(5))
    offered = svc.create_invite(
        sqlite_runtime, owner, ana, times_at(first, second, later), now=now, send_email=False
    )
    token = offered.url.rsplit("/", 1)[1]

    def remaining() -> list[str]:
        return [utc_iso(t.start) for t in svc.load_invite(sqlite_runtime, token, now=now).remaining]

    _upload_travel(site, trip_ics(day, day + timedelta(days=2)))
    assert remaining() == [utc_iso(later)]
    with transaction(sqlite_runtime.sessions) as session:
        [calendar] = [c for c in calendar_rows.of_user(session, owner) if c.name == "Travel"]
    [stored] = instance_uploads(sqlite_runtime)

    stored.write_bytes(trip_ics(day, day))  # the trip now ends on its first day
    assert sync_calendar(sqlite_runtime, calendar.id) == ""
    assert remaining() == [utc_iso(second), utc_iso(later)]

    stored.write_bytes(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n")
    assert sync_calendar(sqlite_runtime, calendar.id) == ""
    assert remaining() == [utc_iso(first), utc_iso(second), utc_iso(later)]

    stored.write_bytes(trip_ics(day, day + timedelta(days=2)))  # the trip is back on
    assert sync_calendar(sqlite_runtime, calendar.id) == ""
    assert remaining() == [utc_iso(later)]
    removed = site.post(f"/calendars/{calendar.id}/delete", {})
    assert removed.status_code == 303
    assert remaining() == [utc_iso(first), utc_iso(second), utc_iso(later)]


def test_a_trip_takes_home_times_off_open_invites_and_names_coffees_booked_on_its_days(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """An invite sent last week offers a Berlin lunch in person on a day the owner now will
    be in Boston: adding the trip takes that time off (nobody books a Berlin coffee while the
    owner is away) and names the coffee already booked on those days."""
    from scheduler.invites import utc_iso
    from tests.helpers.invite_fixtures import make_contact, times_at
    from web.services import invites as svc

    berlin = ZoneInfo("Europe/Berlin")
    now = datetime.now(berlin)
    day = now.date() + timedelta(days=10)
    lunch = lambda d: datetime.combine(d, datetime.min.time(), berlin).replace(hour=12)  # noqa: E731
    ana = make_contact(sqlite_runtime, owner, "Ana Souza", "ana@example.org")
    ben = make_contact(sqlite_runtime, owner, "Ben Okafor", "ben@example.org")
    later = lunch(day + timedelta(days=5))
    offered = svc.create_invite(
        sqlite_runtime, owner, ana, times_at(lunch(day), later), now=now, send_email=False
    )
    booked = svc.create_invite(
        sqlite_runtime,
        owner,
        ben,
        times_at(lunch(day + timedelta(days=1))),
        now=now,
        send_email=False,
    )
    token = booked.url.rsplit("/", 1)[1]
    svc.accept_invite(sqlite_runtime, token, lunch(day + timedelta(days=1)), now=now)

    site.get("/places")
    added = site.post(
        "/places/trips",
        {
            "trip_city": "Boston",
            "start": day.isoformat(),
            "end": (day + timedelta(days=2)).isoformat(),
        },
    )
    assert added.status_code == 303
    page = unescape(text(site.get("/places")))
    assert "1 time your open invites offered on those days" in page
    second = lunch(day + timedelta(days=1))
    assert f"A coffee in person is booked on {second:%a} {second.day} {second:%b} at 12:00" in page
    view = svc.load_invite(sqlite_runtime, offered.url.rsplit("/", 1)[1], now=now)
    assert [utc_iso(t.start) for t in view.remaining] == [utc_iso(later)]
    refused = site.client.post(
        f"/i/{offered.url.rsplit('/', 1)[1]}",
        data={"action": "accept", "start": utc_iso(lunch(day))},
    )
    assert refused.status_code == 409
    # Cancelling Ben's coffee offers freed times again, but never the Berlin lunch in Boston.
    svc.cancel_booking_by_token(sqlite_runtime, token, now=now)
    view = svc.load_invite(sqlite_runtime, offered.url.rsplit("/", 1)[1], now=now)
    assert [utc_iso(t.start) for t in view.remaining] == [utc_iso(later)]
    # A Boston coffee booked for the trip's second day is the trip's own: calling the trip
    # off names it (nothing moves it), and says the trip is gone.
    from dataclasses import replace

    boston = ZoneInfo("America/New_York")
    there = datetime.combine(day + timedelta(days=1), datetime.min.time(), boston)
    [in_boston] = times_at(there.replace(hour=12))
    cam = make_contact(sqlite_runtime, owner, "Cam Boston", "cam@example.org")
    trip_coffee = svc.create_invite(
        sqlite_runtime,
        owner,
        cam,
        [replace(in_boston, mode="in_person", city="Boston")],
        now=now,
        send_email=False,
    )
    svc.accept_invite(sqlite_runtime, trip_coffee.url.rsplit("/", 1)[1], in_boston.start, now=now)
    # The trip called off: the Berlin lunch is offered again.
    [trip_id] = re.findall(r'action="/places/trips/(\d+)/delete"', text(site.get("/places")))
    assert site.post(f"/places/trips/{trip_id}/delete", {}).status_code == 303
    page = unescape(text(site.get("/places")))
    assert "Trip to Boston removed." in page
    local = in_boston.start.astimezone(berlin)
    assert (
        f"A coffee in person in Boston is still booked on {local:%a} {local.day} {local:%b} "
        f"at {local:%H:%M} (your time)" in page
    )
    view = svc.load_invite(sqlite_runtime, offered.url.rsplit("/", 1)[1], now=now)
    assert [utc_iso(t.start) for t in view.remaining] == [utc_iso(lunch(day)), utc_iso(later)]


def test_setup_asks_for_the_home_city_beside_the_time_zone_and_keeps_the_video_room(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """Whether a contact is met in person or by video hangs on the home city: the first setup
    step asks for it (with the places page's type-ahead), and what the places page keeps
    beside it stays."""
    save_owner_place(sqlite_runtime, owner, "", "https://meet.example/o")
    page = text(site.get("/setup/time"))
    assert 'name="city"' in page and 'data-cities="/places/cities.json"' in page
    assert '<datalist id="city-options">' in page
    form = {
        "timezone": "America/New_York",
        "w_lunch_on": "1",
        "w_lunch_start": "12:00",
        "w_lunch_end": "13:00",
        "w_lunch_days": ["0", "2"],
        "city": "  Boston ",
    }
    assert site.post("/setup/time", form).status_code == 303
    config = user_config(sqlite_runtime, get_user(sqlite_runtime, owner))
    assert (config.owner.city, config.owner.video_room_url) == ("Boston", "https://meet.example/o")
    assert "Time zone, home city and meal times saved." in text(site.get("/setup/calendars"))
    assert 'value="Boston"' in text(site.get("/setup/time"))
    # A name that could be several cities is kept, and the next page says how to write it.
    assert site.post("/setup/time", {**form, "city": "Cambridge"}).status_code == 303
    said = unescape(text(site.get("/setup/calendars")))
    assert 'Saved, but "Cambridge" names several cities: write which, like "Cambridge, GB"' in said
    # A form without the field leaves the city alone.
    without = {k: v for k, v in form.items() if k != "city"}
    assert site.post("/setup/time", without).status_code == 303
    assert user_config(sqlite_runtime, get_user(sqlite_runtime, owner)).owner.city == "Cambridge"
    # A city with a control character is refused on its field, and nothing is stored.
    refused = site.post("/setup/time", {**form, "timezone": "Europe/Berlin", "city": "Bos\x07ton"})
    assert refused.status_code == 400 and 'aria-invalid="true" aria-describedby="e-city"' in text(
        refused
    )
    kept = get_user(sqlite_runtime, owner)
    assert kept.timezone == "America/New_York"
    assert user_config(sqlite_runtime, kept).owner.city == "Cambridge"


def _upload_travel(site: Web, ics: bytes) -> None:
    """Upload `ics` as the calendar "Travel", as the calendars page does."""
    site.get("/calendars")
    uploaded = site.post(
        "/calendars/ics",
        {"name": "Travel", "file": (io.BytesIO(ics), "t.ics")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 303


def _home_in_berlin(
    runtime: Runtime, owner: int
) -> tuple[datetime, date, Callable[[date], datetime]]:
    """The owner lives in Berlin: now there, a day ten days ahead, and a day's 12:00 lunch."""
    save_owner_place(runtime, owner, "Berlin", "")
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime.now(berlin)
    return now, now.date() + timedelta(days=10), lambda d: datetime.combine(d, time(12), berlin)


def test_a_trip_called_off_takes_off_the_times_offered_for_its_city(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """A lunch offered in Boston for the trip is no good once the trip is off (the owner is
    home in Berlin): deleting the event takes it off, and gives the Berlin lunch back."""
    from dataclasses import replace

    from integrations.storage import calendars as calendar_rows
    from scheduler.invites import utc_iso
    from tests.helpers.invite_fixtures import make_contact, times_at
    from tests.web.support import instance_uploads
    from web.services import invites as svc
    from web.services.calendar_sync import sync_calendar

    now, day, lunch = _home_in_berlin(sqlite_runtime, owner)
    boston = ZoneInfo("America/New_York")
    in_boston = datetime.combine(day + timedelta(days=1), time(12), boston)
    ana = make_contact(sqlite_runtime, owner, "Ana Souza", "ana@example.org")
    # Offered before the trip was known: a Berlin lunch; and, for the trip, a Boston one.
    [there] = [replace(t, city="Boston") for t in times_at(in_boston)]
    [home] = [replace(t, city="Berlin") for t in times_at(lunch(day + timedelta(days=2)))]
    offered = svc.create_invite(
        sqlite_runtime, owner, ana, [there, home], now=now, send_email=False
    )
    token = offered.url.rsplit("/", 1)[1]

    def remaining() -> list[str]:
        return [utc_iso(t.start) for t in svc.load_invite(sqlite_runtime, token, now=now).remaining]

    _upload_travel(site, trip_ics(day, day + timedelta(days=2)))
    assert remaining() == [utc_iso(in_boston)]  # the Berlin lunch is on the trip's days
    with transaction(sqlite_runtime.sessions) as session:
        [calendar] = [c for c in calendar_rows.of_user(session, owner) if c.name == "Travel"]
    [stored] = instance_uploads(sqlite_runtime)
    stored.write_bytes(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n")
    assert sync_calendar(sqlite_runtime, calendar.id) == ""
    assert remaining() == [utc_iso(lunch(day + timedelta(days=2)))]


def test_a_trip_far_ahead_takes_its_home_times_off_as_soon_as_its_event_is_read(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """An invite picked by hand for a lunch a month ahead, beyond the two weeks the plan
    looks at: a trip event on that day, read now, takes the lunch off at once (the calendar
    store reads that far), not only once the day comes within the plan's two weeks."""
    from scheduler.invites import utc_iso
    from tests.helpers.invite_fixtures import make_contact, times_at
    from web.services import invites as svc

    now, day, lunch = _home_in_berlin(sqlite_runtime, owner)
    far = day + timedelta(days=21)
    ana = make_contact(sqlite_runtime, owner, "Ana Souza", "ana@example.org")
    offered = svc.create_invite(
        sqlite_runtime, owner, ana, times_at(lunch(day), lunch(far)), now=now, send_email=False
    )
    _upload_travel(site, trip_ics(far, far))
    remaining = svc.load_invite(sqlite_runtime, offered.url.rsplit("/", 1)[1], now=now).remaining
    assert [utc_iso(t.start) for t in remaining] == [utc_iso(lunch(day))]


def test_removing_a_trip_west_of_home_gives_back_the_home_morning_after_its_last_day(
    owner: int, sqlite_runtime: Runtime
) -> None:
    """A Los Angeles trip from Thursday to Sunday still holds Monday 07:30 in Berlin (it is
    22:30 on Sunday there): entering it takes that breakfast off, and removing it gives it
    back, though it is in the owner's next week; a lunch in Los Angeles offered for the trip
    goes with it."""
    from dataclasses import replace

    from scheduler.invites import utc_iso
    from tests.helpers.invite_fixtures import make_contact, times_at
    from web.services import invites as svc
    from web.services.places import add_trip, remove_trip

    now, day, _ = _home_in_berlin(sqlite_runtime, owner)
    thursday = day + timedelta(days=(3 - day.weekday()) % 7)
    sunday, monday = thursday + timedelta(days=3), thursday + timedelta(days=4)
    breakfast = datetime.combine(monday, time(7, 30), ZoneInfo("Europe/Berlin"))
    ana = make_contact(sqlite_runtime, owner, "Ana Souza", "ana@example.org")
    [early] = times_at(breakfast, window="breakfast")
    in_la = datetime.combine(
        thursday + timedelta(days=1), time(12), ZoneInfo("America/Los_Angeles")
    )
    [there] = [replace(t, city="Los Angeles") for t in times_at(in_la)]
    offered = svc.create_invite(
        sqlite_runtime, owner, ana, [early, there], now=now, send_email=False
    )
    token = offered.url.rsplit("/", 1)[1]

    def remaining() -> list[str]:
        return [utc_iso(t.start) for t in svc.load_invite(sqlite_runtime, token, now=now).remaining]

    assert remaining() == [utc_iso(in_la), utc_iso(breakfast)]
    added = add_trip(sqlite_runtime, owner, city="Los Angeles", start=thursday, end=sunday)
    assert remaining() == [utc_iso(in_la)]
    remove_trip(sqlite_runtime, owner, added.id)
    assert remaining() == [utc_iso(breakfast)]
