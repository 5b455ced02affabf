"""The outbox: work that must happen after a transaction commits (emails, calendar writes).

`enqueue` writes a row in the caller's transaction, so the work exists if and only if the
change that caused it committed. Workers `claim` rows atomically (PostgreSQL: `FOR UPDATE SKIP
LOCKED`, so several workers can run; SQLite: one `UPDATE ... WHERE status = 'pending'` statement),
which leases them for a while: a worker killed mid-send leaves the row pending and it is sent
again when the lease runs out. Delivery is therefore at-least-once; emails carry a Message-ID
fixed at enqueue time, so a duplicate is recognisable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from integrations.storage.db import is_sqlite, transaction
from integrations.storage.models import OutboxMessage
from integrations.storage.prepared import compiled, run
from scheduler.invites import retry_delay

PENDING = "pending"
SENT = "sent"
FAILED = "failed"

LEASE = timedelta(minutes=2)
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=2)
MAX_ATTEMPTS = 10
# SMTP line ends; headers are folded only past RFC 5322's hard limit of 998 characters, since
# the email package can drop the quotes of a long display name when it folds an address
# header ("Doe, Jane" <j@x> would come back as two recipients).
SMTP_POLICY = SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Job:
    """A claimed outbox row, detached from any session."""

    id: int
    user_id: int
    kind: str
    payload: dict[str, Any]
    message_id: str
    attempts: int


@dataclass(frozen=True)
class Queued:
    """An outbox row just written."""

    id: int


@dataclass(frozen=True)
class NewJob:
    """Work to queue: its kind, what it needs, and an email's fixed Message-ID."""

    kind: str
    payload: dict[str, Any]
    message_id: str = ""


def enqueue(
    db: Session | Connection,
    *,
    user_id: int,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    message_id: str = "",
    not_before: datetime | None = None,
) -> Queued:
    """Add work to the outbox inside the caller's transaction (due now, or at `not_before`)."""
    conn = db.connection() if isinstance(db, Session) else db
    row = _row(user_id, NewJob(kind, payload, message_id), now)
    if not_before is not None:
        row["next_attempt_at"] = not_before
    return Queued(conn.execute(_insert_returning_id(), row).scalar_one())


def enqueue_all(
    db: Session | Connection, *, user_id: int, jobs: Sequence[NewJob], now: datetime
) -> None:
    """Add several jobs inside the caller's transaction, in one INSERT on its connection."""
    conn = db.connection() if isinstance(db, Session) else db
    if jobs:
        rows = [_row(user_id, job, now) for job in jobs]
        # Compiled once per number of rows (see `prepared`): a booking's accept queues its
        # messages here. One statement with a row of values per job, one round trip.
        statement = compiled(
            conn, f"outbox.insert_{len(rows)}", lambda: _insert_rows(len(rows)), _COLUMNS
        )
        params = {f"{key}_{n}": v for n, row in enumerate(rows) for key, v in row.items()}
        run(conn, statement, params)


def _row(user_id: int, job: NewJob, now: datetime) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "kind": job.kind,
        "payload": job.payload,
        "message_id": job.message_id,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "created_at": now,
    }


_COLUMNS = sorted(_row(0, NewJob("", {}), datetime.min.replace(tzinfo=UTC)))


def _insert_rows(count: int) -> Any:
    """INSERT of `count` rows, parameters named COLUMN_N (N from 0)."""
    table = _table()
    return insert(table).values(
        [
            {key: bindparam(f"{key}_{n}", type_=table.c[key].type) for key in _COLUMNS}
            for n in range(count)
        ]
    )


def _table() -> Any:
    return OutboxMessage.__table__  # a Table; the ORM types it as FromClause


@lru_cache(maxsize=1)
def _insert_statement() -> Any:
    """Built once per process: a constant statement, cheaper to keep than to build."""
    return insert(_table())


@lru_cache(maxsize=1)
def _insert_returning_id() -> Any:
    return _insert_statement().returning(_table().c.id)


def enqueue_email(
    session: Session,
    *,
    user_id: int,
    message: EmailMessage,
    now: datetime,
    purpose: str = "",
    not_before: datetime | None = None,
    **extra: Any,
) -> Queued:
    """Queue a built email; its Message-ID (required) is what makes duplicates recognisable."""
    message_id = str(message.get("Message-ID", ""))
    if not message_id:
        raise ValueError("an outbox email needs a Message-ID")
    recipients = [
        a.addr_spec for h in ("To", "Cc") for a in getattr(message.get(h), "addresses", ())
    ]
    sender = str(message.get("Sender") or "") or message["From"].addresses[0].addr_spec
    payload = {
        "sender": sender,
        "recipients": recipients,
        "subject": str(message.get("Subject", "")),
        "purpose": purpose,
        # SMTP wants CRLF line ends; a bare-LF message is one endless line to a server.
        "message": message.as_bytes(policy=SMTP_POLICY).decode("ascii", "surrogateescape"),
        **extra,
    }
    return enqueue(
        session,
        user_id=user_id,
        kind="email",
        payload=payload,
        now=now,
        message_id=message_id,
        not_before=not_before,
    )


