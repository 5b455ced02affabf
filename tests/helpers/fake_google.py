"""A local HTTP fake of Google's OAuth endpoints and Calendar v3, for the real client libraries.

`FakeGoogle` is a real HTTP server on 127.0.0.1:<ephemeral>. Point google-auth-oauthlib's Flow at
`auth_uri`/`token_uri`, google-auth's Credentials at `token_uri`, and google-api-python-client at
`api_endpoint` (through `build(..., client_options={"api_endpoint": ...})`), and they talk to it
over a socket exactly as they would to Google. Tests set state on the fake and assert on what it
recorded (`requests`, `events`), never on which client methods were called.

    with FakeGoogle(account_email="owner@example.com") as google:
        google.add_calendar("team@group.calendar.google.com", "Team", busy=[(start, end)])
        google.fail_next("freeBusy", status=503, headers={"Retry-After": "0"})
        creds = google.credentials()           # skip the browser dance when it is not the subject
        ...
        assert google.events[0].attendees == ["ana@example.com"]

URLs: base_url, auth_uri (/o/oauth2/auth), token_uri (/token), revoke_uri (/revoke),
api_endpoint (/calendar/v3/); client_config(redirect_uri) for Flow.from_client_config;
google_config_section() for a `[google]` config table (set MEETAGAIN_GOOGLE_CLIENT_SECRET to
`client_secret` yourself).
State: calendars (calendarList entries; the primary one is account_email), add_calendar(),
set_busy(id, [(start, end)]), busy, calendar_errors[id] = "notFound"..., deny_next,
grant_scopes (None = as asked), redirect_uris (None = any), page_size, require_pkce,
max_freebusy_days, access_token_lifetime; fail_next(endpoint, status, times=, reason=,
message=, headers=, body=); revoke_refresh_tokens(); expire_access_tokens();
issue_tokens(scopes) -> token response dict; credentials(scopes) -> Credentials.
Records: requests (RecordedRequest: method, path, endpoint, query, json, form, headers with
Title-Case names, status), requests_to(endpoint), events (FakeEvent: calendar_id, id, body,
query, resource, deleted, delete_query, attendees, send_updates, meet_link, start, end),
live_events(calendar_id=None), revoked_tokens.
Inserted events (not deleted) also count as busy in freeBusy, as they would in Google.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

SCOPE_FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
SCOPE_EVENTS = "https://www.googleapis.com/auth/calendar.events"
SCOPE_CALENDARLIST = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
SCOPE_CALENDAR = "https://www.googleapis.com/auth/calendar"
SCOPE_READONLY = "https://www.googleapis.com/auth/calendar.readonly"
DEFAULT_SCOPES: tuple[str, ...] = (SCOPE_FREEBUSY, SCOPE_EVENTS, SCOPE_CALENDARLIST)

# Which granted scopes let a token call each endpoint (any one suffices).
_ENDPOINT_SCOPES: dict[str, frozenset[str]] = {
    "freeBusy": frozenset(
        {
            SCOPE_FREEBUSY,
            SCOPE_CALENDAR,
            SCOPE_READONLY,
            "https://www.googleapis.com/auth/calendar.events.freebusy",
        }
    ),
    "calendarList": frozenset({SCOPE_CALENDARLIST, SCOPE_CALENDAR, SCOPE_READONLY}),
    "events.insert": frozenset({SCOPE_EVENTS, SCOPE_CALENDAR}),
    "events.delete": frozenset({SCOPE_EVENTS, SCOPE_CALENDAR}),
    "events.patch": frozenset({SCOPE_EVENTS, SCOPE_CALENDAR}),
    "events.list": frozenset(
        {
            SCOPE_EVENTS,
            SCOPE_CALENDAR,
            SCOPE_READONLY,
            "https://www.googleapis.com/auth/calendar.events.readonly",
        }
    ),
    "events.watch": frozenset(
        {
            SCOPE_EVENTS,
            SCOPE_CALENDAR,
            SCOPE_READONLY,
            "https://www.googleapis.com/auth/calendar.events.readonly",
        }
    ),
    "channels.stop": frozenset({SCOPE_EVENTS, SCOPE_CALENDAR, SCOPE_READONLY}),
}

ENDPOINTS = ("authorize", "token", "revoke", *_ENDPOINT_SCOPES)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received. `query` keeps repeated parameters (parse_qs)."""

    method: str
    path: str  # percent-decoded, e.g. /calendar/v3/calendars/a@b.c/events
    endpoint: str  # authorize | token | revoke | freeBusy | calendarList | events.insert | ...
    query: dict[str, list[str]]
    json: Any  # parsed JSON body, or None
    form: dict[str, list[str]]  # parsed form body, or {}
    headers: dict[str, str]
    status: int

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class FakeEvent:
    """An event inserted through events.insert (kept after deletion, with `deleted=True`)."""

    calendar_id: str
    id: str
    body: dict[str, Any]  # what the client sent
    query: dict[str, list[str]]  # sendUpdates, conferenceDataVersion, ...
    resource: dict[str, Any]  # what the fake answered
    deleted: bool = False
    delete_query: dict[str, list[str]] = field(default_factory=dict)
    patch_query: dict[str, list[str]] = field(default_factory=dict)
    seq: int = 0  # when it last changed, for events.list sync tokens

    @property
    def blocks(self) -> bool:
        """Whether freeBusy counts it: opaque and not declined by the calendar's owner."""
        if self.resource.get("transparency") == "transparent":
            return False
        return not any(
            a.get("self") and a.get("responseStatus") == "declined"
            for a in self.resource.get("attendees", [])
        )

    @property
    def attendees(self) -> list[str]:
        return [a.get("email", "") for a in self.body.get("attendees", [])]

    @property
    def send_updates(self) -> str | None:
        values = self.query.get("sendUpdates")
        return values[0] if values else None

    @property
    def meet_link(self) -> str | None:
        link = self.resource.get("hangoutLink")
        return str(link) if link else None

    @property
    def start(self) -> datetime:
        return _parse_time(self.body["start"]["dateTime"])

    @property
    def end(self) -> datetime:
        return _parse_time(self.body["end"]["dateTime"])


