"""The instance folder: the secret key and, by default, the SQLite database and mail outbox."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from web.errors import UserError

SECRET_FILE = "secret_key"
SECRET_ENV = "MEETAGAIN_SECRET_KEY"
SERVING_FILE = "serving.json"  # where `meetagain serve` listens, while it runs
SETUP_LINK_FILE = "setup-link-base"  # the address the setup link `meetagain init` printed names


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


def record_serving(path: Path, base_url: str) -> None:
    """Note where this process serves, so CLI commands build links that reach it."""
    ensure_instance(path)
    file = path / SERVING_FILE
    temp = file.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps({"url": base_url, "pid": os.getpid()}))
    temp.replace(file)


def forget_serving(path: Path) -> None:
    """Remove the note written by record_serving (unless another server has replaced it)."""
    file = path / SERVING_FILE
    if _serving_entry(file).get("pid") == os.getpid():
        file.unlink(missing_ok=True)


def record_setup_link(path: Path, base_url: str) -> None:
    """Note the address the setup link just printed names, so `serve` on it prints no other."""
    ensure_instance(path)
    (path / SETUP_LINK_FILE).write_text(base_url + "\n")


def setup_link_base(path: Path) -> str | None:
    """The address the last setup link `meetagain init` printed names, or None."""
    try:
        return (path / SETUP_LINK_FILE).read_text().strip() or None
    except OSError:
        return None


def serving_url(path: Path) -> str | None:
    """The address a running `meetagain serve` recorded in the instance folder, or None (none
    recorded, or its process is gone: a server that was killed leaves its note behind)."""
    entry = _serving_entry(path / SERVING_FILE)
    url, pid = entry.get("url"), entry.get("pid")
    if not isinstance(url, str) or not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, run by another user
        pass
    return url


def _serving_entry(file: Path) -> dict[str, object]:
    try:
        entry = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return entry if isinstance(entry, dict) else {}
