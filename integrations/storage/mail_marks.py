"""Marks of things done once: a reminder per booking and reader, a digest per user and week,
a digest link per nonce. `mark_once` inserts with ON CONFLICT DO NOTHING in the caller's
transaction and says whether this caller was first, so two workers racing send one email."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from integrations.storage import models

MARKS: Any = models.MailMark.__table__  # a Table; the ORM types it as FromClause


def mark_once(session: Session, *, user_id: int, kind: str, key: str, now: datetime) -> bool:
    """Record (kind, key); True if this call recorded it, False if it was there already."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    stmt = (
        upsert(MARKS)
        .values(user_id=user_id, kind=kind, key=key[:200], created_at=now)
        .on_conflict_do_nothing()
        .returning(MARKS.c.id)
    )
    # RETURNING, not rowcount: the driver's rowcount is not reliable for DO NOTHING.
    return session.connection().execute(stmt).first() is not None


def is_marked(session: Session, *, kind: str, key: str) -> bool:
    mark = models.MailMark
    found = session.scalar(select(mark.id).where(mark.kind == kind, mark.key == key[:200]))
    return found is not None


def unmark(session: Session, *, kind: str, key: str) -> None:
    mark = models.MailMark
    session.execute(delete(mark).where(mark.kind == kind, mark.key == key[:200]))
