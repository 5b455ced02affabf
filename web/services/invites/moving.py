"""Moving a booked coffee to another time, and the confirmed cancel and withdraw around it.

A move keeps the booking: the same row, the same iCalendar UID with SEQUENCE + 1, the owner's
calendar event updated in place. Until a new time is picked nothing changes: "pick another
time" (a POST) only offers fresh times on the invite, read from the calendar store through the
same slot path as "suggest other times" and checked live against the owner's calendars; the
move page (a GET) lists them; picking one (a POST) moves the booking the way accept books one:
live re-check first with no lock held, then one short transaction that locks the owner and the
booking, checks the buffer and the day and week caps against the owner's other bookings, and
changes the start under the unique index of active starts. Both sides get a "moved to" email
with the updated invitation, queued in that transaction.

Withdrawing an open invite can be undone for UNDO_WINDOW: the invitee's email waits in the
outbox until then, and undoing removes it unsent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from integrations.emails import withdrawn as withdrawn_email
from integrations.icalendar_invite import build_ics
from integrations.invite_email import Party, attach_calendar, build_email, build_notice
from integrations.storage import models
from integrations.storage.db import transaction
from integrations.storage.outbox import PENDING, enqueue, enqueue_email
from scheduler import booking_rules
from scheduler import invites as rules
from scheduler.invites import OfferedTime, format_span
from scheduler.model import Interval, SchedulingPolicy
from web.composition import Runtime
from web.errors import UserError
from web.services.invites.answer import SUGGEST_DAYS, more_times
from web.services.invites.busy import owner_calendars, read_busy
from web.services.invites.errors import InviteGone, InviteNotFound, TimeUnavailable
from web.services.invites.model import (
    LONGEST_MEETING,
    aware,
    display_zones,
    invite_row,
    invite_url,
    offered_time,
    parties,
    user_config,
    zone_name,
)
from web.services.invites.notify import coffee_event
from web.services.invites.reoffer import restore_by_rules, restore_times

UNDO_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class MoveChoices:
    """A booked coffee and the times it can move to (never its own)."""

    booking_id: int
    start: datetime
    end: datetime
    owner_name: str
    contact_name: str
    owner_timezone: str
    invitee_timezone: str
    times: tuple[OfferedTime, ...]
    moved_from: datetime | None = None


@dataclass(frozen=True)
class Withdrawn:
    """An invite the owner withdrew: who, and until when it can be undone."""

    invite_id: int
    contact_name: str
    undo_until: datetime
    told: bool  # the invitee's email is on its way (no undo any more)


@dataclass(frozen=True)
class _Who:
    """Which booking: the owner's (user_id and booking_id) or the invitee's (their token)."""

    user_id: int | None = None
    booking_id: int | None = None
    token: str | None = None

    @property
    def by_owner(self) -> bool:
        return self.token is None


def owner_side(user_id: int, booking_id: int) -> _Who:
    return _Who(user_id=user_id, booking_id=booking_id)


def invitee_side(token: str) -> _Who:
    return _Who(token=token)


# --- moving a booking ----------------------------------------------------------------------


def move_choices(runtime: Runtime, who: _Who, *, now: datetime) -> MoveChoices:
    """What the move page shows (reads only): the booking and the times it can move to."""
    with transaction(runtime.sessions, read_only=True) as session:
        booking, invite = _find(session, who)
        return _choices_view(runtime, session, invite, booking, now=now)


def offer_new_times(runtime: Runtime, who: _Who, *, now: datetime) -> MoveChoices:
    """ "Pick another time": add fresh free times to the booked invite (the booking stays).

    The owner's calendars are read live for the coming weeks first, with no lock held; then,
    in one transaction, fresh times come from the calendar store through the same slot path as
    "suggest other times", and every time on the invite that the live answer shows busy is
    taken off it.
    """
    with transaction(runtime.sessions, read_only=True) as session:
        booking, invite = _find(session, who)
        if booking.status != "active":
            raise InviteGone("this coffee is cancelled")
        user_id = booking.user_id
    horizon = Interval(now, now + timedelta(days=SUGGEST_DAYS + 1))
    calendars = owner_calendars(runtime, user_id)
    busy = read_busy(calendars, horizon).intervals
    with transaction(runtime.sessions) as session:
        booking, invite = _find(session, who, lock=True)
        if booking.status != "active":
            raise InviteGone("this coffee is cancelled")
        more_times(runtime, session, invite, now=now)
        session.flush()
        for row in invite.times:
            span = Interval(aware(row.start), aware(row.end))
            if not row.withdrawn and booking_rules.too_close(span, busy, calendars.policy.buffer):
                row.withdrawn = True
        session.flush()
        return _choices_view(runtime, session, invite, booking, now=now)


def move_booking(
    runtime: Runtime, who: _Who, start: datetime, *, now: datetime, note: str = ""
) -> MoveChoices:
    """Move the booking to `start` (one of its move choices), atomically, or raise
    TimeUnavailable (with the times still possible), InviteGone or InviteNotFound.

    The same booking row moves: same UID, SEQUENCE + 1, the Google event updated in place.
    """
    start = aware(start)
    note = note.strip()[:2000]
    with transaction(runtime.sessions, read_only=True) as session:
        booking, invite = _find(session, who)
        if booking.status != "active":
            raise InviteGone("this coffee is cancelled")
        view = _choices_view(runtime, session, invite, booking, now=now)
        user_id, seen = booking.user_id, aware(booking.start)
        own = Interval(seen, aware(booking.end))
    chosen = rules.find_offered(view.times, start, now=now)
    if chosen is None:
        raise TimeUnavailable("that time is no longer available", view.times)
    # The live check, before any lock (as accept does): every other writer would wait on it.
    calendars = owner_calendars(runtime, user_id)
    widened = _widened(chosen.interval, calendars.policy.buffer)
    # The coffee's own event (on a calendar it was written to) is not in its own way.
    busy = [i for i in read_busy(calendars, widened).intervals if i != own]
    conflict: TimeUnavailable | None = None
    try:
        with transaction(runtime.sessions) as session:
            # Lock the owner first, as accept does: moves and accepts of one owner queue here.
            session.get(models.User, user_id, with_for_update=True)
            booking, invite = _find(session, who, lock=True)
            if booking.status != "active":
                raise InviteGone("this coffee is cancelled")
            if aware(booking.start) != seen:
                raise TimeUnavailable("this coffee was just moved", ())
            current = _choices_view(runtime, session, invite, booking, now=now)
            chosen = rules.find_offered(current.times, start, now=now)
            if chosen is None:
                raise TimeUnavailable("that time is no longer available", current.times)
            if booking_rules.too_close(chosen.interval, busy, calendars.policy.buffer):
                for row in invite.times:
                    if aware(row.start) == chosen.start:
                        row.withdrawn = True
                conflict = TimeUnavailable(
                    "that time is no longer free",
                    [t for t in current.times if t.start != chosen.start],
                )
            else:
                _move(runtime, session, invite, booking, chosen, who=who, now=now, note=note)
                return _choices_view(runtime, session, invite, booking, now=now)
    except IntegrityError:
        # Another accept (or move) took this owner's start first: the unique index said no.
        raise TimeUnavailable(
            "that time was just booked by someone else",
            [t for t in view.times if t.start != start],
        ) from None
    assert conflict is not None
    raise conflict


def _move(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    booking: models.Booking,
    chosen: OfferedTime,
    *,
    who: _Who,
    now: datetime,
    note: str,
) -> None:
    old = Interval(aware(booking.start), aware(booking.end))
    booking.moved_from = old.start
    booking.start, booking.end = chosen.start.astimezone(UTC), chosen.end.astimezone(UTC)
    booking.sequence += 1
    session.flush()  # the unique index of active starts decides here
    # The old time is free again for the owner's other open invites; the new one is not.
    restore_times(session, booking.user_id, old, now=now)
    restore_by_rules(runtime, session, booking.user_id, old.start, now=now)
    _withdraw_ruled_out(runtime, session, booking, now=now)
    if booking.calendar_event_id:
        enqueue(
            session,
            user_id=booking.user_id,
            kind="calendar_update",
            payload={"booking_id": booking.id, "event_id": booking.calendar_event_id},
            now=now,
        )
    # The invitee's links, when they moved it themselves (the token is stored only hashed).
    manage = invite_url(runtime.config, who.token) if who.token else ""
    _queue_moved_emails(
        runtime,
        session,
        invite,
        booking,
        old,
        by_owner=who.by_owner,
        now=now,
        note=note,
        manage_url=manage,
    )


def _withdraw_ruled_out(
    runtime: Runtime, session: Session, booking: models.Booking, *, now: datetime
) -> None:
    """Take off the owner's open invites the times the moved booking now rules out: within
    its buffer, and its day (or week) once full."""
    user = session.get(models.User, booking.user_id)
    assert user is not None
    config = user_config(runtime, user)
    zone, policy = ZoneInfo(zone_name(user, config)), config.scheduling
    start = aware(booking.start)
    week = booking_rules.week_bounds(start.astimezone(zone).date(), zone)
    lo, hi = week.start - LONGEST_MEETING - policy.buffer, week.end + policy.buffer
    held = _held(session, booking.user_id, lo, hi)
    rows = session.scalars(
        select(models.InviteTime)
        .join(models.Invite, models.Invite.id == models.InviteTime.invite_id)
        .where(
            models.InviteTime.user_id == booking.user_id,
            models.InviteTime.withdrawn.is_(False),
            models.InviteTime.start >= lo,
            models.InviteTime.start < hi,
            models.Invite.status == rules.OPEN,
        )
    )
    for row in rows:
        span = Interval(aware(row.start), aware(row.end))
        if booking_rules.time_problem(span, bookings=held, zone=zone, policy=policy):
            row.withdrawn = True


def _held(
    session: Session, user_id: int, lo: datetime, hi: datetime, *, but: int | None = None
) -> list[Interval]:
    """The owner's active bookings starting in [lo, hi), except booking `but`."""
    stmt = select(models.Booking.start, models.Booking.end).where(
        models.Booking.user_id == user_id,
        models.Booking.status == "active",
        models.Booking.start >= lo,
        models.Booking.start < hi,
    )
    if but is not None:
        stmt = stmt.where(models.Booking.id != but)
    return [Interval(aware(s), aware(e)) for s, e in session.execute(stmt)]


