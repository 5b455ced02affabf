"""Cancelling and rescheduling bookings, "did you meet?", and the owner's lists of invites."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, selectinload

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
from web.errors import UserError
from web.services.invites.accepting import _restore, _restore_by_rules, writer_lock
from web.services.invites.answers import _more_times
from web.services.invites.archive import moved_on
from web.services.invites.errors import InviteGone
from web.services.invites.helpers import (
    TOKEN_BYTES,
    _booking_view,
    _load_invite,
    _offered,
    _parties,
    _zone_name,
    hash_token,
    invite_url,
    user_config,
)
from web.services.invites.moving import cancel_text
from web.services.invites.notices import _coffee_event
from web.services.invites.views import BookingView, OpenInvite, UpcomingCoffee


def cancel_booking_by_token(
    runtime: Runtime, token: str, *, now: datetime, reschedule: bool = False, note: str = ""
) -> None:
    """The invitee cancels (or reschedules) through their invite link."""
    with writer_lock(runtime), transaction(runtime.sessions) as session:
        invite = _load_invite(session, token, lock=True)
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

    Raises LookupError for a booking that is not this user's (the web layer answers 404).
    """
    with writer_lock(runtime), transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id, with_for_update=True)
        if booking is None or booking.user_id != user_id:
            raise LookupError("no such booking")
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
        owner, invitee = _parties(session, invite)
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
    _more_times(runtime, session, invite, now=now)
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
    _restore(session, booking.user_id, Interval(booking.start, booking.end), now=now)
    _restore_by_rules(runtime, session, booking.user_id, booking.start, now=now)
    owner, invitee = _parties(session, invite)
    event = _coffee_event(runtime, booking, owner, invitee, token_url=None)
    user = session.get(models.User, invite.user_id)
    assert user is not None
    when = format_span(booking.start, booking.end, _zone_name(user, user_config(runtime, user)))
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


def upcoming(runtime: Runtime, user_id: int, *, now: datetime) -> list[UpcomingCoffee]:
    """Booked coffees not yet over, soonest first, with their prep card."""
    return _active_coffees(runtime, user_id, models.Booking.end > now)


def to_confirm(runtime: Runtime, user_id: int, *, now: datetime) -> list[UpcomingCoffee]:
    """Coffees whose time has passed and that nobody said "we met" or "we did not" about."""
    return _active_coffees(
        runtime, user_id, models.Booking.end <= now, models.Booking.met.is_(None)
    )


def _active_coffees(
    runtime: Runtime, user_id: int, *conditions: ColumnElement[bool]
) -> list[UpcomingCoffee]:
    """The user's active bookings that meet `conditions`, soonest first, as coffees."""
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(models.Booking)
            .where(
                models.Booking.user_id == user_id,
                models.Booking.status == "active",
                *conditions,
            )
            .order_by(models.Booking.start)
        ).all()
        return [_coffee(session, b) for b in rows]