def claim(
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    limit: int = 10,
    lease: timedelta = LEASE,
) -> list[Job]:
    """Lease up to `limit` due rows for this worker and return them, oldest first."""
    # A plain read first: an idle worker polling every second must not take the write lock.
    with transaction(sessions) as session:
        anything = session.scalar(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
            .limit(1)
        )
    if anything is None:
        return []
    with transaction(sessions) as session:
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if not is_sqlite(session.get_bind()):  # type: ignore[arg-type]
            due = due.with_for_update(skip_locked=True)
        # One statement: on SQLite the write lock makes it atomic; the status check in the
        # WHERE clause means a row another worker already leased is never claimed twice.
        stmt = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()), OutboxMessage.status == PENDING)
            .values(attempts=OutboxMessage.attempts + 1, next_attempt_at=now + lease)
            .returning(
                OutboxMessage.id,
                OutboxMessage.user_id,
                OutboxMessage.kind,
                OutboxMessage.payload,
                OutboxMessage.message_id,
                OutboxMessage.attempts,
            )
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(stmt).all()
    return sorted((Job(*row) for row in rows), key=lambda j: j.id)


def mark_sent(sessions: sessionmaker[Session], job_id: int, *, now: datetime) -> None:
    """The work is done: never send it again."""
    with transaction(sessions) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == job_id)
            .values(status=SENT, sent_at=now, last_error="")
        )


def release(sessions: sessionmaker[Session], job_ids: Sequence[int], *, now: datetime) -> None:
    """Give claimed jobs back untried (a worker stopping): due again now, the attempt undone."""
    if not job_ids:
        return
    with transaction(sessions) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(list(job_ids)), OutboxMessage.status == PENDING)
            .values(attempts=OutboxMessage.attempts - 1, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )


def mark_failed(
    sessions: sessionmaker[Session],
    job_id: int,
    error: str,
    *,
    now: datetime,
    permanent: bool = False,
) -> str:
    """Record the failure; retry later with exponential backoff unless it cannot succeed.

    Returns the row's new status ("pending" for a retry, "failed" when it gave up).
    """
    with transaction(sessions) as session:
        row = session.get(OutboxMessage, job_id)
        if row is None:
            return FAILED
        row.last_error = error[:2000]
        if permanent or row.attempts >= MAX_ATTEMPTS:
            row.status = FAILED
        else:
            row.next_attempt_at = now + retry_delay(row.attempts, base=RETRY_BASE, cap=RETRY_CAP)
        return row.status


def retry_now(session: Session, user_id: int, job_id: int, *, now: datetime) -> bool:
    """Put a failed or waiting row of this user back in the queue to be tried at once."""
    row = session.get(OutboxMessage, job_id)
    if row is None or row.user_id != user_id or row.status == SENT:
        return False
    row.status = PENDING
    row.next_attempt_at = now
    return True


@dataclass(frozen=True)
class FailedJob:
    """A queued job that failed at least once and is not done: what the owner is shown."""

    id: int
    kind: str
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime
    payload: dict[str, Any]


def problems(session: Session, user_id: int, *, limit: int = 20) -> list[FailedJob]:
    """This user's jobs that failed at least once and are not delivered, newest first."""
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.user_id == user_id,
            OutboxMessage.status != SENT,
            OutboxMessage.last_error != "",
        )
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    return [
        FailedJob(
            r.id, r.kind, r.status, r.attempts, r.last_error, r.next_attempt_at, dict(r.payload)
        )
        for r in session.scalars(stmt)
    ]


def pending_count(session: Session, user_id: int | None = None) -> int:
    """How many rows are waiting to be delivered: one user's, or everyone's without a user."""
    from sqlalchemy import func

    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == PENDING)
    if user_id is not None:
        query = query.where(OutboxMessage.user_id == user_id)
    return int(session.scalar(query) or 0)


def message_ids(session: Session, user_id: int) -> set[str]:
    """The Message-IDs of every email queued for one user, to tell their mail from others'."""
    rows = session.scalars(
        select(OutboxMessage.message_id).where(
            OutboxMessage.user_id == user_id, OutboxMessage.message_id != ""
        )
    )
    return {m.strip() for m in rows}


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox, for monitoring: pending and given-up rows, the oldest age."""

    pending: int
    failed: int
    oldest_pending: datetime | None


def backlog(session: Session) -> Backlog:
    """The outbox as an operator watches it (every user's rows)."""
    from sqlalchemy import func

    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == PENDING
        )
    ).one()
    failed = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == FAILED)
    )
    return Backlog(pending=int(pending or 0), failed=int(failed or 0), oldest_pending=oldest)


def booking_manage_url(session: Session, user_id: int, booking_id: int, booked_at: datetime) -> str:
    """The invitee's cancel/reschedule link of a booking, as its confirmation email carried it
    (the invite token is stored only as a hash, so this row is the one place that has it)."""
    rows = session.scalars(
        select(OutboxMessage.payload).where(
            OutboxMessage.user_id == user_id,
            OutboxMessage.kind == "email_render",
            OutboxMessage.created_at >= booked_at - timedelta(minutes=5),
            OutboxMessage.created_at <= booked_at + timedelta(minutes=5),
        )
    )
    for payload in rows:
        if payload.get("booking_id") == booking_id and payload.get("manage_url"):
            return str(payload["manage_url"])
    return ""
