"""Mail delivery: a file outbox (one .eml per message) for the demo, and SMTP for real use.

Both implement `scheduler.ports.Mailer`. A failed delivery raises `MailError`; `permanent`
tells the outbox whether retrying can help (a refused recipient will be refused again).
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from integrations.config import Config
from integrations.files import write_atomically

_BARE_LF = re.compile(rb"(?<!\r)\n")


class MailError(Exception):
    """Delivery failed; the message carries the server's reason."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def message_id_of(message: bytes) -> str:
    """The Message-ID header of a raw message, or "" if it has none."""
    parsed = message_from_bytes(message, policy=policy.default)
    return str(parsed.get("Message-ID", "")).strip()


class FileMailer:
    """Writes each message to `folder` as an .eml file named after its Message-ID.

    The name is stable, so a message delivered twice (at-least-once) replaces itself.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path_for(self, message: bytes) -> Path:
        key = message_id_of(message) or hashlib.sha256(message).hexdigest()
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self.folder / f"{digest}.eml"

    def send(self, message: bytes, *, sender: str, recipients: list[str]) -> None:
        """Write the message atomically (temporary file, then rename)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.path_for(message)
            envelope = (
                f"X-Envelope-From: {sender}\r\nX-Envelope-To: {', '.join(recipients)}\r\n"
            ).encode()
            write_atomically(target, envelope + message)
        except OSError as exc:
            # The folder is not named: logs and the outbox table carry no absolute paths.
            reason = exc.strerror or exc.__class__.__name__
            raise MailError(f"cannot write to the mail outbox folder: {reason}") from exc

    def messages(self) -> list[StoredMail]:
        """The stored messages, newest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("*.eml"):
            parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(StoredMail(path=path, mtime=path.stat().st_mtime, message=parsed))
        return sorted(found, key=lambda m: (-m.mtime, m.path.name))


@dataclass(frozen=True)
class StoredMail:
    path: Path
    mtime: float
    message: EmailMessage = field(compare=False)

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))


class SmtpMailer:
    """Delivers through an SMTP server: starttls, ssl (implicit TLS) or none; optional auth."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        timeout: float = 20,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f'security "{security}" must be starttls, ssl or none')
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context

    def _connect(self) -> smtplib.SMTP:
        context = self.ssl_context or ssl.create_default_context()
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            client.starttls(context=context)
        return client

    def send(self, message: bytes, *, sender: str, recipients: list[str]) -> None:
        """Deliver or raise MailError with the server's reply (permanent for 5xx refusals)."""
        where = f"{self.host}:{self.port}"
        message = _BARE_LF.sub(b"\r\n", message)  # SMTP lines end in CRLF
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot connect to SMTP server {where}: {_reason(exc)}") from exc
        try:
            if self.username:
                client.login(self.username, self.password)
            refused = client.sendmail(sender, recipients, message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(
                f"SMTP server {where} refused {_refusals(exc.recipients)}",
                permanent=all(code >= 500 for code, _ in exc.recipients.values()),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"SMTP server {where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=exc.smtp_code >= 500
                and not isinstance(exc, smtplib.SMTPAuthenticationError),
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP server {where}: {_reason(exc)}") from exc
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        if refused:
            # Others got it: retrying would send them a duplicate, so this is final.
            raise MailError(f"SMTP server {where} refused {_refusals(refused)}", permanent=True)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items())


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def mailer_from_config(config: Config) -> FileMailer | SmtpMailer:
    """The mailer [mail] asks for; the SMTP password comes only from the environment."""
    mail = config.mail
    if mail.backend == "file":
        folder = Path(mail.outbox_dir)
        return FileMailer(folder if folder.is_absolute() else config.instance_dir / folder)
    return SmtpMailer(
        mail.host,
        mail.port,
        security=mail.security,
        username=mail.username,
        password=os.environ.get(mail.password_env, "") if mail.username else "",
        timeout=mail.timeout_seconds,
    )
