"""A small threaded loopback HTTP server serving files with ETag, Last-Modified and redirects."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHTTPServer(ThreadingHTTPServer):
    """A threaded server that does not print tracebacks when a client hangs up early."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@dataclass
class Resource:
    """What one path answers: a body with optional validators, or a redirect, or a status."""

    body: bytes = b""
    content_type: str = "text/calendar; charset=utf-8"
    etag: str | None = None
    last_modified: datetime | None = None
    status: int = 200
    location: str | None = None  # set for a redirect (status 301/302/307/308)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow server)


@dataclass(frozen=True)
class Hit:
    """One request the server answered, for tests that assert what happened on the wire."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    body_bytes: int


class LoopbackHttpServer:
    """Serves `resources` (path -> Resource) on host:<ephemeral>; use as a context manager.

    Conditional GET: If-None-Match against the ETag and If-Modified-Since against Last-Modified
    answer 304 with no body. `hits` records every request with the status it got.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host  # any 127.x.y.z: a second loopback address is a second "host"
        self.port = port  # 0: any free port
        self.resources: dict[str, Resource] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up helpers -------------------------------------------------------------------------
    def serve(self, path: str, body: bytes, **kwargs: Any) -> str:
        """Serve body at path and return its absolute URL."""
        self.resources[path] = Resource(body=body, **kwargs)
        return self.url(path)

    def redirect(self, path: str, to: str, status: int = 302) -> str:
        """Make path redirect to `to` (a path on this server or any absolute URL)."""
        location = to if "://" in to or to.startswith(("file:", "ftp:")) else self.url(to)
        self.resources[path] = Resource(status=status, location=location)
        return self.url(path)

    def redirect_chain(self, final_path: str, hops: int, prefix: str = "/hop") -> str:
        """A chain of `hops` redirects ending at final_path; returns the first URL."""
        target = final_path
        for n in range(hops, 0, -1):
            path = f"{prefix}{n}"
            self.redirect(path, target)
            target = path
        return self.url(target)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://{self.host}:{self._server.server_port}"

    def statuses(self, path: str) -> list[int]:
        """The statuses answered for path, in order."""
        with self._lock:
            return [h.status for h in self.hits if h.path == path]

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> LoopbackHttpServer:
        self._server = QuietHTTPServer((self.host, self.port), _make_handler(self))
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

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)


def _make_handler(owner: LoopbackHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass  # keep test output quiet

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        # WebDAV methods get the same answers, so a CalDAV client can be redirected too.
        do_PROPFIND = do_REPORT = do_GET

        def _answer(self, *, send_body: bool) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:  # a PROPFIND's body: read it, so the connection can be reused
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            resource = owner.resources.get(path)
            if resource is not None and resource.delay:
                time.sleep(resource.delay)
            headers = {k: v for k, v in self.headers.items()}
            if resource is None:
                self._send(
                    404, {"Content-Type": "text/plain"}, b"not found\n", path, headers, send_body
                )
                return
            out = {"Content-Type": resource.content_type, **resource.headers}
            if resource.location is not None:
                out["Location"] = resource.location
                self._send(resource.status, out, b"", path, headers, send_body)
                return
            if resource.etag is not None:
                out["ETag"] = resource.etag
            if resource.last_modified is not None:
                out["Last-Modified"] = format_datetime(resource.last_modified, usegmt=True)
            if resource.status == 200 and _not_modified(self.headers, resource):
                self._send(
                    304,
                    {k: v for k, v in out.items() if k != "Content-Type"},
                    b"",
                    path,
                    headers,
                    send_body,
                )
                return
            self._send(resource.status, out, resource.body, path, headers, send_body)

        def _send(
            self,
            status: int,
            out: dict[str, str],
            body: bytes,
            path: str,
            request_headers: dict[str, str],
            send_body: bool,
        ) -> None:
            will_send = send_body and status != 304 and bool(body)
            # Record before answering: the client may act on the answer before we return.
            owner._record(
                Hit(self.command, path, request_headers, status, len(body) if will_send else 0)
            )
            self.send_response(status)
            for key, value in out.items():
                self.send_header(key, value)
            if status != 304 and "Transfer-Encoding" not in out:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if will_send:
                # The client may stop reading (size limit): that is the point.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

    return Handler


def _not_modified(headers: Any, resource: Resource) -> bool:
    inm = headers.get("If-None-Match")
    if inm is not None and resource.etag is not None:
        tags = [t.strip() for t in inm.split(",")]
        return resource.etag in tags or "*" in tags
    ims = headers.get("If-Modified-Since")
    if ims and resource.last_modified is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        return resource.last_modified.replace(microsecond=0) <= since
    return False
