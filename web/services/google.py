"""The Google connection of one user, for the app: its calendars and the credential store.

Tokens (storage, refresh, revocation) are `integrations.google.credentials`; they live only in
`google_connections.token_encrypted` (Fernet), never in the session or logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from google.oauth2.credentials import Credentials

from integrations.google.credentials import NEEDS_RECONNECT, GoogleCredentialStore
from integrations.storage import calendars as calendar_rows
from integrations.storage import models
from integrations.storage.db import transaction
from web.composition import Runtime
from web.services.accounts import secret_box

__all__ = ["NEEDS_RECONNECT", "GoogleCalendarInfo", "credential_store"]


@dataclass(frozen=True)
class GoogleCalendarInfo:
    id: str
    summary: str
    primary: bool
    access_role: str


def _now() -> datetime:
    return datetime.now(UTC)


def credential_store(runtime: Runtime) -> GoogleCredentialStore:
    """The store of Google grants for this runtime's database and secret."""
    return GoogleCredentialStore(runtime.sessions, secret_box(runtime), runtime.config.google)


def connection(runtime: Runtime, user_id: int) -> models.GoogleConnection | None:
    return credential_store(runtime).connection(user_id)


def save_connection(
    runtime: Runtime,
    user_id: int,
    credentials: Credentials,
    granted_scopes: frozenset[str] | tuple[str, ...],
    account_email: str = "",
) -> None:
    """Store (or replace) the user's Google tokens, encrypted, and mark the connection ok."""
    credential_store(runtime).save(user_id, credentials, granted_scopes, account_email)


def mark_needs_reconnect(runtime: Runtime, user_id: int, detail: str) -> None:
    credential_store(runtime).mark_needs_reconnect(user_id, detail)


def credentials_for(runtime: Runtime, user_id: int) -> Credentials | None:
    """Usable Google credentials for the user (None: not connected, or needs reconnecting).

    Every refresh they make during later calls is saved; a revoked grant found by any call
    marks the connection "needs reconnecting" at once.
    """
    return credential_store(runtime).credentials(user_id)


def fetch_calendars(runtime: Runtime, credentials: Credentials) -> list[GoogleCalendarInfo]:
    """The user's calendars from calendarList (through the REMOTE adapter)."""
    from integrations.calendars.google_source import calendar_list

    items = calendar_list(
        credentials, runtime.config.google.api_endpoint, timeout=runtime.config.google.timeout
    )
    return [
        GoogleCalendarInfo(
            id=str(item["id"]),
            summary=str(item.get("summary") or item["id"]),
            primary=bool(item.get("primary")),
            access_role=str(item.get("access_role", "")),
        )
        for item in items
    ]


def sync_calendars(runtime: Runtime, user_id: int, calendars: list[GoogleCalendarInfo]) -> None:
    """Mirror calendarList into the user's Google calendars; keep the user's choices."""
    with transaction(runtime.sessions) as session:
        calendar_rows.mirror_google(
            session,
            user_id,
            [(c.id, f"{c.summary} (Google)", c.primary) for c in calendars],
            now=_now(),
        )


def disconnect(runtime: Runtime, user_id: int) -> str:
    """Revoke the grant at Google and delete the tokens and Google calendars ("" or a note
    on why revoking failed; the local data is deleted regardless)."""
    return credential_store(runtime).disconnect(user_id)
