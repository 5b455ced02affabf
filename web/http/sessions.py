"""The signed-cookie session, with its signing serializer built once per key set.

Flask builds a new serializer on every request (it runs before any view, on every page); the
serializer depends only on the secret key and its fallbacks, so it is kept and rebuilt only
when they change. Requests without a cookie (every invitee, every script) that leave the
session untouched skip the cookie parsing and the cookie settings altogether.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer

# The app.extensions key listing the endpoints that never use the session (web.http.auth reads it).
SESSIONLESS_KEY = "meetagain.sessionless"


class CachedSigningSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session; the serializer is reused while the keys stay the same."""

    def __init__(self) -> None:
        self._cached: tuple[Any, URLSafeTimedSerializer | None] | None = None
        self._lock = threading.Lock()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._cached
        if cached is not None and cached[0] == key:
            return cached[1]
        serializer = super().get_signing_serializer(app)
        with self._lock:
            self._cached = (key, serializer)
        return serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ:
            return self.session_class()  # what Flask gives for "no session cookie"
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified and not session.accessed:
            return  # Flask would work out every cookie setting, then do nothing
        if request.endpoint in app.extensions.get(SESSIONLESS_KEY, ()):
            return  # invitee pages: no Set-Cookie or Vary for whoever has a session
        super().save_session(app, session, response)
