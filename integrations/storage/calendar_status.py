"""How fresh the stored calendars are, per kind, from their last-read columns: for monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from integrations.storage.models import Calendar


@dataclass(frozen=True)
class KindStatus:
    """The calendars of one kind (ics, google, caldav)."""

    kind: str
    calendars: int
    failing: int  # whose last read ended in an error
    oldest_read: datetime | None  # the least recently read (never read: when it was added)


def sync_status(session: Session) -> list[KindStatus]:
    """One row per calendar kind in use, ordered by kind."""
    read_or_added = func.coalesce(Calendar.last_read_at, Calendar.created_at)
    rows = session.execute(
        select(
            Calendar.kind,
            func.count(),
            func.sum(case((Calendar.last_error != "", 1), else_=0)),
            func.min(read_or_added),
        )
        .where(Calendar.counts_as_busy.is_(True))
        .group_by(Calendar.kind)
        .order_by(Calendar.kind)
    ).all()
    return [
        KindStatus(kind=kind, calendars=int(count), failing=int(failing or 0), oldest_read=oldest)
        for kind, count, failing, oldest in rows
    ]