def _choices_view(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    booking: models.Booking,
    *,
    now: datetime,
) -> MoveChoices:
    user = session.get(models.User, booking.user_id)
    contact = session.get(models.Contact, booking.contact_id)
    assert user is not None and contact is not None
    config = user_config(runtime, user)
    owner_zone = zone_name(user, config)
    times = (
        _allowed(invite, booking, config.scheduling, ZoneInfo(owner_zone), session, now=now)
        if booking.status == "active"
        else ()
    )
    return MoveChoices(
        booking_id=booking.id,
        start=aware(booking.start),
        end=aware(booking.end),
        owner_name=user.name or user.email,
        contact_name=contact.name,
        owner_timezone=owner_zone,
        invitee_timezone=invite.invitee_timezone or "",
        times=tuple(times),
        moved_from=aware(booking.moved_from) if booking.moved_from else None,
    )


def _allowed(
    invite: models.Invite,
    booking: models.Booking,
    policy: SchedulingPolicy,
    zone: ZoneInfo,
    session: Session,
    *,
    now: datetime,
) -> list[OfferedTime]:
    """The invite's times the booking may move to: offered and not withdrawn, not its own
    time, outside the notice period, and allowed by the owner's other bookings (buffer, day
    and week caps), soonest first."""
    offered = sorted(
        (offered_time(t) for t in invite.times if not t.withdrawn), key=lambda t: t.start
    )
    own = aware(booking.start)
    offered = [t for t in offered if t.start != own and t.start >= now + policy.notice]
    if not offered:
        return []
    lo = booking_rules.week_bounds(offered[0].start.astimezone(zone).date(), zone).start
    hi = booking_rules.week_bounds(offered[-1].start.astimezone(zone).date(), zone).end
    others = _held(
        session,
        booking.user_id,
        lo - LONGEST_MEETING - policy.buffer,
        hi + policy.buffer,
        but=booking.id,
    )
    seen: set[datetime] = set()
    allowed = []
    for t in offered:
        if t.start in seen:
            continue
        seen.add(t.start)
        if booking_rules.time_problem(t.interval, bookings=others, zone=zone, policy=policy):
            continue
        allowed.append(t)
    return allowed


