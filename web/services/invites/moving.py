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
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrations.emails import withdrawn as withdrawn_email
from integrations.icalendar_invite import build_ics
from integrations.invite_email import Party, build_email
from integrations.storage.bookings import Booking, BookingInvite, BookingStore
from integrations.storage.db import transaction
from integrations.storage.dbapi import aware_utc
from integrations.storage.outbox import enqueue, enqueue_email
from scheduler import booking_rules
from scheduler import invites as rules
from scheduler.invites import OfferedTime, format_spans
from scheduler.model import Interval, SchedulingPolicy
from web.composition import Runtime
from web.errors import Conflict, UserError
from web.services.invites.answer import SUGGEST_DAYS, more_times
from web.services.invites.busy import owner_calendars, read_busy
from web.services.invites.errors import InviteGone, InviteNotFound, TimeUnavailable
from web.services.invites.model import (
    LONGEST_MEETING,
    checked_note,
    invite_url,
    user_config,
    zone_name,
)
from web.services.invites.notify import (
    Notice,
    booking_event,
    invitee_manage_url,
    queue_booking_notices,
    reader_zones,
)
from web.services.invites.reoffer import restore_by_rules
from web.services.tokens import hash_token

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
        store = BookingStore(session)
        booking, invite = _find(store, who)
        return _choices_view(runtime, store, invite, booking, now=now)


def offer_new_times(runtime: Runtime, who: _Who, *, now: datetime) -> MoveChoices:
    """ "Pick another time": add fresh free times to the booked invite (the booking stays).

    The owner's calendars are read live for the coming weeks first, with no lock held; then,
    in one transaction, fresh times come from the calendar store through the same slot path as
    "suggest other times", and every time on the invite that the live answer shows busy is
    taken off it.
    """
    with transaction(runtime.sessions, read_only=True) as session:
        booking, invite = _find(BookingStore(session), who)
        if booking.status != "active":
            raise InviteGone("this coffee is cancelled")
        user_id = booking.user_id
    horizon = Interval(now, now + timedelta(days=SUGGEST_DAYS + 1))
    calendars = owner_calendars(runtime, user_id)
    busy = read_busy(calendars, horizon).intervals
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        booking, invite = _find(store, who, lock=True)
        if booking.status != "active":
            raise InviteGone("this coffee is cancelled")
        more_times(runtime, store, invite, now=now)
        store.withdraw_offered(
            invite.id,
            lambda t: bool(booking_rules.too_close(t.interval, busy, calendars.policy.buffer)),
        )
        invite = store.refreshed(invite)
        return _choices_view(runtime, store, invite, booking, now=now)


def move_booking(
    runtime: Runtime, who: _Who, start: datetime, *, now: datetime, note: str = ""
) -> MoveChoices:
    """Move the booking to `start` (one of its move choices), atomically, or raise
    TimeUnavailable (with the times still possible), InviteGone or InviteNotFound.

    The same booking row moves: same UID, SEQUENCE + 1, the Google event updated in place.
    """
    start = aware_utc(start)
    note = checked_note(note)
    with transaction(runtime.sessions, read_only=True) as session:
        store = BookingStore(session)
        booking, invite = _find(store, who)
        if booking.status != "active":
            raise InviteGone("this coffee is cancelled")
        view = _choices_view(runtime, store, invite, booking, now=now)
        user_id, seen = booking.user_id, booking.start
        own = booking.interval
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
            store = BookingStore(session)
            # Lock the owner first, as accept does: moves and accepts of one owner queue here.
            store.lock_owner(user_id)
            booking, invite = _find(store, who, lock=True)
            if booking.status != "active":
                raise InviteGone("this coffee is cancelled")
            if booking.start != seen:
                raise TimeUnavailable("this coffee was just moved", ())
            current = _choices_view(runtime, store, invite, booking, now=now)
            chosen = rules.find_offered(current.times, start, now=now)
            if chosen is None:
                raise TimeUnavailable("that time is no longer available", current.times)
            if booking_rules.too_close(chosen.interval, busy, calendars.policy.buffer):
                taken = chosen.start
                store.withdraw_offered(invite.id, lambda t: t.start == taken)
                conflict = TimeUnavailable(
                    "that time is no longer free",
                    [t for t in current.times if t.start != chosen.start],
                )
            else:
                booking = _move(
                    runtime, store, invite, booking, chosen, who=who, now=now, note=note
                )
                return _choices_view(runtime, store, store.refreshed(invite), booking, now=now)
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
    store: BookingStore,
    invite: BookingInvite,
    booking: Booking,
    chosen: OfferedTime,
    *,
    who: _Who,
    now: datetime,
    note: str,
) -> Booking:
    """Move the booking to `chosen` and queue what follows; the moved booking."""
    old = booking.interval
    booking = store.move(booking.id, chosen.interval)  # the unique index of active starts decides
    # The old time is free again for the owner's other open invites; the new one is not.
    store.offer_freed(booking.user_id, old, now=now)
    restore_by_rules(runtime, store, booking.user_id, old.start, now=now)
    _withdraw_ruled_out(runtime, store, booking, now=now)
    if booking.calendar_event_id:
        enqueue(
            store.session,
            user_id=booking.user_id,
            kind="calendar_update",
            payload={"booking_id": booking.id, "event_id": booking.calendar_event_id},
            now=now,
        )
    # The invitee's links, when they moved it themselves (the token is stored only hashed).
    manage = invite_url(runtime.config, who.token) if who.token else ""
    _queue_moved_emails(
        runtime,
        store,
        invite,
        booking,
        old,
        by_owner=who.by_owner,
        now=now,
        note=note,
        manage_url=manage,
    )
    return booking


