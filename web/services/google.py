"""The Google connection of one user, for the app: its calendars and the credential store.

Tokens (storage, refresh, revocation) are `integrations.google.credentials`; they live only in
`google_connections.token_encrypted` (Fernet), never in the session or logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from google.oauth2.credentials import Credentials
from sqlalchemy import select

from integrations.google.credentials import NEEDS_RECONNECT, GoogleCredentialStore
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
    """Mirror calendarList into `calendars` rows (kind google); keep the user's choices."""
    now = _now()
    with transaction(runtime.sessions) as session:
        rows = {
            r.external_id: r
            for r in session.scalars(
                select(models.Calendar).where(
                    models.Calendar.user_id == user_id, models.Calendar.kind == "google"
                )
            )
        }
        taken = set(
            session.scalars(
                select(models.Calendar.name).where(
                    models.Calendar.user_id == user_id, models.Calendar.kind != "google"
                )
            )
        )
        any_receiver = any(r.receives_events for r in rows.values())
        seen: set[str] = set()
        for cal in calendars:
            seen.add(cal.id)
            name = _unique_name(f"{cal.summary} (Google)", taken)
            taken.add(name)
            row = rows.get(cal.id)
            if row is None:
                row = models.Calendar(
                    user_id=user_id,
                    kind="google",
                    external_id=cal.id,
                    location="",
                    username="",
                    counts_as_busy=cal.primary,
                    receives_events=cal.primary and not any_receiver,
                    last_error="",
                    created_at=now,
                )
                session.add(row)
            row.name = name
        for external_id, row in rows.items():
            if external_id not in seen:
                session.delete(row)


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name} {n}"
        n += 1
    return candidate


def choose_calendars(
    runtime: Runtime, user_id: int, busy_ids: set[int], receiver_id: int | None
) -> None:
    """Set which Google calendars count as busy and which one receives coffee events."""
    with transaction(runtime.sessions) as session:
        rows = session.scalars(
            select(models.Calendar).where(
                models.Calendar.user_id == user_id, models.Calendar.kind == "google"
            )
        )
        for row in rows:
            row.counts_as_busy = row.id in busy_ids
            row.receives_events = row.id == receiver_id


def disconnect(runtime: Runtime, user_id: int) -> str:
    """Revoke the grant at Google and delete the tokens and Google calendars ("" or a note
    on why revoking failed; the local data is deleted regardless)."""
    return credential_store(runtime).disconnect(user_id)
