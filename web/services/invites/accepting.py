"""Accepting an invite: the locked accept transaction, booking rules, and what a booking queues."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from email.utils import make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integrations.storage import models
from integrations.storage.db import is_sqlite
from scheduler import booking_rules
from scheduler import invites as rules
from scheduler.invites import OfferedTime
from scheduler.model import BusyReport, Interval, SchedulingPolicy
from web.composition import Runtime
from web.services.invites.busy import OwnerCalendars, owner_calendars, read_busy
from web.services.invites.driver import _Tx, _utc, _write_transaction
from web.services.invites.errors import InviteGone, InviteNotFound, TimeUnavailable
from web.services.invites.helpers import (
    LONGEST_MEETING,
    _aware,
    _check_zone,
    _zone_name,
    hash_token,
    invite_url,
    user_config,
)
from web.services.invites.pages import load_invite
from web.services.invites.sql import _accept_sql
from web.services.invites.views import BookingView

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]


log = logging.getLogger(__name__)


def _span(interval: Interval) -> dict[str, datetime]:
    return {
        "t_start": interval.start,
        "t_end": interval.end,
        "earliest": interval.start - LONGEST_MEETING,
    }


def accept_invite(
    runtime: Runtime,
    token: str,
    start: datetime,
    *,
    now: datetime,
    invitee_timezone: str = "",
) -> BookingView:
    """Book the chosen time, atomically, or raise InviteNotFound / InviteGone / TimeUnavailable.

    First, with no lock and no transaction: the invite is read and the owner's calendars are
    asked live about the chosen time (at most LIVE_TIMEOUT per answer, LIVE_DEADLINE in all).
    Then one short transaction with no network I/O: lock the invite and the owner (PostgreSQL
    FOR UPDATE; SQLite BEGIN IMMEDIATE), check the time is still offered and is the time the
    calendars were asked about, check it against what they answered, the buffer and the daily
    and weekly caps against the owner's active bookings, insert the booking under the unique
    (owner, start) index for active bookings and withdraw the times it rules out from the
    owner's other open invites. The calendar event and the emails go to the outbox in the
    same transaction.

    The busiest write of the app, so it runs prebuilt statements on the driver's connection
    and reads only the bookings of the chosen time's week.
    """
    start = _aware(start)
    sql = _accept_sql()
    engine = runtime.engine
    sqlite = is_sqlite(engine)
    integrity_error: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
    conflict: TimeUnavailable | None = None
    calendars = owner_calendars(runtime, token=token)
    # What does not depend on the database is worked out before the lock is taken, and so is
    # the live calendar check: every other writer would wait on a lock held across it.
    token_hash, manage_url = hash_token(token), invite_url(runtime.config, token)
    limits = _Limits(start, calendars.zone)
    checked = _live_check(runtime, calendars, token, start, now=now)
    try:
        with writer_lock(runtime), _write_transaction(runtime) as tx:
            rows = tx.run(sql.invite, token_hash=token_hash).fetchall()
            if not rows:
                raise InviteNotFound("no such invite")
            invite_id, owner, contact_id, status, expires_at, email, google_status = rows[0][:7]
            if not sqlite:
                tx.run(sql.lock_owner, owner=owner).fetchall()
            times = [
                OfferedTime(_utc(r[7]), _utc(r[8]), r[9], bool(r[10]))
                for r in rows
                if r[7] is not None
            ]
            state = rules.link_state(status, _utc(expires_at), now=now)
            if status == "accepted":
                raise TimeUnavailable("this invite has already been accepted")
            if state != rules.OPEN:
                raise InviteGone("expired" if status == rules.OPEN else status)
            chosen = rules.find_offered(times, start, now=now)
            if chosen is None:
                raise TimeUnavailable(
                    "that time is no longer available", rules.remaining(times, now=now)
                )
            policy, zone = calendars.policy, calendars.zone
            interval = chosen.interval
            # The owner's other active bookings near the chosen time, on its day, in its week.
            bounds = limits.bounds(interval, policy.buffer)
            near, on_day, in_week = tx.run(sql.held_counts, owner=owner, **bounds).fetchone()
            widened = _widened(interval, policy.buffer)
            if checked is None or not (checked[0] is None or checked[0].contains(widened)):
                # The invite changed since it was read: the calendars were not asked about
                # this time. Rare; the invitee picks again rather than book it unchecked.
                raise TimeUnavailable(
                    "that time is no longer available", rules.remaining(times, now=now)
                )
            busy = checked[1]
            for warning in busy.warnings:
                log.warning("accept invite %s: %s", invite_id, warning)
            if near or booking_rules.too_close(interval, busy.intervals, policy.buffer):
                # The owner got busy since the invite was sent: take the time off this
                # invite (and every other open one).
                tx.run(sql.withdraw_all, owner=owner, **_span(interval))
                conflict = TimeUnavailable(
                    "that time is no longer free",
                    _bookable(tx, owner, times, policy, zone, now=now, skip=chosen.start),
                )
            elif on_day >= policy.max_per_day or in_week >= policy.max_per_week:
                conflict = TimeUnavailable(
                    "that day is no longer available",
                    _bookable(tx, owner, times, policy, zone, now=now, skip=chosen.start),
                )
            else:
                booked = _book(
                    runtime,
                    tx,
                    invite_id=invite_id,
                    owner=owner,
                    contact_id=contact_id,
                    email=email,
                    google=google_status == "ok",
                    chosen=chosen,
                    now=now,
                    invitee_timezone=invitee_timezone,
                    manage_url=manage_url,
                    unread=busy.warnings,
                )
                # Take off other open invites every time the booking rules out: those
                # within the buffer of it, and all those of its day (or week) once full.
                tx.run(sql.withdraw_near, owner=owner, **_span(widened))
                if on_day + 1 >= policy.max_per_day:
                    tx.run(sql.withdraw_range, owner=owner, lo=limits.day_lo, hi=limits.day_hi)
                if in_week + 1 >= policy.max_per_week:
                    tx.run(sql.withdraw_range, owner=owner, lo=limits.week_lo, hi=limits.week_hi)
                return booked
    except integrity_error:
        # Another accept booked this owner's start first: the unique index said no.
        view = load_invite(runtime, token, now=now)
        raise TimeUnavailable(
            "that time was just booked by someone else",
            [t for t in view.remaining if t.start != start],
        ) from None
    assert conflict is not None
    raise conflict


def _live_check(
    runtime: Runtime, calendars: OwnerCalendars, token: str, start: datetime, *, now: datetime
) -> tuple[Interval | None, BusyReport] | None:
    """Ask the owner's calendars about the chosen time and its buffer, before any lock: the
    span asked about (None: the answer holds for any, as there is no calendar to ask) and the
    answer, or None when the time is not on offer (the transaction then says why)."""
    if not calendars.sources:  # nothing to read, so no need to look the time up first
        return None, BusyReport((), tuple(calendars.warnings))
    try:
        view = load_invite(runtime, token, now=now)
    except InviteNotFound:
        return None
    if view.state != rules.OPEN:
        return None
    chosen = rules.find_offered(view.times, start, now=now)
    if chosen is None:
        return None
    widened = _widened(chosen.interval, calendars.policy.buffer)
    return widened, read_busy(calendars, widened)


class _Limits:
    """The booking rules around a chosen start, computed once: its day and its week (Monday
    to Sunday) in the owner's zone, the buffer around the chosen time (what
    booking_rules.too_close and cap_problem check), and the range of bookings that matter."""

    def __init__(self, start: datetime, zone: ZoneInfo) -> None:
        # Local midnights in UTC, as booking_rules.day_bounds and week_bounds give them.
        day = start.astimezone(zone).date()
        monday = day - timedelta(days=day.weekday())
        self.day_lo, self.day_hi = _midnight(day, zone), _midnight(day + ONE_DAY, zone)
        self.week_lo, self.week_hi = _midnight(monday, zone), _midnight(monday + ONE_WEEK, zone)

    def bounds(self, chosen: Interval, buffer: timedelta) -> dict[str, datetime]:
        """The held_counts statement's bounds for `chosen` (which starts at the start given)."""
        near_lo, near_hi = chosen.start - buffer, chosen.end + buffer
        # A booking within the buffer starts before near_hi and ends after near_lo, so it
        # starts after near_lo - LONGEST_MEETING.
        return {
            "lo": min(self.week_lo, near_lo - LONGEST_MEETING),
            "hi": max(self.week_hi, near_hi),
            "near_lo": near_lo,
            "near_hi": near_hi,
            "day_lo": self.day_lo,
            "day_hi": self.day_hi,
            "week_lo": self.week_lo,
            "week_hi": self.week_hi,
        }


