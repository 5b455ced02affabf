"""Cancelling and rescheduling bookings, "did you meet?", and the owner's lists of invites."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integrations.emails import moved
from integrations.icalendar_invite import build_ics
from integrations.invite_email import attach_calendar, build_email, build_notice
from integrations.storage import models
from integrations.storage.db import transaction
from integrations.storage.outbox import enqueue, enqueue_email
from scheduler import invites as rules
from scheduler.invites import format_span
from scheduler.model import Interval
from web.composition import Runtime
from web.errors import NotFound, UserError
from web.services.invites.answer import more_times
from web.services.invites.errors import InviteGone
from web.services.invites.model import (
    TOKEN_BYTES,
    hash_token,
    invite_row,
    invite_url,
    parties,
    user_config,
    zone_name,
)
from web.services.invites.moving import cancel_text
from web.services.invites.notify import coffee_event
from web.services.invites.reoffer import restore_by_rules, restore_times


def cancel_booking_by_token(
    runtime: Runtime, token: str, *, now: datetime, reschedule: bool = False, note: str = ""
) -> None:
    """The invitee cancels (or reschedules) through their invite link."""
    with transaction(runtime.sessions) as session:
        invite = invite_row(session, token, lock=True)
        booking = session.scalar(
            select(models.Booking)
            .where(models.Booking.invite_id == invite.id, models.Booking.status == "active")
            .with_for_update()
        )
        if booking is None:
            raise InviteGone("nothing is booked for this invite")
        _cancel(runtime, session, invite, booking, now=now, by_owner=False, note=note)
        if reschedule:
            _reopen(runtime, session, invite, now=now)


def cancel_booking(
    runtime: Runtime,
    user_id: int,
    booking_id: int,
    *,
    now: datetime,
    reschedule: bool = False,
    note: str = "",
) -> str | None:
    """The owner cancels (or reschedules) a booking; returns a fresh invite URL on reschedule.

    Raises NotFound for a booking that is not this user's.
    """
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id, with_for_update=True)
        if booking is None or booking.user_id != user_id:
            raise NotFound(f"no booking {booking_id}")
        if booking.status != "active":
            raise InviteGone("this coffee is already cancelled")
        invite = session.get(models.Invite, booking.invite_id)
        assert invite is not None
        _cancel(runtime, session, invite, booking, now=now, by_owner=True, note=note)
        if not reschedule:
            return None
        # The invitee needs a new link: the old token is only stored as a hash.
        token = secrets.token_urlsafe(TOKEN_BYTES)
        invite.token_hash = hash_token(token)
        _reopen(runtime, session, invite, now=now)
        url = invite_url(runtime.config, token)
        owner, invitee = parties(session, invite)
        if invitee.email:
            msg = build_email(
                from_address=runtime.config.mail.from_address,
                on_behalf_of=owner,
                to=invitee,
                email=moved.for_invitee(owner=owner.name, url=url),
                when=now,
            )
            enqueue_email(session, user_id=user_id, message=msg, now=now, purpose="reschedule")
        return url


def _reopen(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    *,
    now: datetime,
) -> None:
    """Open the invite again with fresh free times (from the calendar store)."""
    invite.status = rules.OPEN
    invite.answered_at = None
    more_times(runtime, session, invite, now=now)
    invite.expires_at = max(invite.expires_at, now + timedelta(days=7))


def _cancel(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    booking: models.Booking,
    *,
    now: datetime,
    by_owner: bool,
    note: str,
) -> None:
    booking.status = "cancelled"
    booking.sequence += 1
    invite.status = "cancelled"
    session.flush()
    restore_times(session, booking.user_id, Interval(booking.start, booking.end), now=now)
    restore_by_rules(runtime, session, booking.user_id, booking.start, now=now)
    owner, invitee = parties(session, invite)
    event = coffee_event(runtime, booking, owner, invitee, token_url=None)
    user = session.get(models.User, invite.user_id)
    assert user is not None
    when = format_span(booking.start, booking.end, zone_name(user, user_config(runtime, user)))
    if booking.calendar_event_id:
        enqueue(
            session,
            user_id=invite.user_id,
            kind="calendar_delete",
            payload={"booking_id": booking.id, "event_id": booking.calendar_event_id},
            now=now,
        )
    for to, sender in ((invitee, owner), (owner, invitee)):
        if not to.email:
            continue
        if booking.calendar_event_id and to is invitee and not note.strip():
            continue  # Google tells the attendee itself (sendUpdates=all), but not a reason
        subject, paragraph = cancel_text(
            reader_is_owner=to is owner,
            by_owner=by_owner,
            owner=owner.name,
            invitee=invitee.name or invitee.email,
            when=when,
            note=note.strip()[:2000],
        )
        msg = build_notice(
            from_address=runtime.config.mail.from_address,
            on_behalf_of=sender,
            to=to,
            subject=subject,
            paragraphs=[paragraph],
            when=now,
        )
        attach_calendar(msg, build_ics(event, method="CANCEL", dtstamp=now), method="CANCEL")
        enqueue_email(
            session,
            user_id=invite.user_id,
            message=msg,
            now=now,
            purpose="cancel",
            booking_id=booking.id,
        )


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
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.user_id != user_id:
            raise NotFound(f"no booking {booking_id}")
        if not rules.has_passed(booking.end, now=now):
            raise UserError("this coffee has not happened yet")
        contact = session.get(models.Contact, booking.contact_id)
        assert contact is not None
        booking.met = "yes" if met else "no"
        if met:
            user = session.get(models.User, user_id)
            assert user is not None
            zone = ZoneInfo(zone_name(user, user_config(runtime, user)))
            existing = session.scalar(
                select(models.Interaction).where(
                    models.Interaction.contact_id == contact.id,
                    models.Interaction.external_id == booking.ical_uid,
                )
            )
            if existing is None:
                session.add(
                    models.Interaction(
                        user_id=user_id,
                        contact_id=contact.id,
                        occurred_on=booking.start.astimezone(zone).date(),
                        kind="coffee",
                        notes=notes.strip(),
                        source="manual",
                        confirmed=True,
                        external_id=booking.ical_uid,
                        created_at=now,
                    )
                )
            elif notes.strip():
                existing.notes = notes.strip()
        return tuple(contact.questions or ())


def expire_invites(runtime: Runtime, *, now: datetime) -> int:
    """Mark open invites whose link ran out as expired (they count as ignored); returns how many."""
    with transaction(runtime.sessions) as session:
        # Read first: the worker calls this every pass and should not take a write lock idly.
        due = session.scalar(
            select(models.Invite.id)
            .where(models.Invite.status == rules.OPEN, models.Invite.expires_at <= now)
            .limit(1)
        )
        if due is None:
            return 0
        table: Any = models.Invite.__table__  # a Table; the ORM types it as FromClause
        result = session.connection().execute(
            update(table)
            .where(table.c.status == rules.OPEN, table.c.expires_at <= now)
            .values(status="expired")
        )
        return result.rowcount
