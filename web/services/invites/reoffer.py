"""Offering freed times again: after a coffee is cancelled or moved, the owner's other open
invites get back the times it held (and those its day or week now allows)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from integrations.storage.bookings import BookingStore
from scheduler import booking_rules
from web.composition import Runtime
from web.services.invites.model import LONGEST_MEETING, user_config, zone_name
from web.services.places import withdraw_elsewhere


def restore_by_rules(
    runtime: Runtime, store: BookingStore, user_id: int, start: datetime, *, now: datetime
) -> None:
    """A cancelled coffee may also free its day (or week) and the buffer around it: offer
    again the times of open invites in that week that the remaining bookings allow."""
    user = store.owner(user_id)
    config = user_config(runtime, user)
    zone, policy = ZoneInfo(zone_name(user, config)), config.scheduling
    week = booking_rules.week_bounds(start.astimezone(zone).date(), zone)
    lo, hi = week.start - LONGEST_MEETING - policy.buffer, week.end + policy.buffer
    bookings = store.held(user_id, lo, hi)
    withdrawn = store.withdrawn_open_times(user_id, week.start, week.end, now=now)
    store.offer_again(
        [
            t.id
            for t in withdrawn
            if booking_rules.time_problem(t.interval, bookings=bookings, zone=zone, policy=policy)
            is None
        ]
    )
    # Never again a time offered for home on a day the owner is away (adding the trip took it
    # off; the freed times above may include it).
    store.session.flush()
    withdraw_elsewhere(store.session, config, user_id, lo, hi)
