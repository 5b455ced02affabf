"""Accepting an invite: the live calendar check, then one short booking transaction."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.utils import make_msgid
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from integrations.storage.db import snapshot, writing
from integrations.storage.dbapi import aware_utc
from integrations.storage.invites import AcceptTarget, InviteStore
from integrations.storage.outbox import NewJob, enqueue_all
from scheduler import booking_rules
from scheduler import invites as rules
from scheduler.model import BusyReport, CalendarWarning, Interval, SchedulingPolicy
from web.composition import Runtime
from web.services.invites.busy import OwnerCalendars, open_calendars, read_busy
from web.services.invites.errors import InviteGone, InviteNotFound, TimeUnavailable
from web.services.invites.model import (
    LONGEST_MEETING,
    BookingView,
    check_zone,
    invite_url,
)
from web.services.invites.pages import load_invite
from web.services.tokens import hash_token

log = logging.getLogger(__name__)


def accept_invite(
    runtime: Runtime,
    token: str,
    start: datetime,
    *,
    now: datetime,
    invitee_timezone: str = "",
) -> BookingView:
    """Book the chosen time, atomically, or raise InviteNotFound / InviteGone / TimeUnavailable.

    First, with no lock held: the owner's calendars are asked live about the chosen start and
    what may follow it (at most LIVE_TIMEOUT per answer, LIVE_DEADLINE in all). Then one short
    unit of work with no network I/O: lock the invite and the owner (PostgreSQL FOR UPDATE;
    SQLite BEGIN IMMEDIATE), check the time is still offered, check it against what the
    calendars answered and, through
    scheduler.booking_rules, the buffer and the daily and weekly caps against the owner's
    active bookings; insert the booking under the unique (owner, start) index for active
    bookings and withdraw the times it rules out from the owner's other open invites. The
    calendar event and the emails go to the outbox in the same transaction.
    """
    start = aware_utc(start)
    token_hash = hash_token(token)
    # The live calendar check happens before the lock is taken: every other writer would
    # wait on a lock held across it.
    with snapshot(runtime.engine) as conn:
        owner = InviteStore(conn).owner_calendars(token_hash=token_hash)
    if owner is None:
        raise InviteNotFound("no such invite")
    calendars = open_calendars(runtime, owner)
    busy = _live_check(calendars, start)
    policy, zone = calendars.policy, calendars.zone
    conflict: TimeUnavailable | None = None
    try:
        with writing(runtime.engine) as conn:
            store = InviteStore(conn)
            target = store.lock_for_accept(token_hash)
            if target is None:
                raise InviteNotFound("no such invite")
            times = target.times
            if target.status == "accepted":
                raise TimeUnavailable("this invite has already been accepted")
            if rules.link_state(target.status, target.expires_at, now=now) != rules.OPEN:
                raise InviteGone("expired" if target.status == rules.OPEN else target.status)
            chosen = rules.find_offered(times, start, now=now)
            if chosen is None:
                raise TimeUnavailable(
                    "that time is no longer available", rules.remaining(times, now=now)
                )
            interval = chosen.interval
            widened = _widened(interval, policy.buffer)
            for warning in busy.warnings:
                log.warning("accept invite %s: %s", target.id, warning)
            # The owner's active bookings the rules look at: the chosen time's week and buffer.
            week = booking_rules.week_bounds(interval.start.astimezone(zone).date(), zone)
            held = store.active_bookings(
                target.user_id,
                min(week.start, widened.start - LONGEST_MEETING),
                max(week.end, widened.end),
            )
            starts = [h.start for h in held]
            if booking_rules.too_close(interval, [*held, *busy.intervals], policy.buffer):
                # The owner got busy since the invite was sent: take the time off this
                # invite (and every other open one); that is committed, then refused.
                store.withdraw_overlapping(target.user_id, interval)
                conflict = _refusal("that time is no longer free", store, target, policy, zone, now)
            elif booking_rules.cap_problem(interval.start, starts, zone=zone, policy=policy):
                conflict = _refusal(
                    "that day is no longer available", store, target, policy, zone, now
                )
            else:
                booked = _book(
                    runtime,
                    store,
                    target,
                    interval,
                    now=now,
                    invitee_timezone=check_zone(invitee_timezone),
                    manage_url=invite_url(runtime.config, token),
                    unread=busy.warnings,
                )
                # Take off other open invites every time the booking rules out: those within
                # the buffer of it, and all those of its day (or week) once full.
                store.withdraw_overlapping(target.user_id, widened)
                for span in booking_rules.full_ranges(
                    interval.start, starts, zone=zone, policy=policy
                ):
                    store.withdraw_starting_in(target.user_id, span)
    except IntegrityError:
        # Another accept booked this owner's start first: the unique index said no.
        view = load_invite(runtime, token, now=now)
        raise TimeUnavailable(
            "that time was just booked by someone else",
            [t for t in view.remaining if t.start != start],
        ) from None
    if conflict is not None:
        raise conflict
    return booked


def _live_check(calendars: OwnerCalendars, start: datetime) -> BusyReport:
    """Ask the owner's calendars, before any lock, about the span any time offered at `start`
    lies in with its buffer (no meeting is longer than LONGEST_MEETING). Whether `start` is
    on offer at all is the transaction's to say."""
    if not calendars.sources:  # nothing to read
        return BusyReport((), tuple(calendars.warnings))
    buffer = calendars.policy.buffer
    return read_busy(calendars, Interval(start - buffer, start + LONGEST_MEETING + buffer))


