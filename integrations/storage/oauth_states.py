"""Pending Google authorizations (`oauth_states`): single use, short-lived, kept server-side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from integrations.storage import models


@dataclass(frozen=True)
class TakenState:
    """A state answered by Google: its sealed PKCE verifier and whether it was still fresh."""

    code_verifier_encrypted: bytes
    fresh: bool


def begin(
    session: Session,
    state: str,
    user_id: int,
    code_verifier_encrypted: bytes,
    *,
    now: datetime,
    lifetime: timedelta,
) -> None:
    """Keep a new state; the user's old, unfinished attempts are of no further use."""
    session.execute(
        delete(models.OAuthState).where(
            models.OAuthState.user_id == user_id, models.OAuthState.created_at < now - lifetime
        )
    )
    session.add(
        models.OAuthState(
            state=state,
            user_id=user_id,
            code_verifier_encrypted=code_verifier_encrypted,
            created_at=now,
        )
    )


def take(
    session: Session, state: str, user_id: int, *, now: datetime, lifetime: timedelta
) -> TakenState | None:
    """Use up the user's unused state (whatever happens next); None when there is none such."""
    row = session.get(models.OAuthState, state) if state else None
    if row is None or row.user_id != user_id or row.used_at is not None:
        return None
    row.used_at = now
    return TakenState(row.code_verifier_encrypted, now - row.created_at <= lifetime)