ONE_DAY, ONE_WEEK = timedelta(days=1), timedelta(days=7)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _widened(interval: Interval, by: timedelta) -> Interval:
    return Interval(interval.start - by, interval.end + by)


def _bookable(
    tx: _Tx,
    owner: int,
    times: Sequence[OfferedTime],
    policy: SchedulingPolicy,
    zone: ZoneInfo,
    *,
    now: datetime,
    skip: datetime,
) -> list[OfferedTime]:
    """The remaining times (but `skip`) that the owner's bookings and the caps still allow
    (for the 409 page: read for the weeks of all the invite's times)."""
    weeks = [booking_rules.week_bounds(t.start.astimezone(zone).date(), zone) for t in times]
    lo = min(*(w.start for w in weeks), *(t.start - LONGEST_MEETING - policy.buffer for t in times))
    hi = max(*(w.end for w in weeks), *(t.end + policy.buffer for t in times))
    rows = tx.run(_accept_sql().held, owner=owner, lo=lo, hi=hi).fetchall()
    held = [Interval(_utc(s), _utc(e)) for s, e in rows]
    starts = [h.start for h in held]
    return [
        t
        for t in rules.remaining(times, now=now)
        if t.start != skip
        and not booking_rules.too_close(t.interval, held, policy.buffer)
        and booking_rules.cap_problem(t.start, starts, zone=zone, policy=policy) is None
    ]


