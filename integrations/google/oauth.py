"""The OAuth 2.0 web-server flow with google-auth-oauthlib, and stored-token credentials.

Nothing here touches the database or Flask: callers keep the state and verifier server-side
and store the token (encrypted) themselves.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from integrations.config import GoogleConfig
from integrations.google import SCOPES

_ENV_LOCK = threading.Lock()
# These libraries log whole token responses at DEBUG; tokens must never reach a log.
TOKEN_LOGGERS = ("requests_oauthlib", "oauthlib")


def quiet_token_loggers() -> None:
    """Keep libraries that print tokens at DEBUG from doing so, whatever the root level."""
    import logging

    for name in TOKEN_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


RELAX_SCOPE = "OAUTHLIB_RELAX_TOKEN_SCOPE"
INSECURE_TRANSPORT = "OAUTHLIB_INSECURE_TRANSPORT"


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def plain_http_allowed(*urls: str) -> bool:
    """True when every URL is https or on loopback, where Google also accepts plain http."""
    return all(url.lower().startswith("https://") or _loopback(url) for url in urls)


class OAuthError(Exception):
    """The authorization could not be completed; the message is shown to the user."""


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, plus what must be kept server-side until the callback."""

    url: str
    state: str
    code_verifier: str


@dataclass(frozen=True)
class TokenResult:
    credentials: Credentials
    granted_scopes: frozenset[str]

    @property
    def missing_scopes(self) -> tuple[str, ...]:
        return tuple(s for s in SCOPES if s not in self.granted_scopes)


def client_config(google: GoogleConfig, redirect_uri: str) -> dict[str, Any]:
    """The client-secrets mapping Flow expects, built from [google] config."""
    return {
        "web": {
            "client_id": google.client_id,
            "client_secret": google.client_secret,
            "auth_uri": google.auth_uri,
            "token_uri": google.token_uri,
            "redirect_uris": [redirect_uri],
        }
    }


def _flow(
    google: GoogleConfig, redirect_uri: str, *, state: str | None = None, verifier: str | None
) -> Flow:
    return Flow.from_client_config(
        client_config(google, redirect_uri),
        scopes=list(SCOPES),
        redirect_uri=redirect_uri,
        state=state,
        code_verifier=verifier,
        autogenerate_code_verifier=verifier is None and state is None,
    )


@contextmanager
def _oauthlib_settings(**values: str) -> Iterator[None]:
    """Set oauthlib's environment switches for one call (process-wide, hence the lock)."""
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def start_authorization(google: GoogleConfig, redirect_uri: str) -> Authorization:
    """Build the consent URL (offline access, PKCE S256, forced consent)."""
    flow = _flow(google, redirect_uri, verifier=None)
    # An http authorize URI is only accepted on loopback (a local stand-in for Google).
    allow = {INSECURE_TRANSPORT: "1"} if plain_http_allowed(google.auth_uri) else {}
    with _oauthlib_settings(**allow):
        url, state = flow.authorization_url(
            access_type="offline", include_granted_scopes="true", prompt="consent"
        )
    assert flow.code_verifier is not None
    return Authorization(url=url, state=state, code_verifier=flow.code_verifier)


def exchange_code(
    google: GoogleConfig,
    redirect_uri: str,
    *,
    state: str,
    code_verifier: str | None,
    authorization_response: str,
) -> TokenResult:
    """Trade the callback's code for tokens; raises OAuthError with a readable reason."""
    if not (
        plain_http_allowed(redirect_uri, google.token_uri) or os.environ.get(INSECURE_TRANSPORT)
    ):
        raise OAuthError(
            "Google sign-in needs https: plain http works only on this computer (127.0.0.1 or "
            "localhost). Set [web] base_url to the https address of this meetagain."
        )
    flow = _flow(google, redirect_uri, state=state, verifier=code_verifier or None)
    # Google may grant more (include_granted_scopes) or fewer scopes than asked; oauthlib
    # would raise a bare Warning for that unless relaxed. We check the granted set ourselves.
    # oauthlib also refuses every http URL, but Google accepts http redirect URIs on loopback
    # (the README's `make run` setup): checked above, so only https or loopback gets here.
    with _oauthlib_settings(**{RELAX_SCOPE: "1", INSECURE_TRANSPORT: "1"}):
        try:
            token = flow.fetch_token(authorization_response=authorization_response)
        except OAuth2Error as exc:
            detail = exc.description or exc.error
            raise OAuthError(f"Google refused the sign-in ({exc.error}): {detail}") from None
        except requests.RequestException as exc:
            raise OAuthError(f"could not reach Google's token endpoint: {exc}") from None
        finally:
            flow.oauth2session.close()  # its pooled connection would otherwise linger
    scope = token.get("scope", "")
    granted = scope.split() if isinstance(scope, str) else list(scope or [])
    creds = flow.credentials
    if not creds.refresh_token:
        raise OAuthError(
            "Google did not send a refresh token, so meetagain could not keep reading your "
            "calendar. Remove meetagain's access in your Google account and connect again."
        )
    return TokenResult(credentials=creds, granted_scopes=frozenset(granted))


def token_json(credentials: Credentials, granted_scopes: Sequence[str] = ()) -> str:
    """Serialise what must be stored (encrypted) to rebuild credentials later."""
    expiry = credentials.expiry
    return json.dumps(
        {
            "token": credentials.token,
            "refresh_token": credentials.refresh_token,
            "expiry": expiry.replace(tzinfo=UTC).isoformat() if expiry else None,
            "scopes": list(granted_scopes or credentials.scopes or ()),
        }
    )


def credentials_from_token(
    data: Mapping[str, Any],
    google: GoogleConfig,
    token_uri: str,
    *,
    cls: type[Credentials] = Credentials,
) -> Credentials:
    """Credentials with the stored token URI honoured (from_authorized_user_info ignores it)."""
    expiry = None
    if data.get("expiry"):
        # google-auth compares expiry with a naive UTC now.
        expiry = datetime.fromisoformat(data["expiry"]).astimezone(UTC).replace(tzinfo=None)
    return cls(
        data.get("token"),
        refresh_token=data.get("refresh_token"),
        token_uri=token_uri,
        client_id=google.client_id,
        client_secret=google.client_secret,
        scopes=list(data.get("scopes") or SCOPES),
        expiry=expiry,
    )


def revoke(revoke_uri: str, token: str, *, timeout: float = 10) -> str:
    """Ask Google to revoke the grant; returns "" on success, else the reason (not raised)."""
    try:
        response = requests.post(
            revoke_uri,
            data={"token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        return f"could not reach Google to revoke access: {exc}"
    if response.status_code == 200:
        return ""
    return f"Google answered {response.status_code} to the revoke request"
