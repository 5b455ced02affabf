"""Logging: one line per request with its request id, text or JSON (`[log] format`), and the
one rule that keeps secrets out of logs: `redact` (invite tokens in paths, credentials in query
strings). The app's access lines, gunicorn's access log (web.http.gunicorn_logging) and every log
record made during a request (through `RequestIdFilter`) carry the request id.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from integrations.config import LogConfig

ACCESS_LOGGER = "meetagain.access"
REDACTED = "[redacted]"

# The request id of the request being served (set by web.http.observe), for every log record.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# /i/<token> and everything below it: the token is the invitee's only credential.
_INVITE_TOKEN = re.compile(r"(/i/)[^/?#\s]+")
# Query parameters that carry credentials (OAuth codes and states, setup and reset tokens).
_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:token|code|state|key|secret|password|access_token|refresh_token)=)[^&#\s]*"
)
# A request id is echoed in a header and logged: only short plain ones are taken from clients.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def redact(text: str) -> str:
    """`text` (a path, a request line, a URL) without invite tokens or credentials."""
    if "/i/" in text:
        text = _INVITE_TOKEN.sub(r"\1" + REDACTED, text)
    if "=" in text:
        text = _SECRET_PARAM.sub(r"\1" + REDACTED, text)
    return text


def valid_request_id(value: str | None) -> str | None:
    """A client's X-Request-ID when it is safe to log and echo, else None."""
    return value if value and _REQUEST_ID.fullmatch(value) else None


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (empty outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and the extra fields
    the access line carries."""

    FIELDS = ("method", "path", "status", "duration_ms", "remote_addr", "endpoint")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            entry["request_id"] = rid
        for name in self.FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_MARK = "_meetagain_handler"


def configure(config: LogConfig, stream: Any = None) -> logging.Handler:
    """Send log records to stderr (or `stream`) in the configured format, once per process:
    called by the entry points (gunicorn's web.http.wsgi, `meetagain serve`, `meetagain worker`),
    never by the app factory."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _MARK, True)
    handler.addFilter(RequestIdFilter())
    json_lines = config.format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    return handler
