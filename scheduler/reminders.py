"""When the scheduled emails are due: reminders before a coffee and the Monday digest.

Wall-clock rules in the reader's zone, expanded per date (never by adding 24 h), so a reminder
"the day before at 17:00" is at 17:00 local on both sides of a daylight-saving change.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DIGEST_TIME = time(7, 0)
# A worker that was down on Monday morning still sends the week's digest until this late.
DIGEST_GRACE = timedelta(hours=12)


def at_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at wall-clock `at` in `zone` (a time skipped by DST lands just after the gap)."""
    moment = datetime.combine(day, at, tzinfo=zone)
    # A nonexistent local time does not survive the round trip through UTC: move past the gap.
    back = moment.astimezone(ZoneInfo("UTC")).astimezone(zone)
    return back if back.replace(tzinfo=None) != moment.replace(tzinfo=None) else moment


def reminder_at(start: datetime, zone: ZoneInfo, *, days_before: int, at: time) -> datetime:
    """When the reminder for a coffee starting at `start` is due, for a reader in `zone`."""
    day = start.astimezone(zone).date() - timedelta(days=days_before)
    return at_local(day, at, zone)


def reminder_due(
    start: datetime,
    booked_at: datetime,
    zone: ZoneInfo,
    *,
    now: datetime,
    days_before: int,
    at: time,
) -> bool:
    """Due now: the moment has come, the coffee has not started, and it was booked before the
    reminder moment (a coffee booked after it has just been confirmed: no reminder)."""
    if days_before <= 0:
        return False
    due = reminder_at(start, zone, days_before=days_before, at=at)
    return booked_at < due <= now < start


def digest_week(now: datetime, zone: ZoneInfo) -> tuple[str, date] | None:
    """The ISO week ("2026-W12") and its Monday, if that week's digest is due at `now`
    (Monday 07:00 local, up to DIGEST_GRACE later); else None."""
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    send_at = at_local(monday, DIGEST_TIME, zone)
    if not send_at <= now < send_at + DIGEST_GRACE:
        return None
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}", monday
