"""A real Radicale CalDAV server on 127.0.0.1:<ephemeral>, in a thread, storing in a tmp folder.

Radicale is a WSGI application, so it is served here by the standard library's WSGI server with
one thread per request; `[auth] type = none` accepts any username (one must still be sent).

    with RadicaleServer(tmp_path) as dav:
        url = dav.make_calendar("work")
        dav.put(url, "lunch.ics", ICS_BYTES)
"""

from __future__ import annotations

import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

USERNAME = "owner"
PASSWORD = "any-password"

_MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>{name}</D:displayname>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>
"""


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass


class RadicaleServer:
    """Radicale 3 with no authentication and filesystem storage under `folder`."""

    def __init__(self, folder: Path, *, username: str = USERNAME) -> None:
        self.folder = Path(folder)
        self.username = username
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "RadicaleServer is not running"
        return f"http://127.0.0.1:{self._server.server_port}"

    def calendar_url(self, name: str) -> str:
        return f"{self.base_url}/{self.username}/{name}/"

    def __enter__(self) -> RadicaleServer:
        import radicale
        import radicale.config
        import radicale.log

        configuration = radicale.config.load()
        configuration.update(
            {
                "auth": {"type": "none"},
                "rights": {"type": "owner_only"},
                "storage": {"filesystem_folder": str(self.folder / "collections")},
                "logging": {"level": "error", "mask_passwords": "True"},
                "web": {"type": "none"},
            },
            "meetagain tests",
            privileged=True,
        )
        app = radicale.Application(configuration)
        self._server = make_server(
            "127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- fixtures' helpers -------------------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        response = requests.request(
            method, url, auth=(self.username, PASSWORD), timeout=10, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url}: HTTP {response.status_code} {response.text}")
        return response

    def make_calendar(self, name: str, display_name: str | None = None) -> str:
        """MKCALENDAR /<user>/<name>/ and return its URL."""
        url = self.calendar_url(name)
        body = _MKCALENDAR.format(name=display_name or name)
        self._request(
            "MKCALENDAR", url, data=body.encode(), headers={"Content-Type": "application/xml"}
        )
        return url

    def put(self, calendar_url: str, filename: str, ics: bytes) -> str:
        """PUT one calendar object (one UID, with its overrides) and return its URL."""
        url = calendar_url.rstrip("/") + "/" + filename
        self._request("PUT", url, data=ics, headers={"Content-Type": "text/calendar"})
        return url

    def delete(self, url: str) -> None:
        self._request("DELETE", url)