def _find(
    session: Session, who: _Who, *, lock: bool = False
) -> tuple[models.Booking, models.Invite]:
    """The booking `who` names (its latest, for a token) and its invite; InviteNotFound when
    there is none for them."""
    if who.token is not None:
        invite = invite_row(session, who.token, lock=lock)
        stmt = (
            select(models.Booking)
            .where(models.Booking.invite_id == invite.id)
            .order_by(models.Booking.id.desc())
            .limit(1)
        )
        if lock:
            stmt = stmt.with_for_update()
        booking = session.scalar(stmt)
        if booking is None:
            raise InviteGone("nothing is booked for this invite")
        return booking, invite
    booking = session.get(models.Booking, who.booking_id, with_for_update=lock)
    if booking is None or booking.user_id != who.user_id:
        raise InviteNotFound("no such booking")
    found = session.scalar(
        select(models.Invite)
        .where(models.Invite.id == booking.invite_id)
        .options(selectinload(models.Invite.times))
    )
    assert found is not None
    return booking, found


def _widened(interval: Interval, by: timedelta) -> Interval:
    return Interval(interval.start - by, interval.end + by)


def moved_label(start: datetime, end: datetime, zone: str) -> str:
    """How old links name the time a coffee moved to."""
    return format_span(start, end, zone or "UTC")


