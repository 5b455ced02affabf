"""The signed-cookie session, with its signing serializer built once per key set.

Flask builds a new serializer on every request (it runs before any view, on every page); the
serializer depends only on the secret key and its fallbacks, so it is kept and rebuilt only
when they change.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


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
