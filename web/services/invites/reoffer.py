"""Offering freed times again: after a coffee is cancelled or moved, the owner's other open
invites get back the times it held (and those its day or week now allows)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integrations.storage import models
from scheduler import booking_rules
from scheduler import invites as rules
from scheduler.model import Interval
from web.composition import Runtime
from web.services.invites.model import LONGEST_MEETING, aware, user_config, zone_name


def restore_times(session: Session, user_id: int, interval: Interval, *, now: datetime) -> None:
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


def restore_by_rules(
    runtime: Runtime, session: Session, user_id: int, start: datetime, *, now: datetime
) -> None:
    """A cancelled coffee may also free its day (or week) and the buffer around it: offer
    again the times of open invites in that week that the remaining bookings allow."""
    user = session.get(models.User, user_id)
    assert user is not None
    config = user_config(runtime, user)
    zone, policy = ZoneInfo(zone_name(user, config)), config.scheduling
    week = booking_rules.week_bounds(start.astimezone(zone).date(), zone)
    lo, hi = week.start - LONGEST_MEETING - policy.buffer, week.end + policy.buffer
    bookings = [
        Interval(aware(s), aware(e))
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
        span = Interval(aware(row.start), aware(row.end))
        if booking_rules.time_problem(span, bookings=bookings, zone=zone, policy=policy) is None:
            row.withdrawn = False