@contextmanager
def writer_lock(runtime: Runtime) -> Iterator[None]:
    """On a SQLite file, queue writers on an OS file lock before BEGIN IMMEDIATE.

    SQLite's own busy handler polls with growing sleeps, so under load a waiting writer sleeps
    far longer than the transaction it waits for; an flock() wakes the next writer as soon as
    the lock is free, across threads and processes (gunicorn workers). PostgreSQL needs none.
    """
    engine = runtime.engine
    database = engine.url.database or ""
    if fcntl is None or not is_sqlite(engine) or database in ("", ":memory:"):
        yield
        return
    fd = os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _restore(session: Session, user_id: int, interval: Interval, *, now: datetime) -> None:
    """A cancelled coffee frees its time: offer it again on the owner's other open invites
    (unless another booking holds it). Accepting re-checks the calendars live anyway."""
    still_open = (
        select(models.Invite.id)
        .where(
            models.Invite.id == models.InviteTime.invite_id,
            models.Invite.status == rules.OPEN,
        )
        .exists()
    )
    other_booking = (
        select(models.Booking.id)
        .where(
            models.Booking.user_id == user_id,
            models.Booking.status == "active",
            models.Booking.start < models.InviteTime.end,
            models.Booking.end > models.InviteTime.start,
        )
        .exists()
    )
    session.execute(
        update(models.InviteTime)
        .where(
            models.InviteTime.user_id == user_id,
            models.InviteTime.withdrawn.is_(True),
            models.InviteTime.start < interval.end,
            models.InviteTime.start > interval.start - LONGEST_MEETING,
            models.InviteTime.end > interval.start,
            models.InviteTime.start > now,
            still_open,
            ~other_booking,
        )
        .values(withdrawn=False)
        .execution_options(synchronize_session=False)
    )


