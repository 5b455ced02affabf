"""The calendar store: event occurrences per calendar and each calendar's sync state.

Pages, planning and the CLI read busy time and past meetings here; only the sync writes.
The writes are SQLAlchemy Core statements in the caller's unit of work. The reads on the path
of `meetagain slots` (statuses, busy time) are plain SQL in `calendar_reads`, run here over the
session's own connection, so the CLI can run the same statements without importing SQLAlchemy
(see that module).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from integrations.calendars.events import Occurrence
from integrations.calendars.sync import DELTA, REPLACE, SyncResult, SyncState
from integrations.storage import calendar_reads, models
from integrations.storage.calendar_reads import CalendarStatus as CalendarStatus  # re-exported
from integrations.storage.dbapi import Db
from scheduler.model import Interval

OCC = cast(Table, models.CalendarOccurrence.__table__)
SYNC = cast(Table, models.CalendarSync.__table__)


def ensure_state(session: Session, calendar_id: int, user_id: int, now: datetime) -> None:
    """A sync-state row for the calendar, due at once if it is new.

    Workers side by side may both find it missing: the insert does nothing when another
    transaction added the row meanwhile (ON CONFLICT DO NOTHING), rather than failing the pass.
    """
    if session.get(models.CalendarSync, calendar_id) is not None:
        return
    values: dict[str, Any] = {
        "calendar_id": calendar_id,
        "user_id": user_id,
        "next_sync_at": now,
        "last_error": "",
        "warnings": "",
        "sync_token": "",
        "etag": "",
        "last_modified": "",
        "content_hash": "",
        "channel_id": "",
        "channel_resource_id": "",
        "channel_token_hash": "",
    }
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    session.connection().execute(upsert(SYNC).values(**values).on_conflict_do_nothing())


def load_state(session: Session, calendar_id: int) -> SyncState:
    row = session.get(models.CalendarSync, calendar_id)
    if row is None:
        return SyncState()
    covers = None
    if row.covers_start is not None and row.covers_end is not None:
        covers = Interval(row.covers_start, row.covers_end)
    return SyncState(row.sync_token, row.etag, row.last_modified, row.content_hash, covers)


def _rows(calendar_id: int, user_id: int, found: Iterable[Occurrence]) -> list[dict[str, Any]]:
    return [
        {
            "calendar_id": calendar_id,
            "user_id": user_id,
            "source_key": o.key[:500],
            "uid": o.uid[:500],
            "start": o.start,
            "end": o.end,
            "busy": o.busy,
            "summary": o.summary,
            "location": o.location,
            "attendees": list(o.attendees),
        }
        for o in found
    ]


def delta_spans(session: Session, calendar_id: int, result: SyncResult) -> list[Interval]:
    """The time a DELTA sync's changes touch: the stored occurrences it replaces or removes,
    and those it stores (read before `save_result`)."""
    keys = {*result.removed, *(o.key for o in result.occurrences)}
    spans = [Interval(o.start, o.end) for o in result.occurrences]
    if keys:
        rows = session.connection().execute(
            select(OCC.c.start, OCC.c.end).where(
                OCC.c.calendar_id == calendar_id, OCC.c.source_key.in_(keys)
            )
        )
        spans += [Interval(r.start, r.end) for r in rows]
    return spans


def save_result(
    session: Session,
    calendar_id: int,
    user_id: int,
    result: SyncResult,
    *,
    now: datetime,
    next_at: datetime,
) -> None:
    """Apply a sync's occurrences and new state; clears the last error and the claim."""
    conn = session.connection()
    if result.mode == REPLACE:
        conn.execute(delete(OCC).where(OCC.c.calendar_id == calendar_id))
    elif result.mode == DELTA:
        keys = {*result.removed, *(o.key for o in result.occurrences)}
        if keys:
            conn.execute(
                delete(OCC).where(OCC.c.calendar_id == calendar_id, OCC.c.source_key.in_(keys))
            )
    rows = _rows(calendar_id, user_id, result.occurrences)
    if rows:
        conn.execute(insert(OCC), rows)
    state = result.state
    values: dict[str, Any] = {
        "sync_token": state.sync_token,
        "etag": state.etag[:500],
        "last_modified": state.last_modified[:200],
        "content_hash": state.content_hash[:100],
        "covers_start": state.covers.start if state.covers else None,
        "covers_end": state.covers.end if state.covers else None,
        "last_synced_at": now,
        "last_attempt_at": now,
        "last_error": "",
        "next_sync_at": next_at,
        "claimed_until": None,
    }
    if result.mode != "unchanged":
        # Stored as the lines shown (the calendar is this row; reads attribute them again).
        values["warnings"] = "\n".join(str(w) for w in result.warnings)[:4000]
    conn.execute(update(SYNC).where(SYNC.c.calendar_id == calendar_id).values(**values))


def save_error(
    session: Session, calendar_id: int, message: str, *, now: datetime, next_at: datetime
) -> None:
    """Record why a sync failed; the stored occurrences stay (planning goes on from them)."""
    session.connection().execute(
        update(SYNC)
        .where(SYNC.c.calendar_id == calendar_id)
        .values(
            last_error=message[:2000],
            last_attempt_at=now,
            next_sync_at=next_at,
            claimed_until=None,
        )
    )


def queue(session: Session, calendar_id: int, now: datetime) -> None:
    """Make the calendar due now ("Read now")."""
    session.connection().execute(
        update(SYNC).where(SYNC.c.calendar_id == calendar_id).values(next_sync_at=now)
    )


def _due(now: datetime) -> Any:
    return (SYNC.c.next_sync_at <= now) & (
        SYNC.c.claimed_until.is_(None) | (SYNC.c.claimed_until < now)
    )


