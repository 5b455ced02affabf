"""A trip read from an uploaded calendar, the week after this one, while follow-ups fill the week:
the person living in the trip city still gets in-person times there (dashboard card, their plan
page, the CLI), and a time picked by hand in the trip's meal windows is accepted (checked in the
trip city's clock; the all-day "Trip to Boston" event is not busy there)."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.model import Contact, Interaction, Interval, Relationship
from tests.web.support import Web, text, trip_ics
from web.composition import Runtime
from web.services.accounts import save_owner_place, save_time_and_windows
from web.services.planning import plan_for_user

BERLIN = ZoneInfo("Europe/Berlin")
BOSTON = ZoneInfo("America/New_York")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def _trip_days(today: date) -> list[date]:
    """Three days in the plan's second week, starting on a weekday."""
    first = today + timedelta(days=8)
    while first.weekday() >= 5:
        first += timedelta(days=1)
    return [first + timedelta(days=n) for n in range(3)]


def _seed(site: Web, owner: int, runtime: Runtime) -> tuple[list[date], int]:
    """The user's set-up: Berlin, a 60-minute lunch, the trip's calendar uploaded, Sam in
    Boston 11 weeks overdue, and four fresh follow-ups (Rafael in São Paulo among them)."""
    save_owner_place(runtime, owner, "Berlin", "https://meet.example/olivia")
    save_time_and_windows(
        runtime,
        owner,
        "Europe/Berlin",
        {
            "breakfast": {"start": "07:30", "end": "09:00", "weekdays": WEEKDAYS},
            "lunch": {
                "start": "12:00",
                "end": "13:30",
                "weekdays": WEEKDAYS,
                "duration_minutes": 60,
            },
        },
    )
    today = datetime.now(BERLIN).date()
    days = _trip_days(today)
    site.get("/calendars")
    uploaded = site.post(
        "/calendars/ics",
        {"name": "Travel", "file": (io.BytesIO(trip_ics(days[0], days[-1])), "trip.ics")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 303
    with transaction(runtime.sessions) as session:
        contacts = ContactRepository(session, owner)
        sam = contacts.add(
            Contact(
                "Sam Boston",
                ("sam@example.com",),
                relationship=Relationship.MENTOR,
                city="Boston",
                # A mentor's cadence is 45 days: 81 days overdue.
                interactions=(Interaction(today - timedelta(days=45 + 81)),),
            )
        )
        for n, (name, city) in enumerate(
            [("Rafael Costa", "São Paulo"), ("Fay Berger", ""), ("Gil Roth", ""), ("Hal Kern", "")]
        ):
            contacts.add(
                Contact(
                    name,
                    (f"{name.split()[0].lower()}@example.com",),
                    relationship=Relationship.PEER,
                    city=city,
                    interactions=(Interaction(today - timedelta(days=10 + n)),),
                )
            )
    assert sam.id is not None
    return days, sam.id


def _in_boston_on_trip_days(start: datetime, days: list[date]) -> bool:
    return start.utcoffset() == start.astimezone(BOSTON).utcoffset() and start.date() in days


def test_the_trip_city_local_gets_a_card_with_in_person_times_there_when_follow_ups_fill_the_week(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    days, sam = _seed(site, owner, sqlite_runtime)
    page = text(site.get("/"))
    assert re.search(r"You&#39;re in Boston .+: Sam lives there; Sam is 11 weeks overdue", page)
    assert f'action="/plan/{sam}/approve"' in page  # Sam has a card
    # The trip's week in "Your weeks": Boston's lunch drawn at Berlin's 18:00, inside the hours.
    trip_week = page.split('<figure class="week"')[2]
    lunch = _boston_at(days[0], time(12)).astimezone(BERLIN)
    assert (
        f"{lunch:%H:%M}–{lunch + timedelta(minutes=90):%H:%M} meal window (12:00–13:30 in Boston)"
        in trip_week
    )
    for top, height in re.findall(r'style="top: ([\d.]+)%; height: ([\d.]+)%"', trip_week):
        assert float(top) < 100 and float(top) + float(height) <= 100.01

    plan = plan_for_user(sqlite_runtime, owner, now=datetime.now(UTC))
    [proposal] = [p for p in plan.proposals if p.contact.id == sam]
    assert proposal.times and proposal.trip.startswith("Boston ")
    for t in proposal.times:
        assert t.mode == "in_person" and t.city == "Boston"
        assert _in_boston_on_trip_days(t.start, days), t
    # Trip times go to the people living there before anyone gets them as a video call.
    video_on_trip_days = [
        t
        for p in plan.proposals
        for t in p.times
        if t.mode == "video" and t.start.astimezone(BOSTON).date() in days
    ]
    sams = [Interval(t.start, t.end) for t in proposal.times]
    assert not any(Interval(t.start, t.end).overlaps(s) for t in video_on_trip_days for s in sams)

    own = text(site.get(f"/plan/{sam}"))
    assert "not in this week" not in own
    assert "in person in Boston" in own
    checked = re.findall(r'name="time" value="([^"]+)" checked', own)
    assert len(checked) == len(proposal.times)
    assert site.post(f"/plan/{sam}/approve", {"time": checked}).status_code == 303
    assert "Invite to Sam Boston created" in text(site.get("/"))


def _boston_at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=BOSTON)


def test_a_time_picked_in_the_trip_cities_meal_windows_is_accepted_on_the_contact_page(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    days, sam = _seed(site, owner, sqlite_runtime)
    # 08:00 Berlin is the home breakfast, but in Boston it is the middle of the night.
    night = site.post(f"/contacts/{sam}/invite", {"day": days[1].isoformat(), "time": "08:00"})
    assert night.status_code == 400  # the contact's page again, saying why
    refused = text(night)
    assert "Not sent" in refused and "outside your meal windows in Boston" in refused
    assert "breakfast 07:30-09:00" in refused  # the windows named as Boston's clock shows them

    # Boston breakfast at 07:30 and 08:00, typed as the owner's (Berlin) wall clock.
    first = _boston_at(days[0], time(7, 30)).astimezone(BERLIN)
    second = _boston_at(days[1], time(8)).astimezone(BERLIN)
    sent = site.post(
        f"/contacts/{sam}/invite",
        {
            "day": first.date().isoformat(),
            "time": f"{first:%H:%M}",
            "day2": second.date().isoformat(),
            "time2": f"{second:%H:%M}",
        },
    )
    assert sent.status_code == 303
    page = text(site.get(f"/contacts/{sam}"))
    assert "Invite sent" in page, re.findall(r"Not sent[^<]*", page)
    # Placed as the plan places its own: Boston breakfasts, in person in Boston, 45 minutes.
    assert _offered(sqlite_runtime) == [
        (first, first + timedelta(minutes=45), "breakfast", "in_person", "Boston"),
        (second, second + timedelta(minutes=45), "breakfast", "in_person", "Boston"),
    ]


def test_a_hand_picked_lunch_lasts_the_lunch_windows_hour_and_says_how_you_meet(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """The lunch window's own length (60 minutes here, the default 45), not the default; and
    the mode `pair` gives her own times: in person in Berlin, where the owner is then."""
    days, _ = _seed(site, owner, sqlite_runtime)
    with transaction(sqlite_runtime.sessions) as session:
        fay = ContactRepository(session, owner).by_email("fay@example.com")
    assert fay is not None
    plan = plan_for_user(sqlite_runtime, owner, now=datetime.now(UTC))
    planned = {t.mode for p in plan.proposals if p.contact.id == fay.id for t in p.times}
    day = days[-1] + timedelta(days=7)  # home again, a weekday
    resp = site.post(f"/contacts/{fay.id}/invite", {"day": day.isoformat(), "time": "12:15"})
    assert resp.status_code == 303, text(resp)
    start = datetime.combine(day, time(12, 15), tzinfo=BERLIN)
    [(at, end, window, mode, city)] = _offered(sqlite_runtime)
    assert (at, end, window) == (start, start + timedelta(minutes=60), "lunch")
    assert (mode, city) == ("in_person", "Berlin") and planned == {mode}
    # Outside every window a time keeps the default length, and no window or mode is made up.
    late = site.post(f"/contacts/{fay.id}/invite", {"day": day.isoformat(), "time": "16:00"})
    assert late.status_code == 400 and "outside your meal windows" in text(late)


def _offered(runtime: Runtime) -> list[tuple[datetime, datetime, str, str, str]]:
    """The times of the newest invite: start, end, window, mode, city."""
    with transaction(runtime.sessions) as session:
        newest = session.scalars(select(models.Invite).order_by(models.Invite.id.desc())).first()
        assert newest is not None
        return sorted(
            (t.start, t.end, t.window, t.mode, t.city)
            for t in session.scalars(
                select(models.InviteTime).where(models.InviteTime.invite_id == newest.id)
            )
        )


@pytest.mark.parametrize("with_at", [True, False])
def test_the_cli_invites_the_trip_city_local_at_trip_times(
    site: Web, owner: int, sqlite_runtime: Runtime, with_at: bool
) -> None:
    from click.testing import CliRunner

    from web.cli import cli

    days, _ = _seed(site, owner, sqlite_runtime)
    at = ["--at", _boston_at(days[1], time(7, 30)).isoformat()] if with_at else []
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            sqlite_runtime.config.database_url,
            "invites",
            "create",
            "--contact",
            "sam@example.com",
            *at,
            "--no-email",
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    times = [datetime.fromisoformat(t) for t in json.loads(result.stdout)["times"]]
    assert times and all(_in_boston_on_trip_days(t.astimezone(BOSTON), days) for t in times)
    if with_at:
        assert times == [_boston_at(days[1], time(7, 30))]
