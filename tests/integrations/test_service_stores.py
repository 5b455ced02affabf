"""Store reads and writes the contact, place, planning and calendar services call, on SQLite
and PostgreSQL (the services' behaviour is tested in tests/web)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from integrations.google.credentials import GoogleConnection
from integrations.storage import calendar_store, calendars, models
from integrations.storage import places as place_store
from integrations.storage.calendar_store import NextSync, PushChannel
from integrations.storage.contacts import (
    LiveInvite,
    email_owners,
    live_invites,
    remove_all,
    set_fields,
    unpaused_at,
)
from integrations.storage.db import transaction
from integrations.storage.invite_history import InviteHistoryStore
from integrations.storage.places import EnteredTrip
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from web.composition import Runtime
from web.services import google as google_service
from web.services import invites as svc
from web.services.invites.moving import withdraw_invite

BERLIN = ZoneInfo("Europe/Berlin")


def _now() -> datetime:
    return datetime.now(UTC)


def test_live_invites_are_the_open_unexpired_ones_of_that_contact(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    ana = make_contact(runtime, owner)
    ben = make_contact(runtime, owner, name="Ben", email="ben@example.org")
    now = _now()
    start = next_weekday_at(now, 10, 12, 0, BERLIN)
    gone = svc.create_invite(runtime, owner, ana, times_at(start + timedelta(days=1)), now=now)
    withdraw_invite(runtime, owner, gone.invite_id, now=now)
    kept = svc.create_invite(runtime, owner, ana, times_at(start), now=now).invite_id
    svc.create_invite(runtime, owner, ben, times_at(start + timedelta(days=2)), now=now)
    with transaction(runtime.sessions, read_only=True) as session:
        [live] = live_invites(session, owner, ana, now=now)
        assert isinstance(live, LiveInvite) and live.id == kept
        assert live.created_at == now
        assert live_invites(session, owner, ana, now=now + timedelta(days=400)) == []
        assert live_invites(session, owner + 1, ana, now=now) == []


def test_entered_trips_are_records_by_start_and_only_the_users(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    other = make_owner(runtime, email="oscar@example.com")
    with transaction(runtime.sessions) as session:
        later = place_store.add_trip(session, owner, "Lisbon", date(2026, 5, 1), date(2026, 5, 3))
        first = place_store.add_trip(session, owner, "Nowhere", date(2026, 4, 1), date(2026, 4, 2))
        place_store.add_trip(session, other, "Paris", date(2026, 4, 1), date(2026, 4, 2))
    with transaction(runtime.sessions, read_only=True) as session:
        assert place_store.entered_trips(session, owner) == [
            EnteredTrip(first, "Nowhere", date(2026, 4, 1), date(2026, 4, 2)),
            EnteredTrip(later, "Lisbon", date(2026, 5, 1), date(2026, 5, 3)),
        ]


def test_google_connected_says_whether_the_user_has_a_google_connection(
    runtime: Runtime,
) -> None:
    owner = make_owner(runtime)
    other = make_owner(runtime, email="oscar@example.com")
    with transaction(runtime.sessions) as session:
        assert not calendars.google_connected(session, owner)
        session.add(
            models.GoogleConnection(
                user_id=owner,
                token_encrypted=b"sealed",
                token_uri="https://oauth2.example/token",
                created_at=_now(),
                updated_at=_now(),
            )
        )
        session.flush()
        assert calendars.google_connected(session, owner)
        assert not calendars.google_connected(session, other)
    store = google_service.credential_store(runtime)
    assert store.connection(other) is None
    assert store.connection(owner) == GoogleConnection(
        owner, "", b"sealed", "https://oauth2.example/token", "", "ok", ""
    )


def test_invite_history_reads_invites_offered_times_and_bookings(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    ana = make_contact(runtime, owner)
    ben = make_contact(runtime, owner, name="Ben", email="ben@example.org")
    now = _now()
    first, second, third = (next_weekday_at(now, 10 + d, 12, 0, BERLIN) for d in (0, 1, 2))
    booked = svc.create_invite(runtime, owner, ana, times_at(first, second), now=now)
    token = booked.url.rsplit("/", 1)[1]
    svc.accept_invite(runtime, token, first, now=now)
    held = svc.create_invite(runtime, owner, ben, times_at(third), now=now)
    with transaction(runtime.sessions, read_only=True) as session:
        store = InviteHistoryStore(session, owner)
        invites = store.invites()
        assert [(i.id, i.contact_id, i.status) for i in invites] == [
            (booked.invite_id, ana, "accepted"),
            (held.invite_id, ben, "open"),
        ]
        assert invites[0].answered_at is not None and invites[1].answered_at is None
        assert {k: [i.start for i in v] for k, v in store.offered([held.invite_id]).items()} == {
            held.invite_id: [third]
        }
        assert store.offered([]) == {}
        assert store.booked_starts_since(now) == [first]
        assert store.booked_starts_since(first + timedelta(minutes=1)) == []
        assert InviteHistoryStore(session, owner + 1).invites() == []


def test_unpaused_at_names_only_contacts_invited_again_after_a_pause(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    ana = make_contact(runtime, owner)
    make_contact(runtime, owner, name="Ben", email="ben@example.org")
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    with transaction(runtime.sessions) as session:
        set_fields(session, owner, ana, paused=False, unpaused_at=at)
    with transaction(runtime.sessions, read_only=True) as session:
        assert unpaused_at(session, owner) == {ana: at}


def _calendar(runtime: Runtime, owner: int, name: str) -> int:
    with transaction(runtime.sessions) as session:
        return calendars.add(
            session, owner, name=name, kind="ics", location=f"/cal/{name}.ics", now=_now()
        )


def test_calendar_records_by_id_and_owner_and_what_a_read_marks(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    other = make_owner(runtime, email="oscar@example.com")
    first, second = _calendar(runtime, owner, "Work"), _calendar(runtime, owner, "Home")
    _calendar(runtime, other, "Theirs")
    now = _now()
    with transaction(runtime.sessions) as session:
        assert calendars.ids_of(session, owner) == [first, second]
        calendars.mark_failed(session, first, "x" * 3000)
        calendars.mark_read(session, second, now=now)
    with transaction(runtime.sessions, read_only=True) as session:
        failed, read = calendars.by_id(session, first), calendars.by_id(session, second)
        assert failed is not None and failed.last_error == "x" * 2000
        assert read is not None and (read.last_read_at, read.last_error) == (now, "")
        assert calendars.by_id(session, second + 1000) is None


def test_a_calendar_is_found_by_its_name_among_the_users_own(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    other = make_owner(runtime, email="oscar@example.com")
    work = _calendar(runtime, owner, "Work")
    _calendar(runtime, other, "Home")
    with transaction(runtime.sessions, read_only=True) as session:
        found = calendars.by_name(session, owner, "Work")
        assert found is not None and (found.id, found.name, found.kind) == (work, "Work", "ics")
        assert calendars.by_name(session, owner, "Home") is None
        assert calendars.by_name(session, other, "Work") is None
        assert calendars.name_taken(session, owner, "Work")
        assert not calendars.name_taken(session, owner, "Home")


def test_contacts_are_removed_together_with_their_emails_only_the_users(
    runtime: Runtime,
) -> None:
    owner = make_owner(runtime)
    other = make_owner(runtime, email="oscar@example.com")
    ana = make_contact(runtime, owner)
    ben = make_contact(runtime, owner, name="Ben", email="ben@example.org")
    cleo = make_contact(runtime, owner, name="Cleo", email="cleo@example.org")
    theirs = make_contact(runtime, other, name="Dora", email="dora@example.org")
    with transaction(runtime.sessions) as session:
        remove_all(session, owner, [ana, ben, theirs])
        remove_all(session, owner, [])
    with transaction(runtime.sessions, read_only=True) as session:
        assert email_owners(session, owner, ["ana@example.org", "ben@example.org"]) == {}
        assert email_owners(session, owner, ["cleo@example.org"]) == {"cleo@example.org": cleo}
        assert email_owners(session, other, ["dora@example.org"]) == {"dora@example.org": theirs}


def test_a_config_calendar_is_saved_by_name_keeping_what_it_is_told_to(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    _calendar(runtime, owner, "App")
    now = _now()
    fields = dict(kind="caldav", location="https://dav.example/cal", username="olivia")
    with transaction(runtime.sessions) as session:
        made = calendars.save_from_config(
            session, owner, "Team", existing=None, **fields, external_id="", secret=b"sealed",
            keep_secret=False, last_error="Team: bad (password_env)", now=now,
        )  # fmt: skip
        again = calendars.save_from_config(
            session, owner, "Team", existing=made, **fields, external_id="x", secret=None,
            keep_secret=True, last_error=None, now=now,
        )  # fmt: skip
        assert again == made
    with transaction(runtime.sessions, read_only=True) as session:
        [(name, team)] = calendars.from_config(session, owner).items()
    assert (name, team.id, team.origin, team.kind, team.external_id) == (
        "Team", made, "config", "caldav", "x"
    )  # fmt: skip
    assert (team.secret_encrypted, team.last_error) == (b"sealed", "Team: bad (password_env)")
    assert team.counts_as_busy and not team.receives_events


def test_sync_states_for_every_calendar_and_when_each_is_due(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    first, second = _calendar(runtime, owner, "Work"), _calendar(runtime, owner, "Home")
    now = _now()
    with transaction(runtime.sessions) as session:
        assert calendar_store.next_syncs(session, owner) == [
            NextSync(first, None),
            NextSync(second, None),
        ]
        calendar_store.ensure_all_states(session, now)
        assert calendar_store.next_syncs(session, owner) == [
            NextSync(first, now),
            NextSync(second, now),
        ]
        assert calendar_store.next_syncs(session, owner + 1) == []


def test_a_push_channel_is_recorded_and_found_by_its_id(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    calendar_id = _calendar(runtime, owner, "Work")
    expires = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
    with transaction(runtime.sessions) as session:
        assert calendar_store.push_channel(session, calendar_id) is None
        calendar_store.ensure_all_states(session, _now())
        assert calendar_store.push_channel(session, calendar_id) == PushChannel(
            calendar_id, "", "", "", None
        )
        calendar_store.set_push_channel(
            session,
            calendar_id,
            channel_id="chan-1",
            resource_id="res-1",
            token_hash="abc",
            expires_at=expires,
        )
    with transaction(runtime.sessions, read_only=True) as session:
        found = PushChannel(calendar_id, "chan-1", "res-1", "abc", expires)
        assert calendar_store.push_channel(session, calendar_id) == found
        assert calendar_store.channel_named(session, "chan-1") == found
        assert calendar_store.channel_named(session, "chan-2") is None