def any_due(session: Session, *, now: datetime) -> bool:
    """Whether some calendar's sync is due (a read: no lock)."""
    found = session.connection().execute(select(SYNC.c.calendar_id).where(_due(now)).limit(1))
    return found.first() is not None


def claim_due(session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[int]:
    """Claim up to `limit` calendars whose sync is due and not held by another worker.

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets several workers claim side by side; SQLite's
    write lock (the caller begins IMMEDIATE) serialises the claim.
    """
    query = (
        select(SYNC.c.calendar_id)
        .where(_due(now))
        .order_by(SYNC.c.next_sync_at, SYNC.c.calendar_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    conn = session.connection()
    ids = [row[0] for row in conn.execute(query)]
    if ids:
        conn.execute(
            update(SYNC).where(SYNC.c.calendar_id.in_(ids)).values(claimed_until=now + lease)
        )
    return ids


def busy(
    session: Session, user_id: int, interval: Interval, calendar_ids: Sequence[int]
) -> list[Interval]:
    """Busy occurrences of the given calendars overlapping `interval` (unmerged)."""
    return calendar_reads.busy(Db.of_session(session), user_id, interval, calendar_ids)


def _occurrence(r: Any) -> Occurrence:
    return Occurrence(
        r.start,
        r.end,
        r.busy,
        uid=r.uid,
        summary=r.summary,
        location=r.location,
        attendees=tuple(r.attendees or ()),
        key=r.source_key,
    )


def upcoming(session: Session, user_id: int, interval: Interval) -> list[Occurrence]:
    """Every occurrence of the user's calendars overlapping `interval`, busy or not (trips and
    events the owner attends with contacts are read from these)."""
    query = (
        select(OCC)
        .where(OCC.c.user_id == user_id, OCC.c.start < interval.end, OCC.c.end > interval.start)
        .order_by(OCC.c.start)
    )
    return [_occurrence(r) for r in session.connection().execute(query)]


def occurrences(
    session: Session, calendar_id: int, *, before: datetime, since: datetime
) -> list[Occurrence]:
    """Occurrences of one calendar that ended in [since, before), with attendees."""
    query = (
        select(OCC)
        .where(OCC.c.calendar_id == calendar_id, OCC.c.end <= before, OCC.c.end > since)
        .order_by(OCC.c.start)
    )
    return [_occurrence(r) for r in session.connection().execute(query)]


def statuses(session: Session, user_id: int, *, now: datetime) -> list[CalendarStatus]:
    """Every calendar of the user with its sync state, ordered by kind and name."""
    return calendar_reads.statuses(Db.of_session(session), user_id, now=now)


def ensure_all_states(session: Session, now: datetime) -> None:
    """A sync state for every calendar (rows added before the store existed, or since by the
    app or Google's list, get one, due at once)."""
    cal = cast(Table, models.Calendar.__table__)
    missing = session.connection().execute(
        select(cal.c.id, cal.c.user_id)
        .outerjoin(SYNC, SYNC.c.calendar_id == cal.c.id)
        .where(SYNC.c.calendar_id.is_(None))
    )
    for calendar_id, user_id in missing.all():
        ensure_state(session, calendar_id, user_id, now)


@dataclass(frozen=True)
class NextSync:
    """When one of a user's calendars is next due (None: it has no sync state yet)."""

    calendar_id: int
    due: datetime | None


def next_syncs(session: Session, user_id: int) -> list[NextSync]:
    """Each of the user's calendars with when its next sync is due, by calendar id."""
    cal = cast(Table, models.Calendar.__table__)
    rows = session.connection().execute(
        select(cal.c.id, SYNC.c.next_sync_at)
        .outerjoin(SYNC, SYNC.c.calendar_id == cal.c.id)
        .where(cal.c.user_id == user_id)
        .order_by(cal.c.id)
    )
    return [NextSync(calendar_id, due) for calendar_id, due in rows]


# --- Google push channels ---------------------------------------------------------------------


@dataclass(frozen=True)
class PushChannel:
    """The Google push channel open on a calendar ("" ids: none yet)."""

    calendar_id: int
    id: str
    resource_id: str
    token_hash: str
    expires_at: datetime | None


_CHANNEL = (
    SYNC.c.calendar_id,
    SYNC.c.channel_id,
    SYNC.c.channel_resource_id,
    SYNC.c.channel_token_hash,
    SYNC.c.channel_expires_at,
)


def push_channel(session: Session, calendar_id: int) -> PushChannel | None:
    """The calendar's push channel; None when the calendar has no sync state."""
    row = (
        session.connection()
        .execute(select(*_CHANNEL).where(SYNC.c.calendar_id == calendar_id))
        .first()
    )
    return PushChannel(*row) if row is not None else None


def channel_named(session: Session, channel_id: str) -> PushChannel | None:
    """The push channel with this id (what a notification from Google names)."""
    row = (
        session.connection()
        .execute(select(*_CHANNEL).where(SYNC.c.channel_id == channel_id).limit(1))
        .first()
    )
    return PushChannel(*row) if row is not None else None


def set_push_channel(
    session: Session,
    calendar_id: int,
    *,
    channel_id: str,
    resource_id: str,
    token_hash: str,
    expires_at: datetime | None,
) -> None:
    """Record the channel just opened on the calendar (nothing if its state is gone)."""
    session.connection().execute(
        update(SYNC)
        .where(SYNC.c.calendar_id == calendar_id)
        .values(
            channel_id=channel_id,
            channel_resource_id=resource_id,
            channel_token_hash=token_hash,
            channel_expires_at=expires_at,
        )
    )
