"""Past meetings with contacts, found in the owner's calendars, become unconfirmed interactions.

Read from the calendar store, so every kind of calendar counts (ICS, CalDAV, Google). An
occurrence counts when it has ended, is not cancelled, the owner did not decline it, and one of
its attendees (or its organizer) has a contact's email. Each occurrence is logged once per contact
as a "meeting" with source "calendar", `confirmed = False` (the user confirms in bulk), and
`external_id = "<UID>/<YYYY-MM-DD>"`, so reading the calendar again never duplicates it, and an
occurrence the user rejected stays rejected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from integrations.storage import models


@dataclass(frozen=True, slots=True)
class Attendance:
    uid: str
    on: date
    summary: str
    emails: tuple[str, ...]  # lowercased attendee and organizer addresses, without the owner's


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
