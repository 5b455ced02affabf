"""The booking store on SQLite and PostgreSQL: its records, and the writes the move, cancel
and calendar jobs make (the services' behaviour is tested in tests/web)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError

from integrations.storage import models
from integrations.storage.bookings import BookingStore
from integrations.storage.db import transaction
from scheduler.model import Interval, ProposedTime
from tests.helpers.invite_fixtures import make_contact, make_owner, next_weekday_at, times_at
from web.composition import Runtime
from web.services import invites as svc
from web.services.tokens import hash_token

BERLIN = ZoneInfo("Europe/Berlin")


def _now() -> datetime:
    return datetime.now(UTC)


def _book(runtime: Runtime, owner: int, *starts: datetime) -> tuple[str, int]:
    """An invite offering `starts`, accepted at the first; its token and booking id."""
    contact = make_contact(runtime, owner, email=f"c{starts[0].timestamp():.0f}@example.com")
    created = svc.create_invite(runtime, owner, contact, times_at(*starts), now=_now())
    token = created.url.rsplit("/", 1)[1]
    return token, svc.accept_invite(runtime, token, starts[0], now=_now()).id


def _starts(*offsets: int) -> list[datetime]:
    return [next_weekday_at(_now(), 10 + d, 12, 0, BERLIN) for d in offsets]


def test_a_booking_reads_with_its_invite_owner_and_parties(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    first, second = _starts(0, 1)
    token, booking_id = _book(runtime, owner, first, second)
    with transaction(runtime.sessions, read_only=True) as session:
        store = BookingStore(session)
        booking = store.booking(booking_id)
        assert booking is not None
        assert (booking.user_id, booking.status, booking.sequence) == (owner, "active", 0)
        assert booking.interval.start == first and booking.moved_from is None
        invite = store.invite_by_token(hash_token(token))
        assert invite is not None and invite.id == booking.invite_id
        assert [t.start for t in invite.times] == [first, second]
        assert store.latest_booking(invite.id) == booking == store.active_booking(invite.id)
        assert store.owner(owner).email == "olivia@example.com"
        assert [p.email for p in store.parties(invite.id)] == ["olivia@example.com", invite.email]
        assert store.held(owner, first, first + timedelta(days=1)) == [booking.interval]
        assert store.held(owner, first, first + timedelta(days=1), but=booking.id) == []
        assert store.event_calendar(owner) == "primary"


def test_a_move_keeps_the_row_and_raises_the_sequence(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    first, second = _starts(0, 1)
    _, booking_id = _book(runtime, owner, first, second)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        old = store.booking(booking_id)
        assert old is not None
        moved = store.move(booking_id, Interval(second, second + timedelta(hours=1)))
    assert (moved.id, moved.sequence, moved.moved_from) == (booking_id, 1, first)
    assert (moved.start, moved.ical_uid) == (second, old.ical_uid)


def test_the_unique_index_refuses_a_move_onto_another_active_start(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    first, second = _starts(0, 1)
    _, taken = _book(runtime, owner, second)
    _, booking_id = _book(runtime, owner, first)
    with (
        pytest.raises(IntegrityError),
        transaction(runtime.sessions) as session,
    ):
        store = BookingStore(session)
        store.lock_owner(owner)
        other = store.booking(taken, lock=True)
        assert other is not None
        store.move(booking_id, other.interval)
    with transaction(runtime.sessions, read_only=True) as session:
        unchanged = BookingStore(session).booking(booking_id)
    assert unchanged is not None and (unchanged.start, unchanged.sequence) == (first, 0)


def test_cancel_and_the_calendar_marks(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    _, booking_id = _book(runtime, owner, *_starts(0))
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        assert store.mark_calendar_error(booking_id, "Google said no") is True
        assert store.mark_calendar_error(booking_id, "still no") is False
        assert store.mark_calendar_error(booking_id + 1000, "gone") is None
        store.mark_event(booking_id, "evt-1")
        cancelled = store.cancel(booking_id, by="invitee", note="Flu, sorry", now=_now())
        invite = store.invite(cancelled.invite_id)
    assert (cancelled.status, cancelled.sequence) == ("cancelled", 1)
    assert (cancelled.cancelled_by, cancelled.cancel_note) == ("invitee", "Flu, sorry")
    assert cancelled.cancelled_at is not None
    assert (cancelled.calendar_event_id, cancelled.calendar_error) == ("evt-1", "")
    assert invite is not None and invite.status == "cancelled"


def _invite(runtime: Runtime, owner: int, email: str, *starts: datetime) -> tuple[str, int]:
    """An open invite offering `starts`: its token and id."""
    contact = make_contact(runtime, owner, email=email)
    created = svc.create_invite(runtime, owner, contact, times_at(*starts), now=_now())
    return created.url.rsplit("/", 1)[1], created.invite_id


def test_an_owned_invite_is_dismissed_once(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    other = make_owner(runtime, email="oscar@example.com")
    _, invite_id = _invite(runtime, owner, "dana@example.com", *_starts(0, 1))
    first, later = _now(), _now() + timedelta(hours=1)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        assert store.owned_invite(other, invite_id) is None
        assert store.owned_invite(owner, invite_id + 1000) is None
        invite = store.owned_invite(owner, invite_id)
        assert invite is not None and len(invite.times) == 2
        store.dismiss(invite_id, now=first)
        store.dismiss(invite_id, now=later)
    assert [i.invite_id for i in svc.open_invites(runtime, owner, now=_now())] == []


def test_moved_on_is_the_newest_invite_or_booking_per_contact(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    _, booked = _book(runtime, owner, *_starts(0))
    _, waiting = _invite(runtime, owner, "erin@example.com", *_starts(2))
    with transaction(runtime.sessions, read_only=True) as session:
        store = BookingStore(session)
        booking = store.booking(booked)
        open_one = store.invite(waiting)
        assert booking is not None and open_one is not None
        accepted = store.invite(booking.invite_id)
        assert accepted is not None and accepted.answered_at is not None
        found = store.moved_on(owner, [booking.contact_id, open_one.contact_id, 9999])
        assert store.moved_on(owner, []) == {}
    assert set(found) == {booking.contact_id, open_one.contact_id}
    assert found[booking.contact_id] == max(accepted.created_at, accepted.answered_at)
    assert found[open_one.contact_id] == open_one.created_at


def test_withdrawn_times_are_offered_again(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    first, second, third = _starts(0, 1, 2)
    _invite(runtime, owner, "fay@example.com", first, second)
    _, closed = _invite(runtime, owner, "gus@example.com", third)
    lo, hi = first - timedelta(hours=1), third + timedelta(days=1)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        offered = store.open_times(owner, lo, hi)
        assert [t.interval.start for t in offered] == [first, second, third]
        store.withdraw_times([t.id for t in offered])
        store.withdraw_invite(closed, now=_now())
        session.flush()
        # Only the open invite's times count; the closed one's stay withdrawn.
        withdrawn = store.withdrawn_open_times(owner, lo, hi, now=_now())
        assert [t.interval.start for t in withdrawn] == [first, second]
        assert store.withdrawn_open_times(owner, lo, hi, now=first) == withdrawn[1:]
        store.offer_again([withdrawn[1].id])
        session.flush()
        assert [t.interval.start for t in store.open_times(owner, lo, hi)] == [second]
        # A freed time is offered again only when it overlaps and is still to come.
        store.offer_freed(owner, offered[2].interval, now=_now())
        assert [t.interval.start for t in store.open_times(owner, lo, hi)] == [second]
        store.offer_freed(owner, offered[0].interval, now=first)
        assert [t.interval.start for t in store.open_times(owner, lo, hi)] == [second]
        store.offer_freed(owner, offered[0].interval, now=_now())
        assert [t.interval.start for t in store.open_times(owner, lo, hi)] == [first, second]


def test_a_freed_time_another_booking_holds_stays_withdrawn(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    first, second = _starts(0, 1)
    _, booking_id = _book(runtime, owner, first)
    _invite(runtime, owner, "hal@example.com", second)
    lo, hi = second - timedelta(hours=1), second + timedelta(days=1)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        (time,) = store.open_times(owner, lo, hi)
        store.withdraw_times([time.id])
        store.move(booking_id, time.interval)  # another coffee now holds that time
        store.offer_freed(owner, time.interval, now=_now())
        assert store.open_times(owner, lo, hi) == []


def test_an_answer_and_what_the_invitee_told_are_recorded(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    token, invite_id = _invite(runtime, owner, "ida@example.com", *_starts(0))
    at = _now()
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        store.note_invitee_zone(invite_id, "Asia/Tokyo")
        store.note_place(invite_id, "The bakery on Main St")
        store.record_answer(invite_id, status="declined", note="Busy month", now=at)
    with transaction(runtime.sessions, read_only=True) as session:
        invite = BookingStore(session).invite_by_token(hash_token(token))
        row = session.get(models.Invite, invite_id)
    assert invite is not None and row is not None
    assert (invite.status, invite.answered_at, invite.invitee_timezone) == (
        "declined",
        at,
        "Asia/Tokyo",
    )
    assert (row.answer_note, row.place_note) == ("Busy month", "The bakery on Main St")


def test_times_are_added_and_coming_coffees_read(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    first, second, third = _starts(0, 1, 2)
    _book(runtime, owner, first)
    _, invite_id = _invite(runtime, owner, "jo@example.com", second)
    extra = ProposedTime(third, third + timedelta(minutes=45), "lunch", "in_person", "x" * 600)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        assert [b.interval for b in store.coming_coffees(owner, _now())] == [
            Interval(first, first + timedelta(minutes=45))
        ]
        assert store.coming_coffees(owner, first + timedelta(hours=1)) == []
        store.add_times(invite_id, [extra])
        invite = store.invite(invite_id)
    assert invite is not None
    assert [t.start for t in invite.times] == [second, third]
    added = invite.times[1]
    assert (added.window, added.mode, added.place) == ("lunch", "in_person", "x" * 500)
    assert added.zone == "Europe/Berlin" and not added.withdrawn
    with transaction(runtime.sessions, read_only=True) as session:
        again = BookingStore(session).invite_with_times(invite_id)
    assert again is not None and again.times == invite.times


def test_a_new_invite_is_stored_with_its_times(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    contact = make_contact(runtime, owner, email="kim@example.com")
    first, second = _starts(0, 1)
    now = _now()
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        assert store.open_invite_sent(owner, contact, now) is None
        invite = store.add_invite(
            user_id=owner,
            contact_id=contact,
            token_hash=hash_token("tok"),
            email="kim@example.com",
            message="Coffee?",
            invitee_timezone="Asia/Tokyo",
            times=times_at(second, first),
            now=now,
            expires_at=second,
        )
        assert store.open_invite_sent(owner, contact, now) == now
        assert store.open_invite_sent(owner, contact, second) is None  # it has run out then
    assert (invite.status, invite.created_at, invite.expires_at) == ("open", now, second)
    assert (invite.email, invite.invitee_timezone, invite.answered_at) == (
        "kim@example.com",
        "Asia/Tokyo",
        None,
    )
    with transaction(runtime.sessions, read_only=True) as session:
        store = BookingStore(session)
        again = store.invite_by_token(hash_token("tok"))
        lo, hi = first - timedelta(hours=1), second + timedelta(hours=1)
        assert [t.interval.start for t in store.open_times(owner, lo, hi)] == [first, second]
        assert store.open_times(owner, lo, hi, unexpired_at=now) != []
        assert store.open_times(owner, lo, hi, unexpired_at=second) == []
    assert again is not None and again.id == invite.id
    assert [(t.start, t.zone, t.window) for t in again.times] == [
        (first, "Europe/Berlin", "lunch"),
        (second, "Europe/Berlin", "lunch"),
    ]


def test_coffees_to_confirm_are_over_and_unanswered(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    first, second = _starts(0, 1)
    _, early = _book(runtime, owner, first)
    _, late = _book(runtime, owner, second)
    after = second + timedelta(hours=2)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        assert [b.id for b in store.coming_coffees(owner, _now())] == [early, late]
        assert store.coffees_to_confirm(owner, _now()) == []
        assert [b.id for b in store.coffees_to_confirm(owner, after)] == [early, late]
        store.record_met(early, True)
        session.flush()
        assert [b.id for b in store.coffees_to_confirm(owner, after)] == [late]


def test_listed_invites_are_the_undismissed_unbooked_ones_newest_first(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    first, second, third = _starts(0, 1, 2)
    _book(runtime, owner, first)
    _, older = _invite(runtime, owner, "lea@example.com", second)
    _, newer = _invite(runtime, owner, "max@example.com", third)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        store.record_answer(older, status="declined", note="Not now", now=_now())
        listed = store.listed_invites(owner)
        assert [i.id for i in listed] == [newer, older]
        assert [i.status for i in listed] == ["open", "declined"]
        assert listed[1].answer_note == "Not now" and listed[1].contact_name
        assert [t.start for t in listed[0].times] == [third]
        store.dismiss(older, now=_now())
        assert [i.id for i in store.listed_invites(owner)] == [newer]
        assert store.listed_invites(owner, limit=0) == []


def test_a_contacts_invites_and_bookings_are_removed_and_counted(runtime: Runtime) -> None:
    owner = make_owner(runtime)
    other = make_owner(runtime, email="oscar@example.com")
    first, second = _starts(0, 1)
    _, booking_id = _book(runtime, owner, first)  # one invite and its booking
    kept = make_contact(runtime, owner, name="Ben", email="ben@example.org")
    left = svc.create_invite(runtime, owner, kept, times_at(second), now=_now()).invite_id
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        booked = store.booking(booking_id)
        assert booked is not None
        assert store.remove_of_contacts(other, [booked.contact_id]) == (0, 0)
        assert store.remove_of_contacts(owner, []) == (0, 0)
        assert store.remove_of_contacts(owner, [booked.contact_id]) == (1, 1)
    with transaction(runtime.sessions, read_only=True) as session:
        store = BookingStore(session)
        assert store.booking(booking_id) is None
        assert store.invite(left) is not None
