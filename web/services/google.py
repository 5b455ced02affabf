"""The Google connection of one user: credentials with refresh, saving, calendars, disconnect.

Tokens live only in `google_connections.token_encrypted` (Fernet), never in the session or logs.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from google.auth.exceptions import RefreshError, TransportError
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials
from sqlalchemy import delete, select

from integrations.crypto import DecryptionError
from integrations.google import SCOPES
from integrations.google.oauth import credentials_from_token, revoke, token_json
from integrations.storage import models
from integrations.storage.db import transaction
from web.composition import Runtime
from web.services.accounts import secret_box

log = logging.getLogger(__name__)

NEEDS_RECONNECT = "needs_reconnect"


@dataclass(frozen=True)
class GoogleCalendarInfo:
    id: str
    summary: str
    primary: bool
    access_role: str


def _now() -> datetime:
    return datetime.now(UTC)


def connection(runtime: Runtime, user_id: int) -> models.GoogleConnection | None:
    with transaction(runtime.sessions) as session:
        return session.scalar(
            select(models.GoogleConnection).where(models.GoogleConnection.user_id == user_id)
        )


def save_connection(
    runtime: Runtime,
    user_id: int,
    credentials: Credentials,
    granted_scopes: frozenset[str] | tuple[str, ...],
    account_email: str = "",
) -> None:
    """Store (or replace) the user's Google tokens, encrypted, and mark the connection ok."""
    box = secret_box(runtime)
    scopes = sorted(granted_scopes)
    blob = box.encrypt_text(token_json(credentials, scopes))
    now = _now()
    with transaction(runtime.sessions) as session:
        row = session.scalar(
            select(models.GoogleConnection).where(models.GoogleConnection.user_id == user_id)
        )
        if row is None:
            row = models.GoogleConnection(user_id=user_id, created_at=now)
            session.add(row)
        row.token_encrypted = blob
        row.token_uri = runtime.config.google.token_uri
        row.scopes = " ".join(scopes)
        row.status = "ok"
        row.status_detail = ""
        row.updated_at = now
        if account_email:
            row.account_email = account_email


def _stored_token(runtime: Runtime, row: models.GoogleConnection) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(secret_box(runtime).decrypt_text(row.token_encrypted))
    return data


def mark_needs_reconnect(runtime: Runtime, user_id: int, detail: str) -> None:
    with transaction(runtime.sessions) as session:
        row = session.scalar(
            select(models.GoogleConnection).where(models.GoogleConnection.user_id == user_id)
        )
        if row is not None:
            row.status = NEEDS_RECONNECT
            row.status_detail = detail
            row.updated_at = _now()


def credentials_for(runtime: Runtime, user_id: int) -> Credentials | None:
    """Usable Google credentials for the user, refreshed and saved if expired; else None.

    A revoked or expired grant (invalid_grant) marks the connection "needs reconnecting".
    """
    row = connection(runtime, user_id)
    if row is None or row.status == NEEDS_RECONNECT:
        return None
    try:
        data = _stored_token(runtime, row)
    except (DecryptionError, ValueError) as exc:
        mark_needs_reconnect(runtime, user_id, str(exc))
        return None
    creds = credentials_from_token(data, runtime.config.google, row.token_uri)
    if creds.token and not creds.expired:
        return creds
    try:
        with requests.Session() as http:
            # google-auth waits 120 s for the token endpoint by default.
            creds.refresh(functools.partial(Request(http), timeout=runtime.config.google.timeout))
    except RefreshError as exc:
        text = str(exc)
        if "invalid_grant" in text:
            log.warning("google grant for user %s is no longer valid", user_id)
            mark_needs_reconnect(
                runtime,
                user_id,
                "Google no longer accepts meetagain's access (it was revoked or expired).",
            )
        else:
            log.warning("google token refresh failed for user %s: %s", user_id, type(exc))
        return None
    except TransportError:
        log.warning("google token endpoint unreachable for user %s", user_id)
        return None
    save_if_changed(runtime, user_id, creds)
    return creds


def save_if_changed(runtime: Runtime, user_id: int, credentials: Credentials) -> bool:
    """Persist a token the client refreshed during a call; True when something was saved."""
    row = connection(runtime, user_id)
    if row is None:
        return False
    try:
        data = _stored_token(runtime, row)
    except (DecryptionError, ValueError):
        return False
    if data.get("token") == credentials.token and (
        not credentials.refresh_token or data.get("refresh_token") == credentials.refresh_token
    ):
        return False
    if not credentials.refresh_token:
        credentials = Credentials(
            credentials.token,
            refresh_token=data.get("refresh_token"),
            token_uri=credentials.token_uri,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            scopes=credentials.scopes,
            expiry=credentials.expiry,
        )
    granted = tuple(data.get("scopes") or SCOPES)
    save_connection(runtime, user_id, credentials, granted)
    return True


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
    """Revoke the grant at Google and delete the tokens and Google calendars.

    Returns "" or a note on why revoking failed (the local data is deleted regardless).
    """
    row = connection(runtime, user_id)
    note = ""
    if row is not None:
        try:
            data = _stored_token(runtime, row)
        except (DecryptionError, ValueError):
            data = {}
        token = data.get("refresh_token") or data.get("token")
        if token:
            note = revoke(runtime.config.google.revoke_uri, token)
        if row.status == NEEDS_RECONNECT and note.startswith("Google answered"):
            note = ""  # Google already dropped this grant; refusing to revoke it is no problem
    with transaction(runtime.sessions) as session:
        session.execute(
            delete(models.GoogleConnection).where(models.GoogleConnection.user_id == user_id)
        )
        session.execute(
            delete(models.Calendar).where(
                models.Calendar.user_id == user_id, models.Calendar.kind == "google"
            )
        )
    return note
