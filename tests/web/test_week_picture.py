"""The dashboard's week picture: every week of the plan, times offered and coffees booked named,
and meal windows within the notice explained."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.model import Interval, Window
from tests.helpers.invite_fixtures import make_contact, next_weekday_at, times_at
from tests.web.support import Web, text
from web.composition import Runtime
from web.http.blueprints.dashboard import week_view
from web.services import invites as svc
from web.services.accounts import get_user, save_rules, user_config

BERLIN = ZoneInfo("Europe/Berlin")
WINDOWS = (
    Window("breakfast", time(7, 30), time(9, 0)),
    Window("lunch", time(12, 0), time(13, 30)),
)


def _weeks(page: str) -> list[str]:
    return page.split('<figure class="week"')[1:]


def _zone(runtime: Runtime, owner: int) -> ZoneInfo:
    user = get_user(runtime, owner)
    assert user is not None
    return user_config(runtime, user).zone


def test_every_week_of_the_plan_is_drawn(site: Web, owner: int, sqlite_runtime: Runtime) -> None:
    zone = _zone(sqlite_runtime, owner)
    today = datetime.now(zone).date()
    page = text(site.get("/"))
    weeks = _weeks(page)
    assert len(weeks) == 2  # the default horizon is 14 days
    titles = re.findall(r'<h3 class="week-title">([^<]+)</h3>', page)
    second = today + timedelta(days=7)
    last = today + timedelta(days=13)
    assert titles[1] == f"{second:%a} {second.day} {second:%b} – {last:%a} {last.day} {last:%b}"
    assert weeks[1].count('class="week-day"') == 7
    assert f"{last:%a} {last.day}" in weeks[1]
    # A three-week horizon draws three, the last one as long as the days left.
    save_rules(sqlite_runtime, owner, {}, {"horizon_days": 17})
    weeks = _weeks(text(site.get("/")))
    assert len(weeks) == 3 and weeks[2].count('class="week-day"') == 3


def test_times_offered_and_coffees_booked_are_named_in_the_picture(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    ana = make_contact(sqlite_runtime, owner)
    ben = make_contact(sqlite_runtime, owner, "Ben Ito", "ben@example.org")
    now = datetime.now(UTC)
    offered = next_weekday_at(now, 3, 12, 0, BERLIN)
    booked = next_weekday_at(now, 9, 8, 0, BERLIN)
    svc.create_invite(sqlite_runtime, owner, ana, times_at(offered), send_email=False, now=now)
    made = svc.create_invite(
        sqlite_runtime, owner, ben, times_at(booked), send_email=False, now=now
    )
    svc.accept_invite(sqlite_runtime, made.url.rsplit("/", 1)[1], booked, now=now)
    zone = _zone(sqlite_runtime, owner)
    page = text(site.get("/"))
    weeks = _weeks(page)
    o = offered.astimezone(zone)
    b = booked.astimezone(zone)
    offered_label = f"{o:%H:%M}–{(o + timedelta(minutes=45)):%H:%M} offered to Ana Souza"
    booked_label = f"{b:%H:%M}–{(b + timedelta(minutes=45)):%H:%M} coffee with Ben Ito"
    assert offered_label in weeks[0]
    assert booked_label in weeks[1]  # nine days on: the second week
    assert 'class="block offered' in weeks[0] and 'class="block booked' in weeks[1]
    assert '<span class="block-text" aria-hidden="true">Ana</span>' in weeks[0]
    assert "offered in an open invite" in page and "coffee booked" in page
    # The coffee is drawn once, as the coffee, not also as busy time at the same place.
    busy_at_coffee = f"{b:%H:%M}–{(b + timedelta(minutes=45)):%H:%M} busy"
    assert busy_at_coffee not in weeks[1]


def test_meal_windows_within_the_notice_say_why_they_are_empty() -> None:
    # Monday 10:00 in Berlin with 24 hours' notice: Monday breakfast is past, Monday lunch and
    # Tuesday breakfast are too soon, Tuesday lunch is open.
    now = datetime(2026, 12, 7, 10, 0, tzinfo=BERLIN)
    picture = week_view(WINDOWS, [], BERLIN, now.date(), now=now, notice=timedelta(hours=24))
    monday, tuesday = picture["days"][0], picture["days"][1]
    mon = {b["name"]: b for b in monday}
    tue = {b["name"]: b for b in tuesday}
    assert mon["breakfast"]["kind"] == "meal past"
    assert mon["lunch"]["kind"] == "meal soon"
    assert mon["lunch"]["label"] == "12:00–13:30 meal window, within your 24-hour notice"
    assert tue["breakfast"]["kind"] == "meal soon" and tue["lunch"]["kind"] == "meal"
    assert picture["notes"] == [
        "Meal windows before Tue 8 Dec 10:00 are within your 24-hour notice, so no times are "
        "offered there (change the notice in the rules)."
    ]
    assert ("soon", "too soon (notice)") in picture["legend"]


def test_the_notice_note_is_shown_on_the_dashboard(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    # A week's notice always covers some weekday meal window.
    save_rules(sqlite_runtime, owner, {}, {"min_notice_hours": 24 * 7})
    page = text(site.get("/"))
    assert "are within your 168-hour notice, so no times are offered there" in page
    assert 'class="block meal soon' in page


def test_offered_and_booked_spans_on_other_days_are_not_drawn() -> None:
    now = datetime(2026, 12, 7, 6, 0, tzinfo=BERLIN)
    elsewhere = Interval(
        datetime(2026, 12, 20, 12, 0, tzinfo=BERLIN), datetime(2026, 12, 20, 13, 0, tzinfo=BERLIN)
    )
    picture = week_view(
        WINDOWS, [], BERLIN, now.date(), now=now, offered=[(elsewhere, "Ana Souza")]
    )
    assert not any(b["kind"] == "offered" for day in picture["days"] for b in day)
    assert ("offered", "offered in an open invite") in picture["legend"]


def test_a_trip_week_shows_every_block_and_the_trip_citys_meal_windows_at_your_times() -> None:
    from scheduler.model import Slot
    from scheduler.places import Trip

    boston = ZoneInfo("America/New_York")
    trip = Trip("Boston", "America/New_York", date(2026, 12, 14), date(2026, 12, 16), "US")
    slots = [
        Slot(
            datetime(2026, 12, 15, 7, 30, tzinfo=boston),
            datetime(2026, 12, 15, 9, 0, tzinfo=boston),
            "breakfast",
        ),
        Slot(
            datetime(2026, 12, 15, 12, 0, tzinfo=boston),
            datetime(2026, 12, 15, 13, 30, tzinfo=boston),
            "lunch",
        ),
    ]
    now = datetime(2026, 12, 5, 20, 0, tzinfo=BERLIN)
    picture = week_view(WINDOWS, slots, BERLIN, date(2026, 12, 12), trips=[trip], now=now)
    labels = picture["labels"]
    tuesday = picture["days"][labels.index("Tue 15 Boston")]
    meals = sorted(b["label"] for b in tuesday if b["kind"] == "meal")
    assert meals == [
        "13:30–15:00 meal window (07:30–09:00 in Boston)",
        "18:00–19:30 meal window (12:00–13:30 in Boston)",
    ]
    free = sorted(b["label"] for b in tuesday if b["kind"] == "free")
    assert free == ["13:30–15:00 free", "18:00–19:30 free"]
    # At home again on Thursday: Berlin's windows.
    thursday = picture["days"][labels.index("Thu 17")]
    assert sorted(b["label"] for b in thursday if b["kind"] == "meal") == [
        "07:30–09:00 meal window",
        "12:00–13:30 meal window",
    ]
    # The hours run from before Berlin's breakfast to after Boston's lunch, and every block
    # lies inside them.
    hours = [h["label"] for h in picture["hours"]]
    assert hours[0] == "06:00" and hours[-1] == "21:00"
    for day in picture["days"]:
        for block in day:
            assert 0 <= block["top"] < 100 and block["top"] + block["height"] <= 100.01, block
            assert block["height"] > 0, block
