"""An invite says where: the email, the invite and booking pages and the .ics carry the place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import select

from integrations.storage import models
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.invites import format_span, utc_iso
from scheduler.model import Contact, Interaction, Relationship
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from tests.web.support import make_app
from web.composition import Runtime
from web.services import invites as svc
from web.services.outbox_worker import message_of

BERLIN = ZoneInfo("Europe/Berlin")
PLACE = "Café Einstein, Unter den Linden 42"
MAP = "https://maps.example/einstein"


def _emails(runtime: Runtime) -> list[Any]:
    found = []
    with transaction(runtime.sessions) as session:
        rows = list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))
    for row in rows:
        if row.kind in ("email", "email_render"):
            raw, _, _ = message_of(runtime, row.kind, row.payload, row.message_id)
            found.append(message_from_bytes(raw, policy=policy.default))
    return found


def test_an_accepted_in_person_invite_carries_the_place_everywhere(
    client: FlaskClient, sqlite_runtime: Runtime
) -> None:
    owner = make_owner(sqlite_runtime)
    ana = make_contact(sqlite_runtime, owner)
    now = datetime.now(UTC)
    [t] = times_at(next_weekday_at(now, 2, 8, 0, BERLIN))
    t = replace(t, window="breakfast", mode="in_person", place=PLACE, place_url=MAP, city="Berlin")
    created = svc.create_invite(sqlite_runtime, owner, ana, [t], send_email=True, now=now)
    [mail] = _emails(sqlite_runtime)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert f"In person at {PLACE} · breakfast in Berlin, 08:00 · map: {MAP}" in text

    path = urlsplit(created.url).path
    page = client.get(path).get_data(as_text=True)
    assert "In person</strong> at Café Einstein, Unter den Linden 42" in page
    assert f'href="{MAP}"' in page

    resp = client.post(path, data={"action": "accept", "start": utc_iso(t.start)})
    assert resp.status_code == 303
    booking = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "at Café Einstein, Unter den Linden 42" in booking and f'href="{MAP}"' in booking

    ics = client.get(path + "/event.ics")
    [event] = Calendar.from_ical(ics.data).walk("VEVENT")
    assert str(event["location"]) == PLACE
    assert str(event["url"]) == MAP
    assert f"Where: {PLACE}" in str(event["description"])


def test_a_video_invite_puts_the_room_in_the_ics_and_names_the_owners_meal(
    client: FlaskClient, sqlite_runtime: Runtime
) -> None:
    owner = make_owner(sqlite_runtime)
    bob = make_contact(sqlite_runtime, owner, "Bob Stone", "bob@example.com", "America/New_York")
    now = datetime.now(UTC)
    [t] = times_at(next_weekday_at(now, 3, 13, 0, BERLIN))
    room = "https://meet.example/olivia"
    t = replace(t, window="lunch", mode="video", place="Video call", place_url=room, city="Berlin")
    created = svc.create_invite(sqlite_runtime, owner, bob, [t], send_email=True, now=now)
    [mail] = _emails(sqlite_runtime)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Video call · Olivia Owner's lunch in Berlin, 13:00" in text
    assert format_span(t.start, t.end, "America/New_York") in text  # and Bob's own time
    path = urlsplit(created.url).path
    client.post(path, data={"action": "accept", "start": utc_iso(t.start)})
    [event] = Calendar.from_ical(client.get(path + "/event.ics").data).walk("VEVENT")
    assert str(event["location"]) == room and str(event["url"]) == room


def test_the_invitee_can_say_another_place_suits_them_better(
    client: FlaskClient, sqlite_runtime: Runtime
) -> None:
    owner = make_owner(sqlite_runtime)
    ana = make_contact(sqlite_runtime, owner)
    now = datetime.now(UTC)
    [t] = times_at(next_weekday_at(now, 2, 8, 0, BERLIN))
    t = replace(t, mode="in_person", place=PLACE, place_url=MAP, city="Berlin")
    created = svc.create_invite(sqlite_runtime, owner, ana, [t], send_email=False, now=now)
    path = urlsplit(created.url).path
    assert "Another place suits you better?" in client.get(path).get_data(as_text=True)
    resp = client.post(path, data={"action": "place", "note": "Near Alexanderplatz?"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("place=sent#place")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "has your note about the place" in page
    empty = client.post(path, data={"action": "place", "note": " "})
    assert empty.status_code == 400
    assert "Name the place that suits you better" in empty.get_data(as_text=True)
    with transaction(sqlite_runtime.sessions) as session:
        invite = session.get(models.Invite, created.invite_id)
        assert invite is not None and invite.place_note == "Near Alexanderplatz?"
        assert invite.status == "open"  # a time can still be picked
    [notice] = _emails(sqlite_runtime)
    assert notice["Subject"].endswith("suggested another place")
    assert "Near Alexanderplatz?" in notice.get_body(preferencelist=("plain",)).get_content()


def test_other_free_times_carry_the_mode_and_place_the_plan_would_give(
    sqlite_runtime: Runtime,
) -> None:
    from integrations.storage.contacts import ContactRepository
    from web.services.accounts import save_owner_place
    from web.services.places import add_place

    owner = make_owner(sqlite_runtime)
    save_owner_place(sqlite_runtime, owner, "Berlin", "https://meet.example/olivia")
    add_place(
        sqlite_runtime, owner, name="Café Einstein", address="Unter den Linden 42", city="Berlin"
    )
    ana = make_contact(sqlite_runtime, owner)
    bob = make_contact(sqlite_runtime, owner, "Bob Stone", "bob@example.com")
    dan = make_contact(sqlite_runtime, owner, "Dan Reyes", "dan@example.com")
    with transaction(sqlite_runtime.sessions) as session:
        repo = ContactRepository(session, owner)
        for cid, city in ((ana, "Berlin"), (bob, "Halifax"), (dan, "New York")):
            c = repo.get(cid)
            assert c is not None
            repo.update(replace(c, city=city))
    now = datetime.now(UTC)
    tokens = []
    for days, cid in ((2, ana), (3, bob), (4, dan)):
        [t] = times_at(next_weekday_at(now, days, 12, 0, BERLIN))
        created = svc.create_invite(sqlite_runtime, owner, cid, [t], now=now)
        tokens.append(urlsplit(created.url).path.rstrip("/").rsplit("/", 1)[1])
    # Berlin's lunch (12:00-13:30) is 06:00-07:30 in New York: no 45 minutes there are awake,
    # and the page says that free times there were, but none at such an hour.
    new_york = tokens.pop()
    client = make_app(sqlite_runtime).test_client()
    asked = client.post(f"/i/{new_york}", data={"action": "suggest"})
    assert asked.status_code == 303 and "more=hours" in asked.location
    said = client.get(asked.location).get_data(as_text=True)
    assert "has other free times in the next two weeks, but none at an hour that suits you." in said
    assert svc.suggest_other_times(sqlite_runtime, new_york, now=now) == svc.MoreTimes(
        [], none_suit=True
    )
    halifax = ZoneInfo("America/Halifax")
    for token, mode in zip(tokens, ("in_person", "video"), strict=True):
        more = svc.suggest_other_times(sqlite_runtime, token, now=now).added
        assert more, mode
        assert {m.mode for m in more} == {mode}
        if mode == "in_person":
            assert {m.place for m in more} == {"Café Einstein, Unter den Linden 42"}
        else:
            assert {(m.place, m.place_url) for m in more} == {
                ("Video call", "https://meet.example/olivia")
            }
            for m in more:  # within the Halifax invitee's waking hours (07:00-21:00)
                a, b = m.start.astimezone(halifax), m.end.astimezone(halifax)
                assert a.hour >= 7 and (b.hour, b.minute) <= (21, 0), (a, b)
        with transaction(sqlite_runtime.sessions) as session:
            stored = session.scalars(select(models.InviteTime)).all()
            assert {s.mode for s in stored} >= {mode}  # kept on the invite for its pages


def test_a_place_without_a_city_is_used_at_home_and_a_default_must_suit_its_meal(
    sqlite_runtime: Runtime,
) -> None:
    """No home city set: the place kept without one is still where the plan meets people in
    person (it used to match nothing); a place for lunch only cannot be breakfast's default."""
    from web.errors import UserError
    from web.services.places import add_place
    from web.services.planning import plan_for_user

    owner = make_owner(sqlite_runtime)
    assert sqlite_runtime.config.owner.city == ""
    with transaction(sqlite_runtime.sessions) as session:
        ContactRepository(session, owner).add(
            Contact(
                "Ana Souza",
                ("ana@example.org",),
                relationship=Relationship.PEER,
                interactions=(Interaction(datetime.now(UTC).date() - timedelta(days=200)),),
            )
        )
    try:
        add_place(
            sqlite_runtime, owner, name="Corner", meals=("lunch",), default_for=("breakfast",)
        )
    except UserError as exc:
        assert str(exc) == "Corner suits only lunch: it cannot be the default place for breakfast"
    else:
        raise AssertionError("a lunch-only place was made breakfast's default")
    add_place(sqlite_runtime, owner, name="Corner", address="Torstr. 1")
    plan = plan_for_user(sqlite_runtime, owner, now=datetime.now(UTC))
    in_person = [t for p in plan.proposals for t in p.times if t.mode == "in_person"]
    assert in_person and {t.place for t in in_person} == {"Corner, Torstr. 1"}