@dataclass
class _Failure:
    status: int
    reason: str | None
    message: str | None
    headers: dict[str, str]
    body: Any


@dataclass
class _Grant:
    """One authorisation: a refresh token and the access tokens minted from it."""

    refresh_token: str
    scopes: tuple[str, ...]
    client_id: str
    revoked: bool = False


@dataclass
class _AccessToken:
    grant: _Grant
    expires_at: datetime


@dataclass
class _PendingCode:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    code_challenge_method: str | None
    used: bool = False


class FakeGoogle:
    """Google's OAuth endpoints and Calendar v3 (calendarList, freeBusy, events) on loopback."""

    def __init__(
        self,
        *,
        client_id: str = "fake-client.apps.googleusercontent.com",
        client_secret: str = "fake-client-secret",
        account_email: str = "owner@example.com",
        require_pkce: bool = True,
        max_freebusy_days: int = 62,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.account_email = account_email
        self.require_pkce = require_pkce
        self.max_freebusy_days = max_freebusy_days
        self.access_token_lifetime = timedelta(hours=1)
        # State tests set -----------------------------------------------------------------------
        self.calendars: list[dict[str, Any]] = []  # calendarList entries, in order
        self.busy: dict[str, list[tuple[datetime, datetime]]] = {}  # calendar id -> busy
        self.calendar_errors: dict[str, str] = {}  # calendar id -> freeBusy error reason
        self.deny_next = False  # the next authorize answers error=access_denied
        self.grant_scopes: Sequence[str] | None = None  # None: grant what was asked
        self.redirect_uris: Sequence[str] | None = None  # None: accept any redirect_uri
        self.page_size = 100  # calendarList: most entries per page
        # What happened ------------------------------------------------------------------------
        self.requests: list[RecordedRequest] = []
        self.events: list[FakeEvent] = []
        self.revoked_tokens: list[str] = []
        self.events_page_size = 2500  # events.list: most items per page (Google's maximum)
        self.channels: dict[str, dict[str, Any]] = {}  # events.watch: channel id -> channel
        self.channel_lifetime = timedelta(days=7)  # the longest a channel is granted
        # Internals -----------------------------------------------------------------------------
        self._lock = threading.RLock()
        self._failures: dict[str, deque[_Failure]] = {}
        self._stalls: dict[str, deque[float]] = {}
        self._codes: dict[str, _PendingCode] = {}
        self._grants: dict[str, _Grant] = {}  # refresh token -> grant
        self._access: dict[str, _AccessToken] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._seq = 0  # bumped on every change to an event
        self._token_floor = 0  # sync tokens older than this answer 410 Gone
        self.add_calendar(account_email, account_email, primary=True)

    # -- URLs -------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeGoogle is not running: use it as a context manager"
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def auth_uri(self) -> str:
        return f"{self.base_url}/o/oauth2/auth"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    @property
    def revoke_uri(self) -> str:
        return f"{self.base_url}/revoke"

    @property
    def api_endpoint(self) -> str:
        return f"{self.base_url}/calendar/v3/"

    def client_config(self, redirect_uri: str = "http://127.0.0.1/callback") -> dict[str, Any]:
        """A client config for `Flow.from_client_config` pointing at this fake."""
        return {
            "web": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
                "redirect_uris": [redirect_uri],
            }
        }

    def google_config_section(self) -> dict[str, str]:
        """The `[google]` config table for this fake (the secret goes in the environment)."""
        return {
            "client_id": self.client_id,
            "auth_uri": self.auth_uri,
            "token_uri": self.token_uri,
            "revoke_uri": self.revoke_uri,
            "api_endpoint": self.api_endpoint,
        }

    # -- State helpers ----------------------------------------------------------------------------
    def add_calendar(
        self,
        calendar_id: str,
        summary: str | None = None,
        *,
        primary: bool = False,
        access_role: str = "owner",
        busy: Iterable[tuple[datetime, datetime]] = (),
        time_zone: str = "UTC",
    ) -> None:
        """Add (or replace) a calendarList entry with its busy time."""
        with self._lock:
            self.calendars = [c for c in self.calendars if c["id"] != calendar_id]
            entry: dict[str, Any] = {
                "kind": "calendar#calendarListEntry",
                "id": calendar_id,
                "summary": summary or calendar_id,
                "accessRole": access_role,
                "timeZone": time_zone,
                "selected": True,
            }
            if primary:
                entry["primary"] = True
                self.calendars.insert(0, entry)
            else:
                self.calendars.append(entry)
            self.busy.setdefault(calendar_id, []).extend(busy)

    def set_busy(self, calendar_id: str, intervals: Iterable[tuple[datetime, datetime]]) -> None:
        """Replace a calendar's busy time (aware datetimes); the calendar need not be listed."""
        with self._lock:
            self.busy[calendar_id] = list(intervals)

    def fail_next(
        self,
        endpoint: str,
        status: int = 503,
        *,
        times: int = 1,
        reason: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next `times` calls to `endpoint` with an error (queued after earlier ones).

        endpoint: authorize | token | revoke | freeBusy | calendarList | events.insert |
        events.delete | events.list. `reason` is Google's error reason (rateLimitExceeded,
        userRateLimitExceeded, quotaExceeded, ...; for token, the OAuth error like invalid_grant).
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {', '.join(ENDPOINTS)}")
        with self._lock:
            queue = self._failures.setdefault(endpoint, deque())
            for _ in range(times):
                queue.append(_Failure(status, reason, message, dict(headers or {}), body))

    def stall_next(self, endpoint: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next `times` calls to `endpoint` only after `seconds` (a slow Google)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {', '.join(ENDPOINTS)}")
        with self._lock:
            self._stalls.setdefault(endpoint, deque()).extend([seconds] * times)

    def revoke_refresh_tokens(self) -> None:
        """Revoke every grant: refreshes answer invalid_grant, access tokens stop working."""
        with self._lock:
            for grant in self._grants.values():
                grant.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every issued access token expired, so the next API call must refresh."""
        with self._lock:
            past = datetime.now(UTC) - timedelta(seconds=1)
            for token in self._access.values():
                token.expires_at = past

    def issue_tokens(self, scopes: Sequence[str] = DEFAULT_SCOPES) -> dict[str, Any]:
        """Mint a grant directly (no browser): the token response a code exchange would give."""
        with self._lock:
            grant = _Grant(_token("1//fake-refresh-"), tuple(scopes), self.client_id)
            self._grants[grant.refresh_token] = grant
            return self._token_response(grant, include_refresh=True)

    def credentials(self, scopes: Sequence[str] = DEFAULT_SCOPES) -> Any:
        """google.oauth2.credentials.Credentials for a fresh grant, refreshing at `token_uri`."""
        from google.oauth2.credentials import Credentials

        issued = self.issue_tokens(scopes)
        expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=issued["expires_in"])
        return Credentials(
            issued["access_token"],
            refresh_token=issued["refresh_token"],
            token_uri=self.token_uri,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=list(scopes),
            expiry=expiry,
        )

    def put_event(
        self,
        calendar_id: str,
        event_id: str,
        start: datetime,
        end: datetime,
        *,
        summary: str = "",
        location: str = "",
        attendees: Sequence[str] = (),
        transparency: str | None = None,
        declined: bool = False,
        recurring_event_id: str | None = None,
    ) -> FakeEvent:
        """Create or change an event made in Google itself (not through the API), as events.list
        and freeBusy then show it. `declined`: the calendar's owner declined it."""
        with self._lock:
            self._seq += 1
            people = [{"email": a, "responseStatus": "accepted"} for a in attendees]
            if declined or attendees:
                people.append(
                    {
                        "email": calendar_id,
                        "self": True,
                        "responseStatus": "declined" if declined else "accepted",
                    }
                )
            resource: dict[str, Any] = {
                "kind": "calendar#event",
                "id": event_id,
                "status": "confirmed",
                "iCalUID": f"{(recurring_event_id or event_id)}@google.com",
                "summary": summary,
                "location": location,
                "start": {"dateTime": _format_time(start)},
                "end": {"dateTime": _format_time(end)},
                "organizer": {"email": calendar_id, "self": True},
                "attendees": people,
                "updated": _format_time(datetime.now(UTC)),
            }
            if transparency:
                resource["transparency"] = transparency
            if recurring_event_id:
                resource["recurringEventId"] = recurring_event_id
            body = {k: resource[k] for k in ("start", "end", "summary")}
            for event in self.events:
                if event.id == event_id and event.calendar_id == calendar_id:
                    event.body, event.resource, event.deleted = body, resource, False
                    event.seq = self._seq
                    return event
            event = FakeEvent(calendar_id, event_id, body, {}, resource, seq=self._seq)
            self.events.append(event)
            return event

    def remove_event(self, calendar_id: str, event_id: str) -> None:
        """Delete an event in Google itself (events.list with a sync token reports it)."""
        with self._lock:
            self._seq += 1
            for event in self.events:
                if event.id == event_id and event.calendar_id == calendar_id:
                    event.deleted = True
                    event.seq = self._seq

    def expire_sync_tokens(self) -> None:
        """Every sync token handed out so far answers 410 Gone from now on."""
        with self._lock:
            self._token_floor = self._seq + 1

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        """The recorded requests to one endpoint, in order."""
        with self._lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    def live_events(self, calendar_id: str | None = None) -> list[FakeEvent]:
        """Inserted events not deleted since, optionally for one calendar."""
        with self._lock:
            return [
                e
                for e in self.events
                if not e.deleted and (calendar_id is None or e.calendar_id == calendar_id)
            ]

    # -- Lifecycle --------------------------------------------------------------------------------
    def start(self) -> FakeGoogle:
        from tests.helpers.http_server import QuietHTTPServer

        self._server = QuietHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- Request handling (called from server threads) ---------------------------------------
    def _take_failure(self, endpoint: str) -> _Failure | None:
        queue = self._failures.get(endpoint)
        if queue:
            return queue.popleft()
        return None

    def _token_response(self, grant: _Grant, *, include_refresh: bool) -> dict[str, Any]:
        access = _token("ya29.fake-")
        lifetime = self.access_token_lifetime
        self._access[access] = _AccessToken(grant, datetime.now(UTC) + lifetime)
        answer: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(lifetime.total_seconds()),
            "scope": " ".join(grant.scopes),
            "token_type": "Bearer",
        }
        if include_refresh:
            answer["refresh_token"] = grant.refresh_token
        return answer

    def _handle(self, req: _Request) -> _Response:
        endpoint = _endpoint_of(req.method, req.path)
        with self._lock:
            stalls = self._stalls.get(endpoint or "")
            stall = stalls.popleft() if stalls else 0.0
        if stall:
            time.sleep(stall)  # outside the lock: other calls are answered meanwhile
        with self._lock:
            failure = self._take_failure(endpoint) if endpoint else None
            if endpoint is None:
                response = _json(404, _api_error(404, "notFound", f"no fake for {req.path}"))
            elif failure is not None:
                response = _failure_response(endpoint, failure)
            elif endpoint == "authorize":
                response = self._authorize(req)
            elif endpoint == "token":
                response = self._token(req)
            elif endpoint == "revoke":
                response = self._revoke(req)
            else:
                response = self._calendar(endpoint, req)
            self.requests.append(
                RecordedRequest(
                    method=req.method,
                    path=req.path,
                    endpoint=endpoint or "unknown",
                    query=req.query,
                    json=req.json,
                    form=req.form,
                    headers=req.headers,
                    status=response.status,
                )
            )
        return response

    def _authorize(self, req: _Request) -> _Response:
        q = {k: v[0] for k, v in req.query.items()}
        client_id = q.get("client_id", "")
        redirect_uri = q.get("redirect_uri", "")
        if client_id != self.client_id:
            return _page(401, "Error 401: invalid_client. The OAuth client was not found.")
        if not redirect_uri or (
            self.redirect_uris is not None and redirect_uri not in self.redirect_uris
        ):
            return _page(400, f"Error 400: redirect_uri_mismatch ({redirect_uri or 'missing'})")
        if q.get("response_type") != "code":
            return _page(400, "Error 400: unsupported_response_type (expected code)")
        challenge = q.get("code_challenge")
        method = q.get("code_challenge_method")
        if challenge is None and self.require_pkce:
            return _page(400, "Error 400: invalid_request (code_challenge is required)")
        if challenge is not None and method != "S256":
            return _page(400, f"Error 400: invalid_request (code_challenge_method {method})")
        state = q.get("state")
        if self.deny_next:
            self.deny_next = False
            params = {"error": "access_denied"}
            if state is not None:
                params["state"] = state
            return _redirect(_add_query(redirect_uri, params))
        asked = tuple(q.get("scope", "").split())
        granted = tuple(self.grant_scopes) if self.grant_scopes is not None else asked
        code = _token("4/fake-code-")
        self._codes[code] = _PendingCode(client_id, redirect_uri, granted, challenge, method)
        params = {"code": code, "scope": " ".join(granted)}
        if state is not None:
            params["state"] = state
        return _redirect(_add_query(redirect_uri, params))

    def _client_auth(self, req: _Request) -> tuple[str, str]:
        auth = req.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:]).decode()
            except ValueError:
                return "", ""
            user, _, password = decoded.partition(":")
            from urllib.parse import unquote_plus

            return unquote_plus(user), unquote_plus(password)
        form = {k: v[0] for k, v in req.form.items()}
        return form.get("client_id", ""), form.get("client_secret", "")

    def _token(self, req: _Request) -> _Response:
        form = {k: v[0] for k, v in req.form.items()}
        client_id, client_secret = self._client_auth(req)
        if client_id != self.client_id or client_secret != self.client_secret:
            return _json(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            pending = self._codes.get(form.get("code", ""))
            if pending is None or pending.used:
                return _oauth_error("invalid_grant", "Malformed auth code.")
            if form.get("redirect_uri") != pending.redirect_uri:
                return _oauth_error("redirect_uri_mismatch", "Bad Request")
            if pending.code_challenge is not None:
                verifier = form.get("code_verifier")
                if not verifier:
                    return _oauth_error("invalid_grant", "Missing code verifier.")
                digest = hashlib.sha256(verifier.encode("ascii")).digest()
                expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
                if expected != pending.code_challenge:
                    return _oauth_error("invalid_grant", "Invalid code verifier.")
            pending.used = True
            grant = _Grant(_token("1//fake-refresh-"), pending.scopes, client_id)
            self._grants[grant.refresh_token] = grant
            return _json(200, self._token_response(grant, include_refresh=True))
        if grant_type == "refresh_token":
            existing = self._grants.get(form.get("refresh_token", ""))
            if existing is None or existing.revoked:
                return _oauth_error("invalid_grant", "Token has been expired or revoked.")
            return _json(200, self._token_response(existing, include_refresh=False))
        return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _revoke(self, req: _Request) -> _Response:
        values = req.form.get("token") or req.query.get("token") or [""]
        token = values[0]
        grant = self._grants.get(token)
        if grant is None and token in self._access:
            grant = self._access[token].grant
        if grant is None or grant.revoked:
            return _oauth_error("invalid_token", "Token expired or revoked")
        grant.revoked = True
        self.revoked_tokens.append(token)
        return _json(200, {})

    def _calendar(self, endpoint: str, req: _Request) -> _Response:
        auth = req.headers.get("Authorization", "")
        token = self._access.get(auth[7:]) if auth.startswith("Bearer ") else None
        if token is None or token.grant.revoked or token.expires_at <= datetime.now(UTC):
            return _json(
                401,
                _api_error(
                    401,
                    "authError",
                    "Request had invalid authentication credentials.",
                    status="UNAUTHENTICATED",
                ),
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if not _ENDPOINT_SCOPES[endpoint] & set(token.grant.scopes):
            return _json(
                403,
                _api_error(
                    403,
                    "insufficientPermissions",
                    "Request had insufficient authentication scopes.",
                    status="PERMISSION_DENIED",
                ),
            )
        handler = {
            "freeBusy": self._free_busy,
            "calendarList": self._calendar_list,
            "events.insert": self._events_insert,
            "events.delete": self._events_delete,
            "events.patch": self._events_patch,
            "events.list": self._events_list,
            "events.watch": self._events_watch,
            "channels.stop": self._channels_stop,
        }[endpoint]
        return handler(req)

    def _resolve(self, calendar_id: str) -> str:
        if calendar_id == "primary":
            return self.account_email
        return calendar_id

    def _known(self, calendar_id: str) -> bool:
        return calendar_id in self.busy or any(c["id"] == calendar_id for c in self.calendars)

    def _calendar_list(self, req: _Request) -> _Response:
        # Like Google, answer at most `page_size` entries whatever maxResults asks for.
        size = min(int(req.query.get("maxResults", [str(self.page_size)])[0]), self.page_size)
        start = int(req.query.get("pageToken", ["0"])[0] or 0)
        items = self.calendars[start : start + size]
        answer: dict[str, Any] = {
            "kind": "calendar#calendarList",
            "etag": '"fake"',
            "items": [dict(i) for i in items],
        }
        if start + size < len(self.calendars):
            answer["nextPageToken"] = str(start + size)
        return _json(200, answer)

    def _free_busy(self, req: _Request) -> _Response:
        body = req.json if isinstance(req.json, dict) else {}
        try:
            time_min = _parse_time(body["timeMin"])
            time_max = _parse_time(body["timeMax"])
        except (KeyError, ValueError, TypeError):
            return _json(400, _api_error(400, "badRequest", "Bad Request: timeMin/timeMax"))
        if time_max <= time_min:
            return _json(
                400, _api_error(400, "timeRangeEmpty", "The specified time range is empty.")
            )
        if time_max - time_min > timedelta(days=self.max_freebusy_days):
            return _json(
                400, _api_error(400, "timeRangeTooLong", "The requested time range is too long.")
            )
        items = body.get("items", [])
        if len(items) > 50:
            return _json(
                400,
                _api_error(
                    400, "tooManyCalendarsRequested", "Too many calendars requested for a query."
                ),
            )
        calendars: dict[str, Any] = {}
        for item in items:
            asked = item.get("id", "")
            real = self._resolve(asked)
            error = self.calendar_errors.get(asked) or self.calendar_errors.get(real)
            if error is None and not self._known(real):
                error = "notFound"
            if error is not None:
                calendars[asked] = {"errors": [{"domain": "global", "reason": error}], "busy": []}
                continue
            spans = list(self.busy.get(real, []))
            spans += [
                (e.start, e.end)
                for e in self.live_events(real)
                if "dateTime" in e.body.get("start", {}) and e.blocks
            ]
            calendars[asked] = {
                "busy": [
                    {"start": _format_time(s), "end": _format_time(e)}
                    for s, e in _clip_and_merge(spans, time_min, time_max)
                ]
            }
        return _json(
            200,
            {
                "kind": "calendar#freeBusy",
                "timeMin": _format_time(time_min),
                "timeMax": _format_time(time_max),
                "calendars": calendars,
            },
        )

    def _events_insert(self, req: _Request) -> _Response:
        calendar_id = self._resolve(req.path.split("/")[4])
        body = req.json if isinstance(req.json, dict) else {}
        if "start" not in body or "end" not in body:
            return _json(400, _api_error(400, "required", "Missing end time."))
        if not self._known(calendar_id):
            return _json(404, _api_error(404, "notFound", "Not Found"))
        event_id = body.get("id") or secrets.token_hex(13)
        if any(e.id == event_id and e.calendar_id == calendar_id for e in self.events):
            return _json(
                409, _api_error(409, "duplicate", "The requested identifier already exists.")
            )
        resource: dict[str, Any] = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"{self.base_url}/calendar/event?eid={event_id}",
            "iCalUID": f"{event_id}@google.com",
            "organizer": {"email": calendar_id, "self": True},
            **{k: v for k, v in body.items() if k not in ("conferenceData", "id")},
        }
        version = req.query.get("conferenceDataVersion", ["0"])[0]
        create = (body.get("conferenceData") or {}).get("createRequest")
        if version == "1" and create:
            if (create.get("conferenceSolutionKey") or {}).get("type") != "hangoutsMeet":
                return _json(400, _api_error(400, "invalid", "Invalid conference type value."))
            code = "-".join(secrets.token_hex(2)[:3] for _ in range(3))
            link = f"https://meet.google.com/{code}"
            resource["conferenceData"] = {
                "createRequest": {**create, "status": {"statusCode": "success"}},
                "entryPoints": [{"entryPointType": "video", "uri": link, "label": link[8:]}],
                "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
                "conferenceId": code,
            }
            resource["hangoutLink"] = link
        self._seq += 1
        self.events.append(
            FakeEvent(calendar_id, event_id, body, req.query, resource, seq=self._seq)
        )
        return _json(200, resource)

    def _events_patch(self, req: _Request) -> _Response:
        """events.patch: the fields sent replace the event's (kept in `body` and `resource`,
        the query in `patch_query`); the id stays."""
        parts = req.path.split("/")
        calendar_id, event_id = self._resolve(parts[4]), parts[6]
        body = req.json if isinstance(req.json, dict) else {}
        for event in self.events:
            if event.id == event_id and event.calendar_id == calendar_id and not event.deleted:
                event.body = {**event.body, **body}
                event.resource = {**event.resource, **body}
                event.patch_query = req.query
                self._seq += 1
                event.seq = self._seq
                return _json(200, event.resource)
        return _json(404, _api_error(404, "notFound", "Not Found"))

    def _events_delete(self, req: _Request) -> _Response:
        parts = req.path.split("/")
        calendar_id, event_id = self._resolve(parts[4]), parts[6]
        for event in self.events:
            if event.id == event_id and event.calendar_id == calendar_id:
                if event.deleted:
                    return _json(410, _api_error(410, "deleted", "Resource has been deleted"))
                event.deleted = True
                event.delete_query = req.query
                self._seq += 1
                event.seq = self._seq
                return _Response(204, {}, b"")
        return _json(404, _api_error(404, "notFound", "Not Found"))

    def _events_watch(self, req: _Request) -> _Response:
        """Open a push channel: Google would POST to `address` on every change (tests do)."""
        calendar_id = self._resolve(req.path.split("/")[4])
        body = req.json if isinstance(req.json, dict) else {}
        if body.get("type") != "web_hook" or not body.get("id"):
            return _json(400, _api_error(400, "invalid", "Invalid channel."))
        address = str(body.get("address", ""))
        if not address.startswith("https://"):
            return _json(
                400, _api_error(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS")
            )
        lifetime = self.channel_lifetime
        ttl = (body.get("params") or {}).get("ttl")
        if ttl:
            lifetime = min(lifetime, timedelta(seconds=int(ttl)))
        expires = datetime.now(UTC) + lifetime
        channel = {
            "kind": "api#channel",
            "id": body["id"],
            "resourceId": secrets.token_hex(8),
            "resourceUri": f"{self.api_endpoint}calendars/{calendar_id}/events",
            "token": body.get("token", ""),
            "address": address,
            "calendar_id": calendar_id,
            "expiration": str(int(expires.timestamp() * 1000)),
            "stopped": False,
        }
        self.channels[body["id"]] = channel
        return _json(
            200,
            {
                k: channel[k]
                for k in ("kind", "id", "resourceId", "resourceUri", "token", "expiration")
            },
        )

    def _channels_stop(self, req: _Request) -> _Response:
        body = req.json if isinstance(req.json, dict) else {}
        channel = self.channels.get(str(body.get("id", "")))
        if channel is None or channel["resourceId"] != body.get("resourceId"):
            return _json(404, _api_error(404, "notFound", "Channel not found"))
        channel["stopped"] = True
        return _Response(204, {}, b"")

    def _events_list(self, req: _Request) -> _Response:
        """events.list with timeMin/timeMax, pages (maxResults, pageToken) and sync tokens: a
        full listing's last page carries nextSyncToken; a listing with syncToken returns what
        changed since (deleted events as status "cancelled"), or 410 once tokens expired."""
        calendar_id = self._resolve(req.path.split("/")[4])
        if not self._known(calendar_id):
            return _json(404, _api_error(404, "notFound", "Not Found"))
        q = {k: v[0] for k, v in req.query.items()}
        since: int | None = None
        if "syncToken" in q:
            if any(k in q for k in ("timeMin", "timeMax", "updatedMin", "q", "orderBy")):
                return _json(400, _api_error(400, "invalid", "Invalid combination with syncToken"))
            try:
                since = int(q["syncToken"].removeprefix("seq:"))
            except ValueError:
                return _json(400, _api_error(400, "invalid", "Invalid sync token value."))
            if since < self._token_floor:
                return _json(
                    410,
                    _api_error(
                        410,
                        "fullSyncRequired",
                        "Sync token is no longer valid, a full sync is required.",
                    ),
                )
        items = []
        for event in list(self.events):
            if event.calendar_id != calendar_id or "dateTime" not in event.body.get("start", {}):
                continue
            if since is not None:
                if event.seq <= since:
                    continue
                if event.deleted:
                    items.append({"kind": "calendar#event", "id": event.id, "status": "cancelled"})
                    continue
            elif event.deleted:
                continue
            if "timeMin" in q and event.end <= _parse_time(q["timeMin"]):
                continue
            if "timeMax" in q and event.start >= _parse_time(q["timeMax"]):
                continue
            items.append(event.resource)
        items.sort(key=lambda r: (r.get("start", {}).get("dateTime", ""), r["id"]))
        size = min(int(q.get("maxResults", 250)), self.events_page_size)
        offset = int(q.get("pageToken", "0") or 0)
        page = items[offset : offset + size]
        answer: dict[str, Any] = {"kind": "calendar#events", "items": page}
        if offset + size < len(items):
            answer["nextPageToken"] = str(offset + size)
        else:
            answer["nextSyncToken"] = f"seq:{self._seq}"
        return _json(200, answer)


# -- HTTP plumbing ------------------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    form: dict[str, list[str]]


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _make_handler(fake: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type", "")
            parsed_json: Any = None
            form: dict[str, list[str]] = {}
            if raw and "json" in ctype:
                try:
                    parsed_json = json.loads(raw)
                except ValueError:
                    parsed_json = None
            elif raw:
                form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            request = _Request(
                method=self.command,
                path=unquote(split.path),
                query=parse_qs(split.query, keep_blank_values=True),
                headers={k.title(): v for k, v in self.headers.items()},
                json=parsed_json,
                form=form,
            )
            response = fake._handle(request)
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD" and response.body:
                self.wfile.write(response.body)

        do_GET = _serve
        do_POST = _serve
        do_DELETE = _serve
        do_PUT = _serve
        do_PATCH = _serve

    return Handler


def _endpoint_of(method: str, path: str) -> str | None:
    if path == "/o/oauth2/auth" and method == "GET":
        return "authorize"
    if path == "/token" and method == "POST":
        return "token"
    if path in ("/revoke", "/o/oauth2/revoke") and method in ("POST", "GET"):
        return "revoke"
    prefix = "/calendar/v3/"
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix) :].strip("/").split("/")
    if rest == ["freeBusy"] and method == "POST":
        return "freeBusy"
    if rest == ["users", "me", "calendarList"] and method == "GET":
        return "calendarList"
    if rest == ["channels", "stop"] and method == "POST":
        return "channels.stop"
    if len(rest) == 4 and rest[0] == "calendars" and rest[2:] == ["events", "watch"]:
        return "events.watch" if method == "POST" else None
    if len(rest) == 3 and rest[0] == "calendars" and rest[2] == "events":
        return {"POST": "events.insert", "GET": "events.list"}.get(method)
    if len(rest) == 4 and rest[0] == "calendars" and rest[2] == "events" and method == "DELETE":
        return "events.delete"
    if len(rest) == 4 and rest[0] == "calendars" and rest[2] == "events" and method == "PATCH":
        return "events.patch"
    return None


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> _Response:
    out = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
    return _Response(status, out, json.dumps(data).encode())


def _page(status: int, text: str) -> _Response:
    body = f"<!doctype html><title>Fake Google</title><p>{text}</p>".encode()
    return _Response(status, {"Content-Type": "text/html; charset=utf-8"}, body)


def _redirect(location: str) -> _Response:
    return _Response(302, {"Location": location, "Content-Type": "text/html"}, b"")


def _oauth_error(error: str, description: str) -> _Response:
    return _json(400, {"error": error, "error_description": description})


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _api_error(code: int, reason: str, message: str, *, status: str | None = None) -> Any:
    domain = "usageLimits" if "Limit" in reason or "quota" in reason else "global"
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }


