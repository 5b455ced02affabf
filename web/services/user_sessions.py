"""Server-side sessions: each signed-in browser is a row; deleting the row ends it.

The cookie carries a random token; the table keeps only its SHA-256, so a copy of the database
cannot be used to sign in. Sign-out, a password change, "sign out everywhere" and an admin
disabling a user all end sessions by deleting rows.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from integrations.storage.db import transaction
from integrations.storage.user_sessions import BrowserSession, UserSessionStore
from web.composition import Runtime
from web.services.accounts import UserView
from web.services.tokens import hash_token

# "Last seen" is written at most this often per session, so pages stay reads.
TOUCH_EVERY = timedelta(minutes=5)
# A session nobody used for this long is over (the cookie lives as long).
IDLE_LIMIT = timedelta(days=14)


SessionView = BrowserSession


def start_session(
    runtime: Runtime, user_id: int, *, user_agent: str, address: str, now: datetime
) -> str:
    """A new session for `user_id`; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    with transaction(runtime.sessions) as session:
        UserSessionStore(session).start(
            user_id, hash_token(token), user_agent=user_agent, address=address, now=now
        )
    return token


def resolve_session(runtime: Runtime, token: str, *, now: datetime) -> UserView | None:
    """The user a session token belongs to, or None when that session has ended."""
    with transaction(runtime.sessions) as session:
        found = UserSessionStore(session).signed_in(hash_token(token))
    if found is None:
        return None
    if found.account.disabled or now - found.last_seen_at > IDLE_LIMIT:
        with transaction(runtime.sessions) as session:
            UserSessionStore(session).end(found.session_id)
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        # A write of its own, taken as a writer from the start (SQLite: BEGIN IMMEDIATE), so
        # a page that reads never has to upgrade its read lock.
        with transaction(runtime.sessions) as session:
            UserSessionStore(session).touch(found.session_id, now=now)
    return found.account


def list_sessions(runtime: Runtime, user_id: int, current_token: str = "") -> list[SessionView]:
    """The user's sessions, most recently used first; `current` marks the asking browser."""
    mine = hash_token(current_token) if current_token else ""
    with transaction(runtime.sessions, read_only=True) as session:
        return UserSessionStore(session).of_user(user_id, mine)


def end_session(runtime: Runtime, user_id: int, session_id: int) -> bool:
    """End one of the user's sessions; False when there is no such session of theirs."""
    with transaction(runtime.sessions) as session:
        return UserSessionStore(session).end_of_user(user_id, session_id)


def end_session_by_token(runtime: Runtime, token: str) -> None:
    """Sign-out: the session behind this cookie ends, on the server too."""
    with transaction(runtime.sessions) as session:
        UserSessionStore(session).end_by_token(hash_token(token))


def end_sessions(runtime: Runtime, user_id: int, *, keep_token: str = "") -> int:
    """End every session of the user except the one with `keep_token`; how many ended."""
    keep = hash_token(keep_token) if keep_token else ""
    with transaction(runtime.sessions) as session:
        return UserSessionStore(session).end_all(user_id, keep_token_hash=keep)