def _widened(interval: Interval, by: timedelta) -> Interval:
    return Interval(interval.start - by, interval.end + by)


def _refusal(
    reason: str,
    store: InviteStore,
    target: AcceptTarget,
    policy: SchedulingPolicy,
    zone: ZoneInfo,
    now: datetime,
) -> TimeUnavailable:
    """The accept's refusal (raised once the unit of work committed): with the remaining
    times (but the chosen one) that the owner's bookings and the caps still allow (for the 409
    page: read for the weeks of all the invite's times)."""
    times = target.times
    weeks = [booking_rules.week_bounds(t.start.astimezone(zone).date(), zone) for t in times]
    lo = min(*(w.start for w in weeks), *(t.start - LONGEST_MEETING - policy.buffer for t in times))
    hi = max(*(w.end for w in weeks), *(t.end + policy.buffer for t in times))
    held = store.active_bookings(target.user_id, lo, hi)
    starts = [h.start for h in held]
    remaining = [
        t
        for t in rules.remaining(times, now=now)
        if booking_rules.too_close(t.interval, held, policy.buffer) == []
        and booking_rules.cap_problem(t.start, starts, zone=zone, policy=policy) is None
    ]
    return TimeUnavailable(reason, remaining)


def _book(
    runtime: Runtime,
    store: InviteStore,
    target: AcceptTarget,
    chosen: Interval,
    *,
    now: datetime,
    invitee_timezone: str,
    manage_url: str,
    unread: Sequence[CalendarWarning] = (),
) -> BookingView:
    domain = runtime.config.mail.from_address.partition("@")[2] or "meetagain.local"
    booked = store.book(
        target,
        chosen,
        ical_uid=f"{secrets.token_hex(16)}@{domain}",
        now=now,
        invitee_timezone=invitee_timezone,
    )  # the unique index decides here
    _queue_booking_messages(
        store.conn,
        owner=target.user_id,
        email=target.email,
        booking_id=booked.id,
        domain=domain,
        google=target.google_connected,
        now=now,
        manage_url=manage_url,
        unread=unread,
    )
    return booked


def _unread_json(unread: Sequence[CalendarWarning]) -> list[dict[str, str]]:
    """Each calendar not read, by name, with the line the owner's notice shows for it."""
    return [{"calendar": w.calendar, "warning": str(w)} for w in unread]


def _queue_booking_messages(
    conn: Connection,
    *,
    owner: int,
    email: str,
    booking_id: int,
    domain: str,
    google: bool,
    now: datetime,
    manage_url: str = "",
    unread: Sequence[CalendarWarning] = (),
) -> None:
    """Queue what a booking sets off, in the booking's transaction. The emails are rendered by
    the outbox worker (they are the slow part), from the booking as it stands, with the
    Message-ID fixed here. `unread`: the calendars the live check could not read, which the
    owner's notice names."""
    at = now.isoformat()
    # The owner is told of every answer.
    jobs = [
        NewJob(
            "email_render",
            {
                "render": "booking_owner",
                "booking_id": booking_id,
                "google": google,
                "purpose": "answer",
                "subject": f"{email or 'The invitee'} accepted",
                "at": at,
                **({"unread_calendars": _unread_json(unread)} if unread else {}),
            },
            make_msgid(domain=domain),
        )
    ]
    if google:
        jobs.append(NewJob("calendar_insert", {"booking_id": booking_id}))
    if email:
        jobs.append(
            NewJob(
                "email_render",
                {
                    "render": "booking_invitee",
                    "booking_id": booking_id,
                    "with_ics": not google,
                    "manage_url": manage_url,
                    "purpose": "confirmation",
                    "subject": f"Booking confirmation to {email}",
                    "at": at,
                },
                make_msgid(domain=domain),
            )
        )
    enqueue_all(conn, user_id=owner, jobs=jobs, now=now)
