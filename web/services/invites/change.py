"""Cancelling and rescheduling bookings, "did you meet?", and the owner's lists of invites."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from integrations.emails import moved
from integrations.icalendar_invite import build_ics
from integrations.invite_email import build_email
from integrations.storage.bookings import Booking, BookingInvite, BookingStore
from integrations.storage.db import transaction
from integrations.storage.outbox import enqueue, enqueue_email
from scheduler import invites as rules
from scheduler.invites import format_spans
from web.composition import Runtime
from web.errors import NotFound, UserError
from web.services.contacts import checked_meeting_notes
from web.services.invites.answer import more_times
from web.services.invites.errors import InviteGone, InviteNotFound
from web.services.invites.model import (
    TOKEN_BYTES,
    checked_note,
    invite_url,
    user_config,
    zone_name,
)
from web.services.invites.moving import cancel_text
from web.services.invites.notify import (
    Notice,
    booking_event,
    queue_booking_notices,
    reader_zones,
)
from web.services.invites.reoffer import restore_by_rules
from web.services.tokens import hash_token


@dataclass(frozen=True)
class Cancelled:
    """A cancelled booking, for the canceller: who the other person is (by name) and whether
    they are told (they have an email address); on an owner's reschedule, the fresh link."""

    other: str
    told: bool
    url: str | None = None


def cancel_booking_by_token(
    runtime: Runtime, token: str, *, now: datetime, reschedule: bool = False, note: str = ""
) -> Cancelled:
    """The invitee cancels (or reschedules) through their invite link."""
    note = checked_note(note)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        invite = store.invite_by_token(hash_token(token), lock=True)
        if invite is None:
            raise InviteNotFound("no such invite")
        booking = store.active_booking(invite.id, lock=True)
        if booking is None:
            raise InviteGone("nothing is booked for this invite")
        cancelled = _cancel(runtime, store, invite, booking, now=now, by_owner=False, note=note)
        if reschedule:
            _reopen(runtime, store, invite.id, now=now)
        return cancelled


def cancel_booking(
    runtime: Runtime,
    user_id: int,
    booking_id: int,
    *,
    now: datetime,
    reschedule: bool = False,
    note: str = "",
) -> Cancelled:
    """The owner cancels (or reschedules) a booking; with a fresh invite URL on reschedule.

    Raises NotFound for a booking that is not this user's.
    """
    note = checked_note(note)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        booking = store.booking(booking_id, lock=True)
        if booking is None or booking.user_id != user_id:
            raise NotFound(f"no booking {booking_id}")
        if booking.status != "active":
            raise InviteGone("this coffee is already cancelled")
        invite = store.invite(booking.invite_id)
        assert invite is not None
        cancelled = _cancel(runtime, store, invite, booking, now=now, by_owner=True, note=note)
        if not reschedule:
            return cancelled
        # The invitee needs a new link: the old token is only stored as a hash.
        token = secrets.token_urlsafe(TOKEN_BYTES)
        store.new_token(invite.id, hash_token(token))
        _reopen(runtime, store, invite.id, now=now)
        url = invite_url(runtime.config, token)
        owner, invitee = store.parties(invite.id)
        if invitee.email:
            msg = build_email(
                from_address=runtime.config.mail.from_address,
                on_behalf_of=owner,
                to=invitee,
                email=moved.for_invitee(owner=owner.name, url=url),
                when=now,
            )
            enqueue_email(session, user_id=user_id, message=msg, now=now, purpose="reschedule")
        return Cancelled(cancelled.other, cancelled.told, url)


def _reopen(runtime: Runtime, store: BookingStore, invite_id: int, *, now: datetime) -> None:
    """Open the invite again with fresh free times (from the calendar store)."""
    store.reopen(invite_id)
    invite = store.invite(invite_id)
    assert invite is not None
    more_times(runtime, store, invite, now=now)
    store.keep_open_until(invite_id, now + timedelta(days=7))


def _cancel(
    runtime: Runtime,
    store: BookingStore,
    invite: BookingInvite,
    booking: Booking,
    *,
    now: datetime,
    by_owner: bool,
    note: str,
) -> Cancelled:
    """Cancel the booking and queue what follows; who is told, as the canceller sees it."""
    booking = store.cancel(
        booking.id, by="owner" if by_owner else "invitee", note=note.strip(), now=now
    )
    store.offer_freed(booking.user_id, booking.interval, now=now)
    restore_by_rules(runtime, store, booking.user_id, booking.start, now=now)
    owner, invitee = store.parties(invite.id)
    event = booking_event(runtime, store, booking, owner, invitee)
    user = store.owner(invite.user_id)
    owner_zone = zone_name(user, user_config(runtime, user))
    if booking.calendar_event_id:
        enqueue(
            store.session,
            user_id=invite.user_id,
            kind="calendar_delete",
            payload={"booking_id": booking.id, "event_id": booking.calendar_event_id},
            now=now,
        )
    notices = []
    for to, sender in ((invitee, owner), (owner, invitee)):
        if not to.email:
            continue
        if booking.calendar_event_id and to is invitee and not note.strip():
            continue  # Google tells the attendee itself (sendUpdates=all), but not a reason
        zones = reader_zones(invite, owner_zone, owner=to is owner)
        subject, paragraph = cancel_text(
            reader_is_owner=to is owner,
            by_owner=by_owner,
            owner=owner.name,
            invitee=invitee.name or invitee.email,
            when=format_spans(booking.start, booking.end, zones),
            note=note,
        )
        notices.append(Notice(to, sender, subject, [paragraph]))
    queue_booking_notices(
        runtime,
        store,
        booking,
        notices,
        ics=build_ics(event, method="CANCEL", dtstamp=now),
        method="CANCEL",
        purpose="cancel",
        now=now,
    )
    # Told by email, or (with a Google event and no note) by their calendar's invitation.
    other = invitee if by_owner else owner
    return Cancelled(other.name or other.email, bool(other.email))


# --- owner views and after the coffee ------------------------------------------------------


def record_meeting(
    runtime: Runtime,
    user_id: int,
    booking_id: int,
    *,
    met: bool,
    notes: str = "",
    now: datetime,
) -> tuple[str, ...]:
    """Answer "did you meet?": yes logs a coffee (the cadence restarts), no puts the contact back
    in the plan. Returns the contact's questions to ask next time. NotFound if not theirs.
    """
    notes = checked_meeting_notes(notes)
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        booking = store.booking(booking_id)
        if booking is None or booking.user_id != user_id:
            raise NotFound(f"no booking {booking_id}")
        if not rules.has_passed(booking.end, now=now):
            raise UserError("this coffee has not happened yet")
        contact = store.contact(booking.contact_id)
        assert contact is not None
        store.record_met(booking.id, met)
        if met:
            user = store.owner(user_id)
            zone = ZoneInfo(zone_name(user, user_config(runtime, user)))
            store.log_coffee(
                booking, on=booking.start.astimezone(zone).date(), notes=notes, now=now
            )
        return contact.questions


def expire_invites(runtime: Runtime, *, now: datetime) -> int:
    """Mark open invites whose link ran out as expired (they count as ignored); returns how many."""
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        # Read first: the worker calls this every pass and should not take a write lock idly.
        if not store.any_expired(now):
            return 0
        return store.expire_invites(now)