def _withdraw_ruled_out(
    runtime: Runtime, store: BookingStore, booking: Booking, *, now: datetime
) -> None:
    """Take off the owner's open invites the times the moved booking now rules out: within
    its buffer, and its day (or week) once full."""
    user = store.owner(booking.user_id)
    config = user_config(runtime, user)
    zone, policy = ZoneInfo(zone_name(user, config)), config.scheduling
    week = booking_rules.week_bounds(booking.start.astimezone(zone).date(), zone)
    lo, hi = week.start - LONGEST_MEETING - policy.buffer, week.end + policy.buffer
    held = store.held(booking.user_id, lo, hi)
    store.withdraw_times(
        [
            t.id
            for t in store.open_times(booking.user_id, lo, hi)
            if booking_rules.time_problem(t.interval, bookings=held, zone=zone, policy=policy)
        ]
    )


def _choices_view(
    runtime: Runtime,
    store: BookingStore,
    invite: BookingInvite,
    booking: Booking,
    *,
    now: datetime,
) -> MoveChoices:
    user = store.owner(booking.user_id)
    contact = store.contact(booking.contact_id)
    assert contact is not None
    config = user_config(runtime, user)
    owner_zone = zone_name(user, config)
    times = (
        _allowed(invite, booking, config.scheduling, ZoneInfo(owner_zone), store, now=now)
        if booking.status == "active"
        else ()
    )
    return MoveChoices(
        booking_id=booking.id,
        start=booking.start,
        end=booking.end,
        owner_name=user.name,
        contact_name=contact.name,
        owner_timezone=owner_zone,
        invitee_timezone=invite.invitee_timezone,
        times=tuple(times),
        moved_from=booking.moved_from,
    )


def _allowed(
    invite: BookingInvite,
    booking: Booking,
    policy: SchedulingPolicy,
    zone: ZoneInfo,
    store: BookingStore,
    *,
    now: datetime,
) -> list[OfferedTime]:
    """The invite's times the booking may move to: offered and not withdrawn, not its own
    time, outside the notice period, and allowed by the owner's other bookings (buffer, day
    and week caps) and by the times the owner's other open invites promise (one time, one
    invite), soonest first."""
    offered = sorted((t for t in invite.times if not t.withdrawn), key=lambda t: t.start)
    own = booking.start
    offered = [t for t in offered if t.start != own and t.start >= now + policy.notice]
    if not offered:
        return []
    lo = booking_rules.week_bounds(offered[0].start.astimezone(zone).date(), zone).start
    hi = booking_rules.week_bounds(offered[-1].start.astimezone(zone).date(), zone).end
    others = store.held(
        booking.user_id,
        lo - LONGEST_MEETING - policy.buffer,
        hi + policy.buffer,
        but=booking.id,
    )
    promised = [
        t.interval
        for t in store.open_times(
            booking.user_id,
            lo - LONGEST_MEETING - policy.buffer,
            hi + policy.buffer,
            unexpired_at=now,
        )
    ]
    seen: set[datetime] = set()
    allowed = []
    for t in offered:
        if t.start in seen:
            continue
        seen.add(t.start)
        if booking_rules.time_problem(
            t.interval, bookings=others, offered=promised, zone=zone, policy=policy
        ):
            continue
        allowed.append(t)
    return allowed


def _find(store: BookingStore, who: _Who, *, lock: bool = False) -> tuple[Booking, BookingInvite]:
    """The booking `who` names (its latest, for a token) and its invite; InviteNotFound when
    there is none for them."""
    if who.token is not None:
        invite = store.invite_by_token(hash_token(who.token), lock=lock)
        if invite is None:
            raise InviteNotFound("no such invite")
        booking = store.latest_booking(invite.id, lock=lock)
        if booking is None:
            raise InviteGone("nothing is booked for this invite")
        return booking, invite
    assert who.booking_id is not None
    booking = store.booking(who.booking_id, lock=lock)
    if booking is None or booking.user_id != who.user_id:
        raise InviteNotFound("no such booking")
    found = store.invite_with_times(booking.invite_id)
    assert found is not None
    return booking, found


def _widened(interval: Interval, by: timedelta) -> Interval:
    return Interval(interval.start - by, interval.end + by)


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
    invite_id: int,
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
    store = BookingStore(session)
    withdrawn = store.withdraw_invite(invite_id, now=now)
    owner, invitee = store.parties(withdrawn.id)
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
        linked = {} if sent_on else {"invite_id": withdrawn.id}
        enqueue_email(
            session,
            user_id=withdrawn.user_id,
            message=msg,
            now=now,
            not_before=now + delay if delay else None,
            purpose="withdraw",
            **linked,
        )
    return invitee


