"""The invitee's two busiest requests answered beneath Flask: an invite page that is already
rendered, and `action=accept`.

Every invitee opens the link and most accept; both are a few hundred microseconds of our own
work, which Flask's per-request machinery (request and app contexts, the session, CSRF and the
other hooks, form parsing, URL building) would more than double. This WSGI middleware answers
exactly those two cases itself, with exactly the bytes and headers the Flask views send (the
tests compare the two), and hands every other request to Flask untouched: a query string, a
page not rendered yet, an unknown or answered invite, another action, an unusual body. When an
accept it tried is refused (taken, expired, unknown), the refusal goes with the request to the
Flask view, which renders it without trying again.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from web.blueprints import invites as views
from web.metrics import count_accept
from web.observe import ENDPOINT_KEY
from web.services import invites as svc

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

# Tokens are URL-safe base64 (secrets.token_urlsafe); anything else is Flask's to refuse.
_INVITE_PATH = re.compile(r"/i/([A-Za-z0-9_-]{16,128})\Z")
_FORM_TYPE = "application/x-www-form-urlencoded"
_PLAIN_ROOT = re.compile(r"[A-Za-z0-9/._~-]*")
_MAX_BODY = 4096  # an accept is under 100 bytes; anything bigger is not the scripted contract


class InviteFastPath:
    """WSGI middleware (app.wsgi_app) for GET and POST /i/<token>; see the module docstring."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/i/") and not environ.get("QUERY_STRING"):
            match = _INVITE_PATH.match(path)
            if match is not None:
                method = environ.get("REQUEST_METHOD")
                answer = None
                if method == "GET":
                    answer = self._page(match[1], environ)
                elif method == "POST":
                    answer = self._accept(match[1], environ)
                if answer is not None:
                    status, headers, body = answer
                    environ[ENDPOINT_KEY] = "invites.page" if method == "GET" else "invites.answer"
                    start_response(status, headers)
                    return [body]
        return self.wsgi_app(environ, start_response)

    def _page(self, token: str, environ: WSGIEnvironment) -> tuple[str, list[Any], bytes] | None:
        """The invite page as the page view would render it, when it is in the page cache."""
        cache: views.PageCache | None = self.app.extensions.get("meetagain.invite_pages")
        if cache is None or not views.rate_allowed(self.app, environ):
            return None
        try:
            view = svc.load_invite(self.app.extensions["meetagain"], token, now=_now())
        except svc.InviteNotFound as exc:
            environ[views.LOADED_INVITE_KEY] = exc  # the view answers 404 without asking again
            return None
        except Exception:  # database trouble: the view tries again, and answers (and logs)
            return None
        environ[views.LOADED_INVITE_KEY] = view  # for the view, if it answers instead
        root = _script_root(environ)
        if view.state != "open" or root is None:
            return None
        key = views.page_key(
            view,
            zone=view.invitee_timezone or view.owner_timezone,
            explicit_zone=False,
            pick="",
            focus="",
            offered=view.remaining,
            script_root=root,
            extra=views.plain_page_extra(None),
            hour12=views.uses_12_hour_clock(environ.get("HTTP_ACCEPT_LANGUAGE", "")),
        )
        html = cache.get(key)
        if html is None:
            return None  # the view renders it (and caches it for the next visit)
        body = html.encode("utf-8")
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *views.PUBLIC_HEADERS,
        ]
        return "200 OK", headers, body

    def _accept(self, token: str, environ: WSGIEnvironment) -> tuple[str, list[Any], bytes] | None:
        """`action=accept&start=...` booked: the 303 to the confirmation page."""
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        raw_length = environ.get("CONTENT_LENGTH") or ""
        if (
            content_type != _FORM_TYPE
            or not (raw_length.isascii() and raw_length.isdigit())
            or not 0 < int(raw_length) <= _MAX_BODY
            or environ.get("HTTP_TRANSFER_ENCODING")  # werkzeug reads those its own way
        ):
            return None
        body = environ["wsgi.input"].read(int(raw_length))
        environ["wsgi.input"] = io.BytesIO(body)  # Flask reads it again if it answers
        if len(body) != int(raw_length):
            return None  # the client went away mid-body
        try:
            fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return None
        form: dict[str, str] = {}
        for name, value in fields:
            form.setdefault(name, value)  # the first value, as request.form.get gives
        if form.get("action") != "accept":
            return None
        start = views.parse_start(form.get("start", ""))
        root = _script_root(environ)
        if start is None or root is None or not views.rate_allowed(self.app, environ):
            return None
        try:
            svc.accept_invite(
                self.app.extensions["meetagain"],
                token,
                start,
                now=_now(),
                invitee_timezone=views.valid_zone(form.get("tz")),
            )
        except Exception as exc:  # refused (or failed): the view answers from it
            environ[views.ACCEPT_OUTCOME_KEY] = exc
            return None
        count_accept(self.app, "booked")
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", "0"),
            ("Location", f"{root}/i/{token}/booking"),
            *views.PUBLIC_HEADERS,
        ]
        return "303 SEE OTHER", headers, b""


def _script_root(environ: WSGIEnvironment) -> str | None:
    """Where the app is mounted, as url_for puts it in front of paths; None for a mount point
    that url_for would have to quote (Flask answers those)."""
    root: str = environ.get("SCRIPT_NAME", "").rstrip("/")
    return root if _PLAIN_ROOT.fullmatch(root) else None


def _now() -> datetime:
    return datetime.now(UTC)
