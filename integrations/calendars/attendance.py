"""Past meetings with contacts, found in the owner's calendars, become unconfirmed interactions.

An event counts when it has ended, is not cancelled, the owner did not decline it, and one of its
attendees (or its organizer) has a contact's email. Each occurrence is logged once per contact
as a "meeting" with source "calendar", `confirmed = False` (the user confirms in bulk), and
`external_id = "<UID>/<YYYY-MM-DD>"`, so reading the calendar again never duplicates it, and an
occurrence the user rejected stays rejected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from integrations.calendars.errors import CalendarError
from integrations.storage import models


@dataclass(frozen=True, slots=True)
class Attendance:
    uid: str
    on: date
    summary: str
    emails: tuple[str, ...]  # lowercased attendee and organizer addresses, without the owner's


def _address(value: Any) -> str:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def _as_datetime(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    return datetime(value.year, value.month, value.day, tzinfo=zone)


def attended(
    data: bytes,
    *,
    start: date,
    end: date,
    zone: ZoneInfo,
    now: datetime,
    me: Sequence[str] = (),
    source: str = "calendar",
) -> list[Attendance]:
    """Occurrences between `start` and `end` (dates in `zone`) that ended before `now`."""
    import icalendar
    import recurring_ical_events

    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as exc:  # icalendar raises ValueError and friends on broken input
        raise CalendarError(f"{source}: not a readable calendar: {exc}") from None
    owners = {m.strip().lower() for m in me}
    result: list[Attendance] = []
    try:
        events = recurring_ical_events.of(calendar).between(start, end + timedelta(days=1))
    except Exception as exc:
        raise CalendarError(f"{source}: cannot expand events: {exc}") from None
    for event in events:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        attendees = event.get("ATTENDEE", [])
        if not isinstance(attendees, list):
            attendees = [attendees]
        emails: list[str] = []
        declined = False
        for attendee in attendees:
            address = _address(attendee)
            partstat = str(getattr(attendee, "params", {}).get("PARTSTAT", "")).upper()
            if address in owners:
                declined = declined or partstat == "DECLINED"
            elif address and partstat != "DECLINED":
                emails.append(address)
        organizer = event.get("ORGANIZER")
        if organizer is not None:
            address = _address(organizer)
            if address and address not in owners:
                emails.append(address)
        if declined or not emails:
            continue
        begin = event.get("DTSTART")
        finish = event.get("DTEND") or begin
        if begin is None:
            continue
        begin_at = _as_datetime(begin.dt, zone)
        end_at = _as_datetime(finish.dt, zone) if finish is not None else begin_at
        if end_at > now:
            continue
        day = begin_at.astimezone(zone).date()
        if not start <= day <= end:
            continue
        result.append(
            Attendance(
                uid=str(event.get("UID", "")) or f"{source}-{begin_at.isoformat()}",
                on=day,
                summary=str(event.get("SUMMARY", "")),
                emails=tuple(dict.fromkeys(emails)),
            )
        )
    result.sort(key=lambda a: (a.on, a.uid))
    return result


def log_attendance(session: Session, user_id: int, found: Iterable[Attendance]) -> int:
    """Store unconfirmed interactions for occurrences with contacts; returns how many are new."""
    emails = cast(Table, models.ContactEmail.__table__)
    table = cast(Table, models.Interaction.__table__)
    conn = session.connection()
    by_email = dict(
        conn.execute(
            select(emails.c.email_lower, emails.c.contact_id).where(emails.c.user_id == user_id)
        ).all()
    )
    known = {
        (cid, ext)
        for cid, ext in conn.execute(
            select(table.c.contact_id, table.c.external_id).where(
                table.c.user_id == user_id, table.c.external_id.is_not(None)
            )
        )
    }
    now = datetime.now(UTC)
    rows = []
    for item in found:
        external_id = f"{item.uid}/{item.on.isoformat()}"
        for cid in dict.fromkeys(by_email[e] for e in item.emails if e in by_email):
            if (cid, external_id) in known:
                continue
            known.add((cid, external_id))
            rows.append(
                {
                    "user_id": user_id,
                    "contact_id": cid,
                    "occurred_on": item.on,
                    "kind": "meeting",
                    "notes": item.summary[:500],
                    "source": "calendar",
                    "confirmed": False,
                    "external_id": external_id,
                    "created_at": now,
                }
            )
    if rows:
        conn.execute(insert(table), rows)
    return len(rows)


def from_occurrences(found: Iterable[Any], *, zone: ZoneInfo) -> list[Attendance]:
    """Past meetings among stored occurrences (any kind of calendar): those with attendees.

    The store keeps declined and cancelled events as not busy; those are no meetings either.
    """
    result = [
        Attendance(
            uid=o.uid or o.key or o.start.isoformat(),
            on=o.start.astimezone(zone).date(),
            summary=o.summary,
            emails=tuple(o.attendees),
        )
        for o in found
        if o.busy and o.attendees
    ]
    result.sort(key=lambda a: (a.on, a.uid))
    return result