def _coffee(session: Session, booking: models.Booking) -> UpcomingCoffee:
    contact = session.get(models.Contact, booking.contact_id)
    assert contact is not None
    met = [i.occurred_on for i in contact.interactions if i.confirmed]
    return UpcomingCoffee(
        booking_id=booking.id,
        contact_id=contact.id,
        contact_name=contact.name,
        start=booking.start,
        end=booking.end,
        calendar_error=booking.calendar_error,
        how_met=contact.how_met,
        notes=contact.notes,
        questions=tuple(contact.questions or ()),
        last_met=max(met, default=None),
    )


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
    in the plan. Returns the contact's questions to ask next time. LookupError if not theirs.
    """
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.user_id != user_id:
            raise LookupError("no such booking")
        if not rules.has_passed(booking.end, now=now):
            raise UserError("this coffee has not happened yet")
        contact = session.get(models.Contact, booking.contact_id)
        assert contact is not None
        booking.met = "yes" if met else "no"
        if met:
            user = session.get(models.User, user_id)
            assert user is not None
            zone = ZoneInfo(_zone_name(user, user_config(runtime, user)))
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


def open_invites(runtime: Runtime, user_id: int, *, now: datetime) -> list[OpenInvite]:
    """The user's invites that are waiting or were answered without a booking, newest first."""
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(models.Invite)
            .where(
                models.Invite.user_id == user_id,
                models.Invite.status.in_(("open", "declined", "suggested")),
                models.Invite.dismissed_at.is_(None),
            )
            .options(selectinload(models.Invite.times))
            .order_by(models.Invite.created_at.desc())
            .limit(50)
        ).all()
        result = []
        later = moved_on(session, user_id, (inv.contact_id for inv in rows))
        for inv in rows:
            state = rules.link_state(inv.status, inv.expires_at, now=now)
            if rules.archived(
                "expired" if state == "gone" else inv.status,
                dismissed=inv.dismissed_at is not None,
                answered_at=inv.answered_at,
                created_at=inv.created_at,
                contact_moved_on=later.get(inv.contact_id),
                all_withdrawn=bool(inv.times) and all(t.withdrawn for t in inv.times),
            ):
                continue  # dismissed, or dealt with since (a newer invite, a booking)
            contact = session.get(models.Contact, inv.contact_id)
            assert contact is not None
            result.append(
                OpenInvite(
                    invite_id=inv.id,
                    contact_id=inv.contact_id,
                    contact_name=contact.name,
                    status="expired" if state == "gone" else inv.status,
                    created_at=inv.created_at,
                    expires_at=inv.expires_at,
                    times=tuple(_offered(t) for t in inv.times),
                    answer_note=inv.answer_note,
                )
            )
        return result


def cancel_invite(runtime: Runtime, user_id: int, invite_id: int, *, now: datetime) -> None:
    """The owner withdraws an open invite; its link then answers 410."""
    with transaction(runtime.sessions) as session:
        invite = session.get(models.Invite, invite_id)
        if invite is None or invite.user_id != user_id:
            raise LookupError("no such invite")
        if invite.status == rules.OPEN:
            invite.status = "cancelled"
            invite.answered_at = now


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
        result = session.execute(
            update(models.Invite)
            .where(models.Invite.status == rules.OPEN, models.Invite.expires_at <= now)
            .values(status="expired")
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def booking_for_user(runtime: Runtime, user_id: int, booking_id: int) -> UpcomingCoffee:
    """One of the user's bookings (LookupError when it is not theirs)."""
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.user_id != user_id:
            raise LookupError("no such booking")
        return _coffee(session, booking)


def booking_status(runtime: Runtime, user_id: int, booking_id: int) -> BookingView:
    with transaction(runtime.sessions) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.user_id != user_id:
            raise LookupError("no such booking")
        return _booking_view(booking)


@dataclass(frozen=True)
class DeliveryProblem:
    """An email or calendar write that failed at least once, with the server's reason."""

    id: int
    what: str
    status: str  # pending (will retry) | failed (gave up)
    attempts: int
    last_error: str
    next_attempt_at: datetime
    to: str = ""  # the recipients of an email, comma-separated
    subject: str = ""


def delivery_problems(runtime: Runtime, user_id: int) -> list[DeliveryProblem]:
    """For the dashboard: this user's outbox rows that failed and are not delivered yet."""
    from integrations.storage.outbox import problems

    labels = {
        "email": "Email",
        "email_render": "Email",
        "calendar_insert": "Google Calendar event",
        "calendar_delete": "Google Calendar cancellation",
        "calendar_update": "Google Calendar move",
    }
    with transaction(runtime.sessions) as session:
        return [
            DeliveryProblem(
                id=row.id,
                what=labels.get(row.kind, row.kind),
                status=row.status,
                attempts=row.attempts,
                last_error=row.last_error,
                next_attempt_at=row.next_attempt_at,
                to=", ".join(str(r) for r in row.payload.get("recipients", None) or ()),
                subject=str(row.payload.get("subject") or ""),
            )
            for row in problems(session, user_id)
        ]