def _queue_moved_emails(
    runtime: Runtime,
    store: BookingStore,
    invite: BookingInvite,
    booking: Booking,
    old: Interval,
    *,
    by_owner: bool,
    now: datetime,
    note: str,
    manage_url: str = "",
) -> None:
    user = store.owner(booking.user_id)
    owner_zone = zone_name(user, user_config(runtime, user))
    owner, invitee = store.parties(invite.id)
    event = booking_event(runtime, store, booking, owner, invitee)
    ics = build_ics(event, method="REQUEST", dtstamp=now)
    base = runtime.config.web.base_url
    # The invitee's booking page, as their confirmation email linked it (whoever moved it).
    manage_url = manage_url or invitee_manage_url(store, booking)
    readers: list[tuple[Party, Party, bool, list[tuple[str, str]]]] = [
        (owner, invitee, True, [("Open", f"{base}/invites/bookings/{booking.id}")]),
        (invitee, owner, False, [("Your booking", f"{manage_url}/booking")] if manage_url else []),
    ]
    notices = []
    for to, sender, is_owner, links in readers:
        if not to.email:
            continue
        zones = reader_zones(invite, owner_zone, owner=is_owner)
        subject, paragraphs = moved_text(
            reader_is_owner=is_owner,
            by_owner=by_owner,
            owner=owner.name,
            invitee=invitee.name or invitee.email,
            new=format_spans(booking.start, booking.end, zones),
            old=format_spans(old.start, old.end, zones),
            note=note,
        )
        notices.append(Notice(to, sender, subject, paragraphs, links))
    queue_booking_notices(
        runtime, store, booking, notices, ics=ics, method="REQUEST", purpose="moved", now=now
    )


# --- withdrawing an open invite, with a minute to undo ---------------------------------------


def withdraw_invite(
    runtime: Runtime, user_id: int, invite_id: int, *, now: datetime, note: str = ""
) -> Withdrawn:
    """The owner withdraws an open invite (its link then answers 410). The invitee's kind note
    waits in the outbox for UNDO_WINDOW, so an undo in time sends nothing."""
    note = checked_note(note)
    with transaction(runtime.sessions) as session:
        invite = BookingStore(session).invite(invite_id, lock=True)
        if invite is None or invite.user_id != user_id:
            raise InviteNotFound("no such invite")
        if invite.status != rules.OPEN:
            raise InviteGone(f"this invite is {invite.status}")
        invitee = withdraw_in(runtime, session, invite.id, now=now, note=note, delay=UNDO_WINDOW)
        return Withdrawn(invite.id, invitee.name, now + UNDO_WINDOW, told=False)


def withdrawn(runtime: Runtime, user_id: int, invite_id: int, *, now: datetime) -> Withdrawn:
    """A withdrawn invite, for the page that offers the undo."""
    with transaction(runtime.sessions, read_only=True) as session:
        store = BookingStore(session)
        invite = store.invite(invite_id)
        if invite is None or invite.user_id != user_id or invite.status != "cancelled":
            raise InviteNotFound("no such withdrawn invite")
        contact = store.contact(invite.contact_id)
        until = (invite.answered_at or now) + UNDO_WINDOW
        return Withdrawn(invite.id, contact.name if contact else "", until, told=now >= until)


def undo_withdraw(runtime: Runtime, user_id: int, invite_id: int, *, now: datetime) -> None:
    """Open the invite again, unless its minute has passed (UserError): the note to the
    invitee is dropped unsent."""
    with transaction(runtime.sessions) as session:
        store = BookingStore(session)
        invite = store.invite(invite_id, lock=True)
        if invite is None or invite.user_id != user_id:
            raise InviteNotFound("no such invite")
        if invite.status != "cancelled" or invite.answered_at is None:
            raise Conflict("this invite is not withdrawn")
        if now >= invite.answered_at + UNDO_WINDOW:
            raise Conflict("the minute to undo has passed; the invitee has been told")
        mine = store.unsent_withdraw_notes(user_id, invite.id)
        if invite.email and not mine:
            raise UserError("the invitee is already being told; it is too late to undo")
        store.drop_messages(mine)
        store.reopen(invite.id)


# --- the calendar event of a moved booking ---------------------------------------------------


def update_calendar_event(runtime: Runtime, booking_id: int, event_id: str) -> None:
    """Outbox job: move the booking's Google Calendar event to the booking's time, in place
    (Google tells the attendee). A booking cancelled meanwhile needs nothing."""
    from integrations.calendars.google_source import GoogleEventWriter
    from web.services.google import credentials_for
    from web.services.invites.calendar_jobs import CalendarWriteFailed

    with transaction(runtime.sessions, read_only=True) as session:
        store = BookingStore(session)
        booking = store.booking(booking_id)
        if booking is None or booking.status != "active":
            return
        user = store.owner(booking.user_id)
        zone = zone_name(user, user_config(runtime, user))
        interval, sequence = booking.interval, booking.sequence
        calendar_id = store.event_calendar(booking.user_id)
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
