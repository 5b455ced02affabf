"""Booking rules a user notices: one coffee a day, a buffer around each, no double offers.

Scenarios from real use: Rafael and Zoe both got Friday lunch times; Rafael took 12:00 and Zoe
must not get 12:45 right after it, nor any other time that Friday.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from scheduler.model import Contact, Interaction, Meal
from tests.helpers.invite_fixtures import create_sharing_invite, make_contact, make_owner, times_at
from web.composition import Runtime
from web.errors import UserError
from web.services import invites as svc
from web.services.planning import due_for_user, plan_for_user

BERLIN = ZoneInfo("Europe/Berlin")


def _now() -> datetime:
    return datetime.now(UTC)


def weekday_after(days: int, weekday: int) -> date:
    """The first date with `weekday` at least `days` days from today (Berlin)."""
    day = _now().astimezone(BERLIN).date() + timedelta(days=days)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=BERLIN)


FRIDAY = weekday_after(3, 4)
NEXT_TUESDAY = FRIDAY + timedelta(days=4)


@pytest.fixture
def owner(sqlite_runtime: Runtime) -> int:
    return make_owner(sqlite_runtime)


@pytest.fixture
def rafael(sqlite_runtime: Runtime, owner: int) -> int:
    return make_contact(sqlite_runtime, owner, "Rafael Lima", "rafael@example.org")


@pytest.fixture
def zoe(sqlite_runtime: Runtime, owner: int) -> int:
    return make_contact(sqlite_runtime, owner, "Zoe Park", "zoe@example.org")


def token_of(created: svc.CreatedInvite) -> str:
    return created.url.rsplit("/", 1)[1]


def set_scheduling(runtime: Runtime, owner: int, **values: int) -> None:
    with transaction(runtime.sessions) as session:
        user = session.get(models.User, owner)
        assert user is not None
        user.settings = {"scheduling": dict(values)}


def accept(client: FlaskClient, created: svc.CreatedInvite, start: datetime) -> Any:
    return client.post(
        f"/i/{token_of(created)}", data={"action": "accept", "start": utc_iso(start)}
    )


def remaining(runtime: Runtime, created: svc.CreatedInvite) -> list[datetime]:
    view = svc.load_invite(runtime, token_of(created), now=_now())
    return [t.start for t in view.remaining]


def active_bookings(runtime: Runtime) -> list[datetime]:
    with transaction(runtime.sessions) as session:
        return sorted(
            session.scalars(select(models.Booking.start).where(models.Booking.status == "active"))
        )


# --- accepting ------------------------------------------------------------------------------


def test_after_rafael_books_friday_noon_zoe_can_no_longer_take_any_time_that_friday(
    sqlite_runtime: Runtime, client: FlaskClient, owner: int, rafael: int, zoe: int
) -> None:
    offer_rafael = svc.create_invite(
        sqlite_runtime, owner, rafael, times_at(at(FRIDAY, 12)), now=_now()
    )
    # Zoe's invite was sent before the buffer rule existed: 12:45 right after Rafael's 12:00,
    # Friday breakfast, and a Tuesday lunch.
    offer_zoe = create_sharing_invite(
        sqlite_runtime,
        owner,
        zoe,
        times_at(at(FRIDAY, 8), at(FRIDAY, 12, 45), at(NEXT_TUESDAY, 12)),
        now=_now(),
    )
    assert accept(client, offer_rafael, at(FRIDAY, 12)).status_code == 303
    # Both Friday times are withdrawn from Zoe's invite: one is within the 10 minute buffer,
    # and the day already has its one coffee.
    assert remaining(sqlite_runtime, offer_zoe) == [at(NEXT_TUESDAY, 12)]
    refused = accept(client, offer_zoe, at(FRIDAY, 12, 45))
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "no longer available" in page
    assert utc_iso(at(NEXT_TUESDAY, 12)) in page
    assert active_bookings(sqlite_runtime) == [at(FRIDAY, 12)]


def test_a_time_that_slipped_through_is_still_refused_when_the_day_is_full(
    sqlite_runtime: Runtime, client: FlaskClient, owner: int, rafael: int, zoe: int
) -> None:
    # Two coffees a day were allowed when both invites went out; then the owner lowered it.
    set_scheduling(sqlite_runtime, owner, max_per_day=2)
    offer_rafael = svc.create_invite(
        sqlite_runtime, owner, rafael, times_at(at(FRIDAY, 12)), now=_now()
    )
    offer_zoe = svc.create_invite(
        sqlite_runtime, owner, zoe, times_at(at(FRIDAY, 8), at(NEXT_TUESDAY, 12)), now=_now()
    )
    assert accept(client, offer_rafael, at(FRIDAY, 12)).status_code == 303
    assert remaining(sqlite_runtime, offer_zoe) == [at(FRIDAY, 8), at(NEXT_TUESDAY, 12)]
    set_scheduling(sqlite_runtime, owner, max_per_day=1)
    refused = accept(client, offer_zoe, at(FRIDAY, 8))
    assert refused.status_code == 409
    assert "that day is no longer available" in refused.get_data(as_text=True)
    assert accept(client, offer_zoe, at(NEXT_TUESDAY, 12)).status_code == 303
    assert active_bookings(sqlite_runtime) == [at(FRIDAY, 12), at(NEXT_TUESDAY, 12)]


def test_the_weekly_cap_counts_coffees_already_booked_that_week(
    sqlite_runtime: Runtime, client: FlaskClient, owner: int, rafael: int, zoe: int
) -> None:
    monday = FRIDAY + timedelta(days=3)
    wednesday = monday + timedelta(days=2)
    set_scheduling(sqlite_runtime, owner, max_per_week=3)
    offer_rafael = svc.create_invite(
        sqlite_runtime, owner, rafael, times_at(at(monday, 12)), now=_now()
    )
    offer_zoe = svc.create_invite(
        sqlite_runtime, owner, zoe, times_at(at(wednesday, 12)), now=_now()
    )
    assert accept(client, offer_rafael, at(monday, 12)).status_code == 303
    set_scheduling(sqlite_runtime, owner, max_per_week=1)
    assert accept(client, offer_zoe, at(wednesday, 12)).status_code == 409
    assert active_bookings(sqlite_runtime) == [at(monday, 12)]


def test_accepting_keeps_the_buffer_to_another_booked_coffee(
    sqlite_runtime: Runtime, client: FlaskClient, owner: int, rafael: int, zoe: int
) -> None:
    # No buffer and two a day when the invites went out; the owner then asks for 15 minutes.
    set_scheduling(sqlite_runtime, owner, max_per_day=2, buffer_minutes=0)
    offer_rafael = svc.create_invite(
        sqlite_runtime, owner, rafael, times_at(at(FRIDAY, 12)), now=_now()
    )
    offer_zoe = svc.create_invite(
        sqlite_runtime, owner, zoe, times_at(at(FRIDAY, 12, 45)), now=_now()
    )
    assert accept(client, offer_rafael, at(FRIDAY, 12)).status_code == 303
    assert remaining(sqlite_runtime, offer_zoe) == [at(FRIDAY, 12, 45)]
    set_scheduling(sqlite_runtime, owner, max_per_day=2, buffer_minutes=15)
    refused = accept(client, offer_zoe, at(FRIDAY, 12, 45))
    assert refused.status_code == 409
    assert "no longer free" in refused.get_data(as_text=True)
    assert active_bookings(sqlite_runtime) == [at(FRIDAY, 12)]


def test_cancelling_the_days_coffee_offers_that_days_other_times_again(
    sqlite_runtime: Runtime, client: FlaskClient, owner: int, rafael: int, zoe: int
) -> None:
    offer_rafael = svc.create_invite(
        sqlite_runtime, owner, rafael, times_at(at(FRIDAY, 12)), now=_now()
    )
    offer_zoe = create_sharing_invite(
        sqlite_runtime,
        owner,
        zoe,
        times_at(at(FRIDAY, 8), at(FRIDAY, 12, 45), at(NEXT_TUESDAY, 12)),
        now=_now(),
    )
    booking = svc.accept_invite(sqlite_runtime, token_of(offer_rafael), at(FRIDAY, 12), now=_now())
    assert remaining(sqlite_runtime, offer_zoe) == [at(NEXT_TUESDAY, 12)]
    svc.cancel_booking(sqlite_runtime, owner, booking.id, now=_now())
    assert remaining(sqlite_runtime, offer_zoe) == [
        at(FRIDAY, 8),
        at(FRIDAY, 12, 45),
        at(NEXT_TUESDAY, 12),
    ]
    assert accept(client, offer_zoe, at(FRIDAY, 12, 45)).status_code == 303


# --- creating invites (the dashboard's approve and the CLI both go through this) ------------


def test_a_time_next_to_one_already_offered_cannot_be_offered_to_someone_else(
    sqlite_runtime: Runtime, owner: int, rafael: int, zoe: int
) -> None:
    svc.create_invite(sqlite_runtime, owner, rafael, times_at(at(FRIDAY, 12)), now=_now())
    with pytest.raises(UserError, match="already offered in another open invite"):
        svc.create_invite(sqlite_runtime, owner, zoe, times_at(at(FRIDAY, 12, 45)), now=_now())
    with pytest.raises(UserError, match="it overlaps"):
        svc.create_invite(sqlite_runtime, owner, zoe, times_at(at(FRIDAY, 12)), now=_now())
    created = svc.create_invite(
        sqlite_runtime, owner, zoe, times_at(at(FRIDAY, 13)), now=_now()
    )  # 15 minutes after 12:45 is outside the 10 minute buffer
    assert len(created.times) == 1


def test_a_second_open_invite_for_the_same_contact_is_refused(
    sqlite_runtime: Runtime, owner: int, rafael: int
) -> None:
    svc.create_invite(sqlite_runtime, owner, rafael, times_at(at(FRIDAY, 12)), now=_now())
    with pytest.raises(UserError, match="Rafael Lima already has an open invite"):
        svc.create_invite(sqlite_runtime, owner, rafael, times_at(at(NEXT_TUESDAY, 12)), now=_now())


def test_a_time_on_a_day_that_already_has_its_coffee_cannot_be_offered(
    sqlite_runtime: Runtime, client: FlaskClient, owner: int, rafael: int, zoe: int
) -> None:
    offer = svc.create_invite(sqlite_runtime, owner, rafael, times_at(at(FRIDAY, 12)), now=_now())
    assert accept(client, offer, at(FRIDAY, 12)).status_code == 303
    with pytest.raises(UserError, match=r"already has 1 coffee booked \(at most 1 a day\)"):
        svc.create_invite(sqlite_runtime, owner, zoe, times_at(at(FRIDAY, 8)), now=_now())


# --- planning -------------------------------------------------------------------------------


def _due_contact(runtime: Runtime, owner: int, name: str, **kw: Any) -> int:
    long_ago = _now().date() - timedelta(days=400)
    with transaction(runtime.sessions) as session:
        row = ContactRepository(session, owner).add(
            Contact(
                name=name,
                emails=(f"{name.split()[0].lower()}@example.org",),
                interactions=(Interaction(on=long_ago),),
                **kw,
            )
        )
        return row.id


def test_contacts_with_a_coffee_booked_or_an_invite_open_are_not_proposed_again(
    sqlite_runtime: Runtime, client: FlaskClient, owner: int
) -> None:
    zoe = _due_contact(sqlite_runtime, owner, "Zoe Park")
    rafael = _due_contact(sqlite_runtime, owner, "Rafael Lima")
    _due_contact(sqlite_runtime, owner, "Aisha Khan")
    booked = svc.create_invite(sqlite_runtime, owner, zoe, times_at(at(FRIDAY, 12)), now=_now())
    assert accept(client, booked, at(FRIDAY, 12)).status_code == 303
    svc.create_invite(sqlite_runtime, owner, rafael, times_at(at(NEXT_TUESDAY, 12)), now=_now())

    report = due_for_user(sqlite_runtime, owner, now=_now())
    excluded = {e.contact.name: e.reasons for e in report.excluded}
    assert excluded["Zoe Park"] == (
        f"Coffee booked for {FRIDAY:%a} {FRIDAY.day} {FRIDAY:%b}, 12:00",
    )
    assert any("is still open" in r for r in excluded["Rafael Lima"])
    plan = plan_for_user(sqlite_runtime, owner, now=_now())
    assert [p.contact.name for p in plan.proposals] == ["Aisha Khan"]


def test_no_proposal_sits_within_the_buffer_of_a_time_offered_in_an_open_invite(
    sqlite_runtime: Runtime, owner: int
) -> None:
    rafael = _due_contact(sqlite_runtime, owner, "Rafael Lima")
    for name in ("Aisha Khan", "Ana Souza", "Ben Okafor"):
        _due_contact(sqlite_runtime, owner, name, preferred_meals=frozenset({Meal.LUNCH}))
    slots = plan_for_user(sqlite_runtime, owner, now=_now()).slots
    lunch_days = sorted({s.start.date() for s in slots if s.window == "lunch"})
    # Rafael holds 12:00-12:45 every other lunch: 12:45-13:30 still fits those windows, but
    # it is right after his time, inside the 10 minute buffer.
    held = [at(d, 12) for d in lunch_days[::2]]
    svc.create_invite(sqlite_runtime, owner, rafael, times_at(*held), now=_now())
    plan = plan_for_user(sqlite_runtime, owner, now=_now())
    times = [t for p in plan.proposals for t in p.times]
    assert times
    assert not {t.start.date() for t in times} & set(lunch_days[::2])
    assert all(t.start.astimezone(BERLIN).hour == 12 for t in times)


# --- the command line ----------------------------------------------------------------------


@dataclass
class Ran:
    exit_code: int
    output: str  # stdout and stderr


@pytest.fixture
def cli(sqlite_runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    from web.cli import main

    sqlite_runtime.owner_id(create=True)

    def run(*args: str) -> Ran:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(["--db", sqlite_runtime.config.database_url, "invites", "create", *args])
        out = capsys.readouterr()
        return Ran(int(done.value.code or 0), out.out + out.err)

    yield run


def _cli_contact(runtime: Runtime, name: str, email: str, **kw: Any) -> int:
    owner = runtime.owner_id(create=True)
    with transaction(runtime.sessions) as session:
        return ContactRepository(session, owner).add(Contact(name=name, emails=(email,), **kw)).id


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M")


def refused_with(result: Ran, text: str) -> str:
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1, line
    assert text in line, line
    return line


def test_the_cli_refuses_a_do_not_invite_contact_without_suggesting_a_way_around(
    sqlite_runtime: Runtime, cli: Any
) -> None:
    _cli_contact(sqlite_runtime, "Yusuf Demir", "yusuf@example.org", do_not_invite=True)
    line = refused_with(
        cli("--contact", "yusuf@example.org"), "Yusuf Demir is marked do-not-invite"
    )
    assert "--at" not in line
    at_friday = ["--contact", "yusuf@example.org", "--at", _iso(at(FRIDAY, 12)), "--no-email"]
    refused_with(cli(*at_friday), "do-not-invite")
    assert cli(*at_friday, "--force").exit_code == 0


def test_the_cli_refuses_a_snoozed_contact_unless_forced(sqlite_runtime: Runtime, cli: Any) -> None:
    later = _now().date() + timedelta(days=30)
    _cli_contact(sqlite_runtime, "Clara Dubois", "clara@example.org", snoozed_until=later)
    args = ["--contact", "clara@example.org", "--at", _iso(at(FRIDAY, 12)), "--no-email"]
    refused_with(cli(*args), "Clara Dubois is snoozed until")
    assert cli(*args, "--force").exit_code == 0


def test_the_cli_refuses_a_contact_paused_after_three_ignored_invites(
    sqlite_runtime: Runtime, cli: Any
) -> None:
    owner = sqlite_runtime.owner_id(create=True)
    contact = _cli_contact(sqlite_runtime, "Noah Berg", "noah@example.org")
    with transaction(sqlite_runtime.sessions) as session:
        for weeks in (12, 8, 6):
            sent = _now() - timedelta(weeks=weeks)
            session.add(
                models.Invite(
                    user_id=owner,
                    contact_id=contact,
                    token_hash=f"{weeks:064d}",
                    email="noah@example.org",
                    message="Coffee?",
                    status="expired",
                    invitee_timezone="",
                    answer_note="",
                    created_at=sent,
                    expires_at=sent + timedelta(days=14),
                )
            )
    args = ["--contact", "noah@example.org", "--at", _iso(at(FRIDAY, 12)), "--no-email"]
    refused_with(cli(*args), "Noah Berg is paused after ignored invites")
    assert cli(*args, "--force").exit_code == 0


def test_the_cli_wants_a_time_of_day_not_just_a_date(sqlite_runtime: Runtime, cli: Any) -> None:
    _cli_contact(sqlite_runtime, "Ana Souza", "ana@example.org")
    refused_with(
        cli("--contact", "ana@example.org", "--at", FRIDAY.isoformat(), "--no-email"),
        "has no time of day",
    )


def test_the_cli_help_says_a_time_without_offset_is_in_your_zone(cli: Any) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    assert "in your time zone" in " ".join(result.output.split())


def test_saturday_three_am_is_refused_and_only_forced_with_a_warning(
    sqlite_runtime: Runtime, cli: Any
) -> None:
    _cli_contact(sqlite_runtime, "Ana Souza", "ana@example.org")
    saturday = at(FRIDAY + timedelta(days=1), 3)
    args = ["--contact", "ana@example.org", "--at", _iso(saturday), "--no-email"]
    refused_with(cli(*args), "outside your meal windows")
    forced = cli(*args, "--force", "--format", "json")
    assert forced.exit_code == 0, forced.output
    assert "warning:" in forced.output and "outside your meal windows" in forced.output


def test_the_cli_refuses_a_past_time_a_second_open_invite_and_a_slot_already_offered(
    sqlite_runtime: Runtime, cli: Any
) -> None:
    _cli_contact(sqlite_runtime, "Ana Souza", "ana@example.org")
    _cli_contact(sqlite_runtime, "Ben Okafor", "ben@example.org")
    past = at(_now().astimezone(BERLIN).date() - timedelta(days=2), 12)
    refused_with(
        cli("--contact", "ana@example.org", "--at", _iso(past), "--no-email"), "in the past"
    )
    first = cli("--contact", "ana@example.org", "--at", _iso(at(FRIDAY, 12)), "--no-email")
    assert first.exit_code == 0, first.output
    refused_with(
        cli("--contact", "ana@example.org", "--at", _iso(at(NEXT_TUESDAY, 12)), "--no-email"),
        "Ana Souza already has an open invite",
    )
    again = ["--contact", "ana@example.org", "--at", _iso(at(NEXT_TUESDAY, 12)), "--no-email"]
    assert cli(*again, "--force").exit_code == 0
    refused_with(
        cli("--contact", "ben@example.org", "--at", _iso(at(FRIDAY, 12)), "--no-email"),
        "already offered in another open invite",
    )


def test_the_cli_refuses_a_time_busy_in_the_owners_calendar(
    sqlite_runtime: Runtime, cli: Any, tmp_path: Path
) -> None:
    owner = sqlite_runtime.owner_id(create=True)
    _cli_contact(sqlite_runtime, "Ana Souza", "ana@example.org")
    start = at(FRIDAY, 12, 30).astimezone(UTC)
    ics = tmp_path / "work.ics"
    ics.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        "UID:standup@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\r\n"
        "SUMMARY:Team lunch\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    with transaction(sqlite_runtime.sessions) as session:
        session.add(
            models.Calendar(
                user_id=owner,
                name="Work",
                kind="ics",
                location=str(ics),
                counts_as_busy=True,
                receives_events=False,
                last_error="",
                created_at=_now(),
            )
        )
    refused_with(
        cli("--contact", "ana@example.org", "--at", _iso(at(FRIDAY, 12)), "--no-email"),
        "busy time",
    )
    ok = cli("--contact", "ana@example.org", "--at", _iso(at(FRIDAY, 8)), "--format", "json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output.splitlines()[-1])["times"] == [at(FRIDAY, 8).isoformat()]


# --- the dashboard --------------------------------------------------------------------------


def test_approving_from_a_stale_plan_a_time_just_offered_to_someone_else_says_so(
    sqlite_runtime: Runtime, site: Any
) -> None:
    import re

    from tests.web.support import PASSWORD, text
    from web.services.accounts import create_first_account
    from web.services.demo import load_demo

    user = create_first_account(sqlite_runtime, "owner@example.com", PASSWORD, "Olivia Owner")
    assert site.sign_in("owner@example.com").status_code == 303
    load_demo(sqlite_runtime, user)
    page = text(site.get("/"))  # the plan as the owner sees it, then left open in a tab

    def form_of(contact: int) -> str:
        return page.split(f'action="/plan/{contact}/approve"', 1)[1].split("</form>", 1)[0]

    ids = [int(n) for n in re.findall(r'action="/plan/(\d+)/approve"', page)]
    first = ids[0]
    held = re.findall(r'name="time" value="([^"]+)" checked', form_of(first))
    # Someone whose form also lists one of those times ("change a time" offers each person
    # only what suits them).
    second, shared = next(
        (other, t)
        for other in ids[1:]
        for t in held
        if f'name="time" value="{t}"' in form_of(other)
    )
    assert site.post(f"/plan/{first}/approve", {"time": held}).status_code == 303
    # From the stale page: the second person gets the first one's time.
    response = site.post(f"/plan/{second}/approve", {"time": [shared]})
    assert response.status_code == 400  # the plan's page again, saying why
    shown = text(response)
    assert "already offered in another open invite" in shown, shown[-3000:]
    with transaction(sqlite_runtime.sessions) as session:
        assert [i.contact_id for i in session.scalars(select(models.Invite))] == [first]