def _restore_by_rules(
    runtime: Runtime, session: Session, user_id: int, start: datetime, *, now: datetime
) -> None:
    """A cancelled coffee may also free its day (or week) and the buffer around it: offer
    again the times of open invites in that week that the remaining bookings allow."""
    user = session.get(models.User, user_id)
    assert user is not None
    config = user_config(runtime, user)
    zone, policy = ZoneInfo(_zone_name(user, config)), config.scheduling
    week = booking_rules.week_bounds(start.astimezone(zone).date(), zone)
    lo, hi = week.start - LONGEST_MEETING - policy.buffer, week.end + policy.buffer
    bookings = [
        Interval(_aware(s), _aware(e))
        for s, e in session.execute(
            select(models.Booking.start, models.Booking.end).where(
                models.Booking.user_id == user_id,
                models.Booking.status == "active",
                models.Booking.start >= lo,
                models.Booking.start < hi,
            )
        )
    ]
    withdrawn = session.scalars(
        select(models.InviteTime)
        .join(models.Invite, models.Invite.id == models.InviteTime.invite_id)
        .where(
            models.InviteTime.user_id == user_id,
            models.InviteTime.withdrawn.is_(True),
            models.InviteTime.start >= week.start,
            models.InviteTime.start < week.end,
            models.InviteTime.start > now,
            models.Invite.status == rules.OPEN,
        )
    )
    for row in withdrawn:
        span = Interval(_aware(row.start), _aware(row.end))
        if booking_rules.time_problem(span, bookings=bookings, zone=zone, policy=policy) is None:
            row.withdrawn = False


def _book(
    runtime: Runtime,
    tx: _Tx,
    *,
    invite_id: int,
    owner: int,
    contact_id: int,
    email: str,
    google: bool,
    chosen: OfferedTime,
    now: datetime,
    invitee_timezone: str,
    manage_url: str,
    unread: Sequence[str] = (),
) -> BookingView:
    sql = _accept_sql()
    domain = runtime.config.mail.from_address.partition("@")[2] or "meetagain.local"
    uid = f"{secrets.token_hex(16)}@{domain}"
    row = tx.run(
        sql.insert_booking,
        user_id=owner,
        invite_id=invite_id,
        contact_id=contact_id,
        start=chosen.start,
        end=chosen.end,
        status="active",
        ical_uid=uid,
        sequence=0,
        calendar_event_id="",
        calendar_error="",
        met=None,
        created_at=now,
    ).fetchone()  # the unique index decides here
    assert row is not None
    booking_id = row[0]
    zone = _check_zone(invitee_timezone)
    if zone:
        tx.run(sql.accepted_in_zone, invite_id=invite_id, at=now, zone=zone)
    else:
        tx.run(sql.accepted, invite_id=invite_id, at=now)
    _queue_booking_messages(
        tx,
        owner=owner,
        email=email,
        booking_id=booking_id,
        domain=domain,
        google=google,
        now=now,
        manage_url=manage_url,
        unread=unread,
    )
    return BookingView(
        id=booking_id,
        start=chosen.start,
        end=chosen.end,
        status="active",
        ical_uid=uid,
        sequence=0,
        calendar_event_id="",
        calendar_error="",
        met=None,
    )


def _queue_booking_messages(
    tx: _Tx,
    *,
    owner: int,
    email: str,
    booking_id: int,
    domain: str,
    google: bool,
    now: datetime,
    manage_url: str = "",
    unread: Sequence[str] = (),
) -> None:
    """Queue what a booking sets off, in the booking's transaction. The emails are rendered by
    the outbox worker (they are the slow part), from the booking as it stands, with the
    Message-ID fixed here. `unread`: the calendars the live check could not read, which the
    owner's notice names."""
    at = now.isoformat()
    # The owner is told of every answer.
    jobs: list[tuple[str, dict[str, Any], str]] = [
        (
            "email_render",
            {
                "render": "booking_owner",
                "booking_id": booking_id,
                "google": google,
                "purpose": "answer",
                "subject": f"{email or 'The invitee'} accepted",
                "at": at,
                **({"unread_calendars": list(unread)} if unread else {}),
            },
            make_msgid(domain=domain),
        )
    ]
    if google:
        jobs.append(("calendar_insert", {"booking_id": booking_id}, ""))
    if email:
        jobs.append(
            (
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
    tx.run_many(
        _accept_sql().insert_outbox,
        [
            {
                "user_id": owner,
                "kind": kind,
                "payload": payload,
                "message_id": message_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "created_at": now,
            }
            for kind, payload, message_id in jobs
        ],
    )