_DEFAULT_REASONS = {
    429: "rateLimitExceeded",
    403: "forbidden",
    500: "backendError",
    503: "backendError",
    401: "authError",
    400: "badRequest",
    404: "notFound",
}


def _failure_response(endpoint: str, failure: _Failure) -> _Response:
    if failure.body is not None:
        body = (
            failure.body if isinstance(failure.body, bytes) else json.dumps(failure.body).encode()
        )
        return _Response(
            failure.status, {"Content-Type": "application/json", **failure.headers}, body
        )
    if endpoint in ("token", "revoke"):
        data = {
            "error": failure.reason or "server_error",
            "error_description": failure.message or "scripted failure",
        }
        return _json(failure.status, data, failure.headers)
    if endpoint == "authorize":
        return _page(failure.status, failure.message or "scripted failure")
    reason = failure.reason or _DEFAULT_REASONS.get(failure.status, "backendError")
    message = failure.message or {
        "rateLimitExceeded": "Rate Limit Exceeded",
        "userRateLimitExceeded": "User Rate Limit Exceeded",
        "quotaExceeded": "Calendar usage limits exceeded.",
    }.get(reason, f"scripted {failure.status}")
    return _json(failure.status, _api_error(failure.status, reason, message), failure.headers)


def _add_query(url: str, params: dict[str, str]) -> str:
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}{urlencode(params)}"


def _token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return parsed


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clip_and_merge(
    spans: Iterable[tuple[datetime, datetime]], lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    clipped = sorted((max(s, lo), min(e, hi)) for s, e in spans if s < hi and e > lo and e > s)
    merged: list[tuple[datetime, datetime]] = []
    for start, end in clipped:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
