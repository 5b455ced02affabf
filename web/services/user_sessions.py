"""Server-side sessions: each signed-in browser is a row; deleting the row ends it.

The cookie carries a random token; the table keeps only its SHA-256, so a copy of the database
cannot be used to sign in. Sign-out, a password change, "sign out everywhere" and an admin
disabling a user all end sessions by deleting rows.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from integrations.storage import models
from integrations.storage.db import transaction
from web.composition import Runtime
from web.services.accounts import UserView, user_view

# "Last seen" is written at most this often per session, so pages stay reads.
TOUCH_EVERY = timedelta(minutes=5)
# A session nobody used for this long is over (the cookie lives as long).
IDLE_LIMIT = timedelta(days=14)


@dataclass(frozen=True)
class SessionView:
    id: int
    user_agent: str
    address: str
    created_at: datetime
    last_seen_at: datetime
    current: bool = False


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    runtime: Runtime, user_id: int, *, user_agent: str, address: str, now: datetime
) -> str:
    """A new session for `user_id`; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    with transaction(runtime.sessions) as session:
        session.add(
            models.UserSession(
                user_id=user_id,
                token_hash=_hash(token),
                user_agent=user_agent[:300],
                address=address[:64],
                created_at=now,
                last_seen_at=now,
            )
        )
    return token


def resolve_session(runtime: Runtime, token: str, *, now: datetime) -> UserView | None:
    """The user a session token belongs to, or None when that session has ended."""
    token_hash = _hash(token)
    with transaction(runtime.sessions) as session:
        found = session.execute(
            select(models.UserSession.id, models.UserSession.last_seen_at, models.User)
            .join(models.User, models.User.id == models.UserSession.user_id)
            .where(models.UserSession.token_hash == token_hash)
        ).first()
        if found is None:
            return None
        session_id, last_seen, user = found
        view = user_view(user)
    if user.disabled or now - last_seen > IDLE_LIMIT:
        _write(runtime, delete(models.UserSession).where(models.UserSession.id == session_id))
        return None
    if now - last_seen >= TOUCH_EVERY:
        # A write of its own, taken as a writer from the start (SQLite: BEGIN IMMEDIATE), so
        # a page that reads never has to upgrade its read lock.
        _write(
            runtime,
            update(models.UserSession)
            .where(models.UserSession.id == session_id)
            .values(last_seen_at=now),
        )
    return view


def _write(runtime: Runtime, statement: Any) -> None:
    with transaction(runtime.sessions) as session:
        session.execute(statement)


def list_sessions(runtime: Runtime, user_id: int, current_token: str = "") -> list[SessionView]:
    """The user's sessions, most recently used first; `current` marks the asking browser."""
    mine = _hash(current_token) if current_token else ""
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(models.UserSession)
            .where(models.UserSession.user_id == user_id)
            .order_by(models.UserSession.last_seen_at.desc(), models.UserSession.id.desc())
        )
        return [
            SessionView(
                id=r.id,
                user_agent=r.user_agent,
                address=r.address,
                created_at=r.created_at,
                last_seen_at=r.last_seen_at,
                current=r.token_hash == mine,
            )
            for r in rows
        ]


def end_session(runtime: Runtime, user_id: int, session_id: int) -> bool:
    """End one of the user's sessions; False when there is no such session of theirs."""
    with transaction(runtime.sessions) as session:
        result = session.execute(
            delete(models.UserSession).where(
                models.UserSession.id == session_id, models.UserSession.user_id == user_id
            )
        )
        return bool(getattr(result, "rowcount", 0))


def end_session_by_token(runtime: Runtime, token: str) -> None:
    """Sign-out: the session behind this cookie ends, on the server too."""
    with transaction(runtime.sessions) as session:
        session.execute(
            delete(models.UserSession).where(models.UserSession.token_hash == _hash(token))
        )


def end_sessions(runtime: Runtime, user_id: int, *, keep_token: str = "") -> int:
    """End every session of the user except the one with `keep_token`; how many ended."""
    query = delete(models.UserSession).where(models.UserSession.user_id == user_id)
    if keep_token:
        query = query.where(models.UserSession.token_hash != _hash(keep_token))
    with transaction(runtime.sessions) as session:
        return int(getattr(session.execute(query), "rowcount", 0) or 0)
