"""The session store: one row per signed-in browser, keyed by the SHA-256 of its cookie token
(the token itself is never stored). Deleting a row ends that session.

It runs on the Session of the caller's unit of work (`db.transaction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from integrations.storage import models
from integrations.storage.accounts import Account, account
from integrations.storage.db import rows_affected


@dataclass(frozen=True)
class SignedIn:
    """A session found by its token hash, with the account it belongs to."""

    session_id: int
    last_seen_at: datetime
    account: Account


@dataclass(frozen=True)
class BrowserSession:
    """One of a user's sessions, as the settings page lists them; `current`: the browser
    asking."""

    id: int
    user_agent: str
    address: str
    created_at: datetime
    last_seen_at: datetime
    current: bool = False


class UserSessionStore:
    """SQL for sessions, on the Session of the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def start(
        self, user_id: int, token_hash: str, *, user_agent: str, address: str, now: datetime
    ) -> None:
        """A new session (the user agent and address cut to their columns' widths)."""
        self.session.add(
            models.UserSession(
                user_id=user_id,
                token_hash=token_hash,
                user_agent=user_agent[:300],
                address=address[:64],
                created_at=now,
                last_seen_at=now,
            )
        )

    def signed_in(self, token_hash: str) -> SignedIn | None:
        """The session with this token hash and its account, or None."""
        found = self.session.execute(_statements()["signed_in"], {"token_hash": token_hash}).first()
        if found is None:
            return None
        session_id, last_seen, user = found
        return SignedIn(session_id, last_seen, account(user))

    def of_user(self, user_id: int, current_token_hash: str = "") -> list[BrowserSession]:
        """The user's sessions, most recently used first; the one whose token hash is
        `current_token_hash` is marked current."""
        rows = self.session.scalars(_statements()["of_user"], {"user_id": user_id})
        return [
            BrowserSession(
                id=r.id,
                user_agent=r.user_agent,
                address=r.address,
                created_at=r.created_at,
                last_seen_at=r.last_seen_at,
                current=bool(current_token_hash) and r.token_hash == current_token_hash,
            )
            for r in rows
        ]

    def touch(self, session_id: int, *, now: datetime) -> None:
        """Record that the session was used at `now`."""
        self.session.execute(_statements()["touch"], {"session_id": session_id, "now": now})

    def end(self, session_id: int) -> None:
        self.session.execute(_statements()["end"], {"session_id": session_id})

    def end_of_user(self, user_id: int, session_id: int) -> bool:
        """End one of the user's sessions; False when there is no such session of theirs."""
        result = self.session.execute(
            _statements()["end_of_user"], {"session_id": session_id, "user_id": user_id}
        )
        return rows_affected(result) > 0

    def end_by_token(self, token_hash: str) -> None:
        self.session.execute(_statements()["end_by_token"], {"token_hash": token_hash})

    def end_all(self, user_id: int, *, keep_token_hash: str = "") -> int:
        """End every session of the user but the one with `keep_token_hash`; how many ended."""
        s = _statements()
        if keep_token_hash:
            result = self.session.execute(
                s["end_all_but"], {"user_id": user_id, "keep": keep_token_hash}
            )
        else:
            result = self.session.execute(s["end_all"], {"user_id": user_id})
        return rows_affected(result)


@lru_cache(maxsize=1)
def _statements() -> dict[str, Any]:
    """The store's statements, built once per process (constants with bind parameters)."""
    us: Any = models.UserSession.__table__  # a Table; the ORM types it as FromClause
    mine = us.c.user_id == bindparam("user_id")
    end_all = delete(us).where(mine)
    return dict(
        signed_in=select(models.UserSession.id, models.UserSession.last_seen_at, models.User)
        .join(models.User, models.User.id == models.UserSession.user_id)
        .where(models.UserSession.token_hash == bindparam("token_hash")),
        of_user=select(models.UserSession)
        .where(models.UserSession.user_id == bindparam("user_id"))
        .order_by(models.UserSession.last_seen_at.desc(), models.UserSession.id.desc()),
        touch=update(us)
        .where(us.c.id == bindparam("session_id"))
        .values(last_seen_at=bindparam("now")),
        end=delete(us).where(us.c.id == bindparam("session_id")),
        end_of_user=delete(us).where(us.c.id == bindparam("session_id"), mine),
        end_by_token=delete(us).where(us.c.token_hash == bindparam("token_hash")),
        end_all=end_all,
        end_all_but=end_all.where(us.c.token_hash != bindparam("keep")),
    )