# --- the emails ------------------------------------------------------------------------------


def moved_text(
    *,
    reader_is_owner: bool,
    by_owner: bool,
    owner: str,
    invitee: str,
    new: str,
    old: str,
    note: str = "",
) -> tuple[str, list[str]]:
    """Subject and paragraphs of the "moved" email, written for its reader; the copy is
    `integrations.emails.moved`."""
    from integrations.emails import moved

    email = moved.render(
        reader="owner" if reader_is_owner else "invitee",
        by="owner" if by_owner else "invitee",
        owner=owner,
        invitee=invitee,
        new=new,
        old=old,
        note=note,
    )
    return email.subject, list(email.paragraphs)


def cancel_text(
    *, reader_is_owner: bool, by_owner: bool, owner: str, invitee: str, when: str, note: str = ""
) -> tuple[str, str]:
    """Subject and paragraph of the "cancelled" email, written for its reader (never "<your
    own name> cancelled"); the copy is `integrations.emails.cancelled`."""
    from integrations.emails import cancelled

    email = cancelled.render(
        reader="owner" if reader_is_owner else "invitee",
        by="owner" if by_owner else "invitee",
        owner=owner,
        invitee=invitee,
        when=when,
        note=note,
    )
    return email.subject, "\n\n".join(email.paragraphs)


def withdraw_in(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    *,
    now: datetime,
    note: str = "",
    sent_on: str = "",
    delay: timedelta = timedelta(0),
) -> Party:
    """Withdraw an invite in the caller's unit of work and queue the invitee's kind note (sent
    after `delay`, so an undo in time sends nothing); returns the invitee. `sent_on` says the
    contact was deleted: the note then names the invite's date and is not tied to the invite
    row, which goes with the contact."""
    invite.status = "cancelled"
    invite.answered_at = now
    owner, invitee = parties(session, invite)
    if invitee.email:
        email = withdrawn_email.for_invitee(
            owner=owner.name, invitee=invitee.name, note=note, sent_on=sent_on
        )
        msg = build_email(
            from_address=runtime.config.mail.from_address,
            on_behalf_of=owner,
            to=invitee,
            email=email,
            when=now + delay,
        )
        linked = {} if sent_on else {"invite_id": invite.id}
        enqueue_email(
            session,
            user_id=invite.user_id,
            message=msg,
            now=now,
            not_before=now + delay if delay else None,
            purpose="withdraw",
            **linked,
        )
    return invitee


def _queue_moved_emails(
    runtime: Runtime,
    session: Session,
    invite: models.Invite,
    booking: models.Booking,
    old: Interval,
    *,
    by_owner: bool,
    now: datetime,
    note: str,
    manage_url: str = "",
) -> None:
    user = session.get(models.User, booking.user_id)
    assert user is not None
    owner_zone = zone_name(user, user_config(runtime, user))
    owner, invitee = parties(session, invite)
    event = coffee_event(runtime, booking, owner, invitee, token_url=None)
    ics = build_ics(event, method="REQUEST", dtstamp=now)
    base = runtime.config.web.base_url
    readers: list[tuple[Party, Party, bool, list[str], list[tuple[str, str]]]] = [
        (owner, invitee, True, [owner_zone], [("Open", f"{base}/invites/bookings/{booking.id}")]),
        (
            invitee,
            owner,
            False,
            display_zones(invite.invitee_timezone, owner_zone),
            [("Your booking", f"{manage_url}/booking")] if manage_url else [],
        ),
    ]
    for to, sender, is_owner, zones, links in readers:
        if not to.email:
            continue
        new = " / ".join(format_span(booking.start, booking.end, z) for z in zones)
        was = " / ".join(format_span(old.start, old.end, z) for z in zones)
        subject, paragraphs = moved_text(
            reader_is_owner=is_owner,
            by_owner=by_owner,
            owner=owner.name,
            invitee=invitee.name or invitee.email,
            new=new,
            old=was,
            note=note,
        )
        msg = build_notice(
            from_address=runtime.config.mail.from_address,
            on_behalf_of=sender,
            to=to,
            subject=subject,
            paragraphs=paragraphs,
            links=links,
            when=now,
        )
        attach_calendar(msg, ics, method="REQUEST")
        enqueue_email(
            session,
            user_id=booking.user_id,
            message=msg,
            now=now,
            purpose="moved",
            booking_id=booking.id,
        )


