"""Test helpers for invites: a real SMTP server (aiosmtpd), a real WSGI server, seed data."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from werkzeug.serving import make_server

from integrations.storage import models
from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.model import Contact, ProposedTime
from web.composition import Runtime


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)  # address -> "550 reason"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.reject:
            return self.reject[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(envelope.content))  # type: ignore[arg-type]
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1, port chosen by the OS; can be stopped and started on that port."""

    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def reject(self, address: str, reply: str) -> None:
        self.handler.reject[address.lower()] = reply

    def start(self) -> SmtpServer:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)

            async def serve() -> None:
                self._server = await loop.create_server(
                    lambda: SMTP(self.handler, hostname="meetagain-test"),
                    host="127.0.0.1",
                    port=self.port,
                )
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            loop.run_until_complete(serve())
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10), "SMTP server did not start"
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def close() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop = None
        self._server = None


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """The app behind a real threaded WSGI server on loopback; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def make_owner(
    runtime: Runtime,
    email: str = "olivia@example.com",
    name: str = "Olivia Owner",
    timezone: str = "Europe/Berlin",
    password: str = "",
) -> int:
    from werkzeug.security import generate_password_hash

    with transaction(runtime.sessions) as session:
        row = models.User(
            email=email,
            name=name,
            password_hash=generate_password_hash(password) if password else "",
            timezone=timezone,
            settings={},
            setup_step=5,
            created_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        return row.id


def make_contact(
    runtime: Runtime,
    user_id: int,
    name: str = "Ana Souza",
    email: str = "ana@example.org",
    timezone: str = "",
    questions: tuple[str, ...] = ("How did the dbt migration go?",),
) -> int:
    with transaction(runtime.sessions) as session:
        row = ContactRepository(session, user_id).add(
            Contact(
                name=name,
                emails=(email,),
                how_met="PyData Berlin",
                timezone=timezone or None,
                questions=questions,
            )
        )
        return row.id


def times_at(*starts: datetime, minutes: int = 45, window: str = "lunch") -> list[ProposedTime]:
    return [ProposedTime(s, s + timedelta(minutes=minutes), window) for s in starts]


def next_weekday_at(now: datetime, days: int, hour: int, minute: int, zone: Any) -> datetime:
    """A wall-clock time `days` days after `now` in `zone`."""
    day = (now.astimezone(zone) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
