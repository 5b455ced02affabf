"""A user's Google grant: stored encrypted, refreshed, saved after every refresh, revoked.

Every Google call goes through `StoredCredentials`, so whichever call finds the grant revoked
(a refresh answered `invalid_grant`, also after a 401 while the access token had not expired)
marks the connection "needs reconnecting" at once, and every token Google renews is saved.
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
from sqlalchemy.orm import Session, sessionmaker

from integrations.calendars.errors import CalendarError
from integrations.config import GoogleConfig
from integrations.crypto import DecryptionError, SecretBox
from integrations.google import SCOPES
from integrations.google.oauth import credentials_from_token, revoke, token_json
from integrations.storage import models
from integrations.storage.db import transaction

log = logging.getLogger(__name__)

NEEDS_RECONNECT = "needs_reconnect"
REVOKED = "Google no longer accepts meetagain's access (it was revoked or expired)."


class GoogleAccessRevoked(RefreshError, CalendarError):
    """Google refused the stored grant (invalid_grant): the owner must connect again."""

    def __init__(self) -> None:
        super().__init__(f"Google Calendar needs reconnecting: {REVOKED}")


class GoogleRefreshFailed(RefreshError, CalendarError):
    """Google's token endpoint refused a refresh for another reason (worth trying later)."""


class StoredCredentials(Credentials):
    """Credentials whose every refresh, before a call or after a 401, is saved for the user,
    and whose revoked grant marks the connection at once (then GoogleAccessRevoked)."""

    store: GoogleCredentialStore | None = None
    user_id: int = 0

    def refresh(self, request: Any) -> None:
        try:
            super().refresh(request)
        except (GoogleAccessRevoked, GoogleRefreshFailed):
            raise
        except RefreshError as exc:
            if "invalid_grant" in str(exc):
                log.warning("google grant for user %s is no longer valid", self.user_id)
                if self.store is not None:
                    self.store.mark_needs_reconnect(self.user_id, REVOKED)
                raise GoogleAccessRevoked() from None
            log.warning("google token refresh failed for user %s", self.user_id)
            raise GoogleRefreshFailed(
                "Google Calendar: Google did not renew meetagain's access just now "
                "(it is tried again later)"
            ) from None
        if self.store is not None:
            self.store.save_if_changed(self.user_id, self)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class GoogleConnection:
    """A user's stored Google grant (the token still sealed) and whether it works."""

    user_id: int
    account_email: str
    token_encrypted: bytes
    token_uri: str
    scopes: str  # space separated, as granted
    status: str  # ok | needs_reconnect
    status_detail: str


def _connection(row: models.GoogleConnection) -> GoogleConnection:
    return GoogleConnection(
        user_id=row.user_id,
        account_email=row.account_email or "",
        token_encrypted=row.token_encrypted,
        token_uri=row.token_uri,
        scopes=row.scopes or "",
        status=row.status,
        status_detail=row.status_detail or "",
    )


class GoogleCredentialStore:
    """The users' Google connections in `google_connections`, tokens encrypted with `box`."""

    def __init__(self, sessions: sessionmaker[Session], box: SecretBox, google: GoogleConfig):
        self.sessions = sessions
        self.box = box
        self.google = google

    def connection(self, user_id: int) -> GoogleConnection | None:
        with transaction(self.sessions, read_only=True) as session:
            row = session.scalar(
                select(models.GoogleConnection).where(models.GoogleConnection.user_id == user_id)
            )
            return _connection(row) if row is not None else None

    def save(
        self,
        user_id: int,
        credentials: Credentials,
        granted_scopes: frozenset[str] | tuple[str, ...],
        account_email: str = "",
    ) -> None:
        """Store (or replace) the user's tokens and mark the connection ok."""
        scopes = sorted(granted_scopes)
        blob = self.box.encrypt_text(token_json(credentials, scopes))
        now = _now()
        with transaction(self.sessions) as session:
            row = session.scalar(
                select(models.GoogleConnection).where(models.GoogleConnection.user_id == user_id)
            )
            if row is None:
                row = models.GoogleConnection(user_id=user_id, created_at=now)
                session.add(row)
            row.token_encrypted = blob
            row.token_uri = self.google.token_uri
            row.scopes = " ".join(scopes)
            row.status = "ok"
            row.status_detail = ""
            row.updated_at = now
            if account_email:
                row.account_email = account_email

    def mark_needs_reconnect(self, user_id: int, detail: str) -> None:
        with transaction(self.sessions) as session:
            row = session.scalar(
                select(models.GoogleConnection).where(models.GoogleConnection.user_id == user_id)
            )
            if row is not None:
                row.status = NEEDS_RECONNECT
                row.status_detail = detail
                row.updated_at = _now()

    def credentials(self, user_id: int) -> StoredCredentials | None:
        """Usable credentials for the user, refreshed (and saved) if expired; else None.

        A revoked or expired grant marks the connection "needs reconnecting".
        """
        row = self.connection(user_id)
        if row is None or row.status == NEEDS_RECONNECT:
            return None
        try:
            data = self._stored(row)
        except (DecryptionError, ValueError) as exc:
            self.mark_needs_reconnect(user_id, str(exc))
            return None
        creds = self._credentials(data, row.token_uri, user_id)
        if creds.token and not creds.expired:
            return creds
        try:
            with requests.Session() as http:
                # google-auth waits 120 s for the token endpoint by default.
                creds.refresh(functools.partial(Request(http), timeout=self.google.timeout))
        except RefreshError:  # GoogleAccessRevoked has marked the connection
            return None
        except TransportError:
            log.warning("google token endpoint unreachable for user %s", user_id)
            return None
        return creds

    def save_if_changed(self, user_id: int, credentials: Credentials) -> bool:
        """Persist a token the client refreshed; True when something was saved."""
        row = self.connection(user_id)
        if row is None:
            return False
        try:
            data = self._stored(row)
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
        self.save(user_id, credentials, tuple(data.get("scopes") or SCOPES))
        return True

    def revoke_grant(self, user_id: int) -> str:
        """Revoke the user's grant at Google (no transaction is open meanwhile); "" or a note
        on why revoking failed. `forget` deletes what is kept here."""
        row = self.connection(user_id)
        note = ""
        if row is not None:
            try:
                data = self._stored(row)
            except (DecryptionError, ValueError):
                data = {}
            token = data.get("refresh_token") or data.get("token")
            if token:
                note = revoke(self.google.revoke_uri, token)
            if row.status == NEEDS_RECONNECT and note.startswith("Google answered"):
                note = ""  # Google already dropped this grant; refusing to revoke it is fine
        return note

    @staticmethod
    def forget(session: Session, user_id: int) -> None:
        """Delete the user's tokens and Google calendars, in the caller's unit of work."""
        session.execute(
            delete(models.GoogleConnection).where(models.GoogleConnection.user_id == user_id)
        )
        session.execute(
            delete(models.Calendar).where(
                models.Calendar.user_id == user_id, models.Calendar.kind == "google"
            )
        )

    def _stored(self, row: GoogleConnection) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.box.decrypt_text(row.token_encrypted))
        return data

    def _credentials(self, data: dict[str, Any], token_uri: str, user_id: int) -> StoredCredentials:
        creds = credentials_from_token(data, self.google, token_uri, cls=StoredCredentials)
        assert isinstance(creds, StoredCredentials)
        creds.store, creds.user_id = self, user_id
        return creds
