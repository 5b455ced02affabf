"""The instance folder: the secret key and, by default, the SQLite database and mail outbox."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from web.errors import UserError

SECRET_FILE = "secret_key"
SECRET_ENV = "MEETAGAIN_SECRET_KEY"


def ensure_instance(path: Path) -> Path:
    """Create the instance folder (mode 0700) if missing."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def create_secret(path: Path) -> bool:
    """Write a new random secret key file with mode 0600; never overwrite one that exists.

    Returns True when a secret was written, False when one was already there.
    """
    file = path / SECRET_FILE
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return True


def read_secret(path: Path) -> str:
    """The secret key from $MEETAGAIN_SECRET_KEY or the instance folder; refuse without one."""
    env = os.environ.get(SECRET_ENV, "")
    if env:
        if len(env) < 32:
            raise UserError(f"{SECRET_ENV} is too short (at least 32 characters)")
        return env
    file = path / SECRET_FILE
    try:
        secret = file.read_text().strip()
    except FileNotFoundError:
        raise UserError(
            f"no secret key: set {SECRET_ENV} or run `meetagain init` to create {file}"
        ) from None
    if len(secret) < 32:
        raise UserError(f"{file}: the secret key is too short (at least 32 characters)")
    return secret