# --- withdrawing an open invite, with a minute to undo ---------------------------------------


def withdraw_invite(
    runtime: Runtime, user_id: int, invite_id: int, *, now: datetime, note: str = ""
) -> Withdrawn:
    """The owner withdraws an open invite (its link then answers 410). The invitee's kind note
    waits in the outbox for UNDO_WINDOW, so an undo in time sends nothing."""
    note = note.strip()[:2000]
    with transaction(runtime.sessions) as session:
        invite = session.get(models.Invite, invite_id, with_for_update=True)
        if invite is None or invite.user_id != user_id:
            raise InviteNotFound("no such invite")
        if invite.status != rules.OPEN:
            raise InviteGone(f"this invite is {invite.status}")
        invitee = withdraw_in(runtime, session, invite, now=now, note=note, delay=UNDO_WINDOW)
        return Withdrawn(invite.id, invitee.name, now + UNDO_WINDOW, told=False)


def withdrawn(runtime: Runtime, user_id: int, invite_id: int, *, now: datetime) -> Withdrawn:
    """A withdrawn invite, for the page that offers the undo."""
    with transaction(runtime.sessions, read_only=True) as session:
        invite = session.get(models.Invite, invite_id)
        if invite is None or invite.user_id != user_id or invite.status != "cancelled":
            raise InviteNotFound("no such withdrawn invite")
        contact = session.get(models.Contact, invite.contact_id)
        until = aware(invite.answered_at or now) + UNDO_WINDOW
        return Withdrawn(invite.id, contact.name if contact else "", until, told=now >= until)


def undo_withdraw(runtime: Runtime, user_id: int, invite_id: int, *, now: datetime) -> None:
    """Open the invite again, unless its minute has passed (UserError): the note to the
    invitee is dropped unsent."""
    with transaction(runtime.sessions) as session:
        invite = session.get(models.Invite, invite_id, with_for_update=True)
        if invite is None or invite.user_id != user_id:
            raise InviteNotFound("no such invite")
        if invite.status != "cancelled" or invite.answered_at is None:
            raise UserError("this invite is not withdrawn")
        if now >= aware(invite.answered_at) + UNDO_WINDOW:
            raise UserError("the minute to undo has passed; the invitee has been told")
        pending = session.scalars(
            select(models.OutboxMessage).where(
                models.OutboxMessage.user_id == user_id,
                models.OutboxMessage.kind == "email",
                models.OutboxMessage.status == PENDING,
                models.OutboxMessage.attempts == 0,
            )
        ).all()
        mine = [
            m.id
            for m in pending
            if m.payload.get("purpose") == "withdraw" and m.payload.get("invite_id") == invite.id
        ]
        if invite.email and not mine:
            raise UserError("the invitee is already being told; it is too late to undo")
        if mine:
            session.execute(delete(models.OutboxMessage).where(models.OutboxMessage.id.in_(mine)))
        invite.status = rules.OPEN
        invite.answered_at = None


# --- the calendar event of a moved booking ---------------------------------------------------


def update_calendar_event(runtime: Runtime, booking_id: int, event_id: str) -> None:
    """Outbox job: move the booking's Google Calendar event to the booking's time, in place
    (Google tells the attendee). A booking cancelled meanwhile needs nothing."""
    from integrations.calendars.google_source import GoogleEventWriter
    from web.services.google import credentials_for
    from web.services.invites.calendar_jobs import CalendarWriteFailed

    with transaction(runtime.sessions, read_only=True) as session:
        booking = session.get(models.Booking, booking_id)
        if booking is None or booking.status != "active":
            return
        user = session.get(models.User, booking.user_id)
        assert user is not None
        zone = zone_name(user, user_config(runtime, user))
        interval = Interval(aware(booking.start), aware(booking.end))
        sequence = booking.sequence
        calendar_id = (
            session.scalar(
                select(models.Calendar.external_id).where(
                    models.Calendar.user_id == booking.user_id,
                    models.Calendar.kind == "google",
                    models.Calendar.receives_events.is_(True),
                )
            )
            or "primary"
        )
        user_id = booking.user_id
    creds = credentials_for(runtime, user_id)
    if creds is None:
        raise CalendarWriteFailed("Google Calendar needs reconnecting to move the event")
    GoogleEventWriter(
        creds,
        calendar_id=calendar_id,
        api_endpoint=runtime.config.google.api_endpoint,
        zone=zone,
        timeout=runtime.config.google.timeout,
    ).move_event(event_id, interval, sequence=sequence)
