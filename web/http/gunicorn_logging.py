"""gunicorn's access log without secrets (deploy/gunicorn.conf.py names this class).

meetagain writes its own access line per request (web.http.observe); gunicorn's is off in the
deploy config. Whoever switches it on (`accesslog = "-"`) gets every field passed through the
same `web.http.logs.redact` first: no invite token, no OAuth code, no setup token.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from web.http.logs import redact


class RedactingLogger(Logger):
    """gunicorn's logger whose access-log fields (request line, path, query, headers) are
    redacted."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = redact(value)
        return atoms
