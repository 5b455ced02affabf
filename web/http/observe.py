"""WSGI middleware around the whole app: a request id for every
request (the client's X-Request-ID when it is a plain short one, else a new one; echoed in the
response), one access line per request (logger "meetagain.access", path redacted) and, when
metrics are on, its latency and status per endpoint.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from web.http import logs

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from web.http.metrics import Metrics

REQUEST_ID_KEY = "meetagain.request_id"  # in the WSGI environ
ENDPOINT_KEY = "meetagain.endpoint"  # in the WSGI environ, set by remember_endpoint
UNMATCHED = "unmatched"  # the endpoint label of a request no route matched

access_log = logging.getLogger(logs.ACCESS_LOGGER)


class RequestObserver:
    """See the module docstring; `metrics` is None when metrics are off."""

    def __init__(self, wsgi_app: WSGIApplication, metrics: Metrics | None) -> None:
        self.wsgi_app = wsgi_app
        self.metrics = metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        rid = logs.valid_request_id(environ.get("HTTP_X_REQUEST_ID")) or uuid.uuid4().hex
        environ[REQUEST_ID_KEY] = rid
        token = logs.request_id.set(rid)
        started = perf_counter()
        status = [500]

        def respond(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = int(status_line[:3])
            headers.append(("X-Request-ID", rid))
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, respond)
        finally:
            self._done(environ, status[0], perf_counter() - started)
            logs.request_id.reset(token)

    def _done(self, environ: WSGIEnvironment, status: int, seconds: float) -> None:
        method = environ.get("REQUEST_METHOD", "")
        if self.metrics is not None:
            self.metrics.observe(_endpoint(environ), method, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            query = environ.get("QUERY_STRING")
            shown = logs.redact(f"{path}?{query}" if query else path)
            ms = round(seconds * 1000, 1)
            addr = environ.get("REMOTE_ADDR", "")
            access_log.info(
                "%s %s %s %sms %s",
                method,
                shown,
                status,
                ms,
                addr,
                extra={
                    "request_id": environ.get(REQUEST_ID_KEY, ""),
                    "method": method,
                    "path": shown,
                    "status": status,
                    "duration_ms": ms,
                    "remote_addr": addr,
                    "endpoint": _endpoint(environ),
                },
            )


def _endpoint(environ: WSGIEnvironment) -> str:
    endpoint = environ.get(ENDPOINT_KEY)
    return str(endpoint) if endpoint else UNMATCHED


def remember_endpoint() -> None:
    """Flask's first before_request: note the matched endpoint for the access line."""
    from flask import request

    request.environ[ENDPOINT_KEY] = request.endpoint
