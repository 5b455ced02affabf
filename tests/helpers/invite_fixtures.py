"""Test helpers for invites: a real SMTP server (aiosmtpd), a real WSGI server, seed data."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from werkzeug.serving import make_server

from integrations.storage import models, outbox
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

    def __init__(
        self,
        *,
        tls: Any = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.handler = _Handler()
        self.port = 0
        self.tls = tls  # server SSLContext: STARTTLS offered (or implicit TLS)
        self.implicit_tls = implicit_tls
        self.credentials = credentials
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def reject(self, address: str, reply: str) -> None:
        self.handler.reject[address.lower()] = reply

    def _protocol(self) -> SMTP:
        options: dict[str, Any] = {"hostname": "meetagain-test"}
        if self.tls is not None and not self.implicit_tls:
            options.update(tls_context=self.tls, require_starttls=True)
        if self.credentials is not None:
            expected = self.credentials

            def check(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
                from aiosmtpd.smtp import AuthResult

                ok = (auth.login.decode(), auth.password.decode()) == expected
                return AuthResult(success=ok, handled=False)

            options.update(
                authenticator=check, auth_required=True, auth_require_tls=self.tls is not None
            )
        return SMTP(self.handler, **options)

    def start(self) -> SmtpServer:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)

            async def serve() -> None:
                self._server = await loop.create_server(
                    self._protocol,
                    host="127.0.0.1",
                    port=self.port,
                    ssl=self.tls if self.implicit_tls else None,
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
def smtp_server(**options: Any) -> Iterator[SmtpServer]:
    server = SmtpServer(**options).start()
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


def queue_emails(runtime: Runtime, user: int, count: int, *, now: datetime) -> list[str]:
    """`count` finished emails in the outbox; their Message-IDs."""
    ids = []
    with transaction(runtime.sessions) as session:
        for n in range(count):
            message = EmailMessage()
            message["From"] = "meetagain@example.org"
            message["To"] = f"guest{n}@example.org"
            message["Subject"] = f"Coffee {n}"
            message["Message-ID"] = f"<queued-{n}@meetagain.test>"
            message.set_content(f"message {n}")
            outbox.enqueue_email(session, user_id=user, message=message, now=now)
            ids.append(message["Message-ID"])
    return ids


def times_at(*starts: datetime, minutes: int = 45, window: str = "lunch") -> list[ProposedTime]:
    return [ProposedTime(s, s + timedelta(minutes=minutes), window) for s in starts]


def next_weekday_at(now: datetime, days: int, hour: int, minute: int, zone: Any) -> datetime:
    """A wall-clock time `days` days after `now` in `zone`."""
    day = (now.astimezone(zone) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def self_signed_tls(folder: Any) -> tuple[Any, Any]:
    """A certificate for 127.0.0.1: (server SSLContext, client SSLContext trusting it)."""
    import ipaddress
    import ssl
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    base = Path(folder)
    cert_file, key_file = base / "cert.pem", base / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def create_sharing_invite(
    runtime: Runtime, owner: int, contact: int, times: Sequence[ProposedTime], *a: Any, **kw: Any
) -> Any:
    """create_invite for times that another open invite already offers. The app never offers
    one time in two invites (one time, one invite), but two invitees racing for one time is
    what the booking's unique index and lock guard, so tests set it up: the owner's offered
    times are set aside while this invite is created, then offered again."""
    from sqlalchemy import select, update

    from web.services import invites as svc

    tim = models.InviteTime
    with transaction(runtime.sessions) as session:
        offered = list(
            session.scalars(select(tim.id).where(tim.user_id == owner, tim.withdrawn.is_(False)))
        )
        session.execute(update(tim).where(tim.id.in_(offered)).values(withdrawn=True))
    try:
        return svc.create_invite(runtime, owner, contact, times, *a, **kw)
    finally:
        with transaction(runtime.sessions) as session:
            session.execute(update(tim).where(tim.id.in_(offered)).values(withdrawn=False))
