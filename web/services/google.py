"""The Google connection of one user, for the app: its calendars and the credential store.

Tokens (storage, refresh, revocation) are `integrations.google.credentials`; they live only in
`google_connections.token_encrypted` (Fernet), never in the session or logs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.oauth2.credentials import Credentials

from integrations.calendars.errors import CalendarError
from integrations.crypto import DecryptionError
from integrations.google import SCOPE_PURPOSE
from integrations.google.credentials import (
    NEEDS_RECONNECT,
    GoogleConnection,
    GoogleCredentialStore,
)
from integrations.google.oauth import OAuthError, exchange_code, revoke, start_authorization
from integrations.storage import calendars as calendar_rows
from integrations.storage import oauth_states
from integrations.storage.db import transaction
from web.composition import Runtime
from web.services.accounts import secret_box
from web.services.places import trips_followed

__all__ = ["NEEDS_RECONNECT", "GoogleCalendarInfo", "credential_store"]

log = logging.getLogger(__name__)
STATE_LIFETIME = timedelta(minutes=10)  # from the consent page back to the callback


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


def connection(runtime: Runtime, user_id: int) -> GoogleConnection | None:
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
    with transaction(runtime.sessions) as session, trips_followed(runtime, session, user_id):
        calendar_rows.mirror_google(
            session,
            user_id,
            [(c.id, f"{c.summary} (Google)", c.primary) for c in calendars],
            now=_now(),
        )


def disconnect(runtime: Runtime, user_id: int) -> str:
    """Revoke the grant at Google and delete the tokens and Google calendars ("" or a note
    on why revoking failed; the local data is deleted regardless). A trip read from those
    calendars ends with them: open invites get their home times back."""
    store = credential_store(runtime)
    note = store.revoke_grant(user_id)  # the network first, with no lock held
    with transaction(runtime.sessions) as session, trips_followed(runtime, session, user_id):
        store.forget(session, user_id)
    return note


def begin_connection(runtime: Runtime, user_id: int, redirect_uri: str) -> str:
    """The Google consent page to send the user to; state and PKCE verifier stay here."""
    auth = start_authorization(runtime.config.google, redirect_uri)
    sealed = secret_box(runtime).encrypt_text(auth.code_verifier)
    with transaction(runtime.sessions) as session:
        oauth_states.begin(
            session, auth.state, user_id, sealed, now=_now(), lifetime=STATE_LIFETIME
        )
    return auth.url


@dataclass(frozen=True)
class ConnectProblem:
    """Why connecting Google did not finish, for the page that says so."""

    title: str
    message: str
    missing: tuple[str, ...] = ()  # the permissions left unticked


def finish_connection(
    runtime: Runtime, user_id: int, *, state: str, error: str, redirect_uri: str, query: str
) -> ConnectProblem | None:
    """Finish the OAuth flow: check state (single use, 10 minutes), trade the code, store the
    grant and mirror the calendar list. None when connected."""
    with transaction(runtime.sessions) as session:
        taken = oauth_states.take(session, state, user_id, now=_now(), lifetime=STATE_LIFETIME)
    if error:
        if error == "access_denied":
            return ConnectProblem(
                "Google access was not granted",
                "You chose not to let meetagain see your Google Calendar. Nothing was "
                "connected. You can try again at any time, or add an ICS feed or CalDAV "
                "calendar instead.",
            )
        return ConnectProblem(
            "Google sign-in did not finish", f"Google reported: {error[:200]}. Please try again."
        )
    if taken is None:
        return ConnectProblem(
            "This sign-in link does not match",
            "The answer from Google does not belong to a sign-in started here (the state "
            "does not match, or it was already used). Start again from the Calendars page.",
        )
    if not taken.fresh:
        return ConnectProblem(
            "This sign-in took too long",
            "The Google sign-in was started more than 10 minutes ago. Start again from the "
            "Calendars page.",
        )
    try:
        verifier = secret_box(runtime).decrypt_text(taken.code_verifier_encrypted)
    except DecryptionError:  # a damaged verifier is reported by the token endpoint
        verifier = ""
    google = runtime.config.google
    try:
        result = exchange_code(
            google,
            redirect_uri,
            state=state,
            code_verifier=verifier,
            authorization_response=f"{redirect_uri}?{query}",
        )
    except OAuthError as exc:
        return ConnectProblem("Google did not accept the connection", str(exc))
    if result.missing_scopes:
        if result.credentials.refresh_token:
            revoke(google.revoke_uri, result.credentials.refresh_token)
        return ConnectProblem(
            "Some permissions were left unticked",
            "meetagain needs every permission on Google's consent page. Nothing was "
            "connected. Connect again and leave these ticked:",
            tuple(SCOPE_PURPOSE[s] for s in result.missing_scopes),
        )
    try:
        found = fetch_calendars(runtime, result.credentials)
    except CalendarError as exc:  # the calendar list failing must not lose the grant
        log.warning("calendarList failed after connecting: %s", exc)
        found = []
    primary = next((c.id for c in found if c.primary), "")
    save_connection(runtime, user_id, result.credentials, result.granted_scopes, primary)
    sync_calendars(runtime, user_id, found)
    return None
