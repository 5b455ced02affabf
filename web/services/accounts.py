"""Owner accounts: first-run setup, sign-in, per-user settings (zone, windows, rules)."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from integrations.config import Config, ConfigError, with_user_settings
from integrations.crypto import SecretBox
from integrations.storage import models
from integrations.storage.db import transaction
from web.composition import Runtime
from web.instance import read_secret

MIN_PASSWORD = 8
# Compared against when the email is unknown, so a miss costs as much as a hit.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(Exception):
    """Bad account input; `field` names the form field it belongs to."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class UserView:
    id: int
    email: str
    name: str
    timezone: str
    settings: dict[str, Any] = field(default_factory=dict)
    setup_step: int = 0
    # Changes with the password: a session signed in under another one is over (web.auth).
    password_marker: str = ""


def password_marker(password_hash: str) -> str:
    """A short fingerprint of a password hash, kept in the session cookie (not the hash)."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16] if password_hash else ""


def secret_box(runtime: Runtime) -> SecretBox:
    """The Fernet box keyed from this instance's secret (env or instance folder)."""
    return SecretBox(read_secret(runtime.config.instance_dir))


def _view(row: models.User) -> UserView:
    return UserView(
        id=row.id,
        email=row.email,
        name=row.name,
        timezone=row.timezone,
        settings=copy.deepcopy(row.settings or {}),
        setup_step=row.setup_step,
        password_marker=password_marker(row.password_hash or ""),
    )


def needs_first_account(runtime: Runtime) -> bool:
    """True until some user has a password: the setup page is open only then."""
    with transaction(runtime.sessions) as session:
        count = session.scalar(
            select(func.count()).select_from(models.User).where(models.User.password_hash != "")
        )
        return not count


def _check_email(email: str) -> str:
    email = email.strip().lower()
    if not email or "@" not in email or len(email) > 320 or " " in email:
        raise AccountError("Enter an email address like you@example.com.", "email")
    return email


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"Choose a password of at least {MIN_PASSWORD} characters.", "password")


def create_first_account(runtime: Runtime, email: str, password: str, name: str = "") -> int:
    """Create the owner, or claim the password-less user `meetagain init`/`demo` made."""
    email = _check_email(email)
    _check_password(password)
    with transaction(runtime.sessions, immediate=True) as session:
        if session.scalar(select(models.User.id).where(models.User.password_hash != "")):
            raise AccountError("This meetagain already has an owner: sign in instead.")
        unclaimed = list(
            session.scalars(
                select(models.User).where(models.User.password_hash == "").order_by(models.User.id)
            )
        )
        row = next((u for u in unclaimed if u.email == email), None) or (
            unclaimed[0] if unclaimed else None
        )
        if row is None:
            row = models.User(
                email=email,
                timezone=runtime.config.owner.timezone,
                settings={},
                setup_step=0,
                created_at=datetime.now(UTC),
            )
            session.add(row)
        row.email = email
        row.name = (name.strip() or row.name or email.split("@")[0])[:200]
        row.password_hash = generate_password_hash(password)
        session.flush()
        return row.id


def create_user(
    runtime: Runtime, email: str, password: str, name: str = "", timezone: str = ""
) -> int:
    """Add another user with their own data (several people can share one database)."""
    email = _check_email(email)
    _check_password(password)
    with transaction(runtime.sessions) as session:
        if session.scalar(select(models.User.id).where(models.User.email == email)):
            raise AccountError("There is already an account with this email.", "email")
        row = models.User(
            email=email,
            name=(name.strip() or email.split("@")[0])[:200],
            password_hash=generate_password_hash(password),
            timezone=timezone or runtime.config.owner.timezone,
            settings={},
            setup_step=0,
            created_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        return row.id


def change_password(runtime: Runtime, user_id: int, current: str | None, new: str) -> None:
    """Set a new password; `current` must match the old one (None: not asked, for the CLI run
    by whoever administers the instance, e.g. after a forgotten password)."""
    try:
        _check_password(new)
    except AccountError as exc:
        raise AccountError(str(exc), "new_password") from None
    with transaction(runtime.sessions) as session:
        row = session.get(models.User, user_id)
        if row is None:
            raise AccountError("There is no such account.")
        if current is not None and not (
            row.password_hash and check_password_hash(row.password_hash, current)
        ):
            raise AccountError("That is not your current password.", "current_password")
        row.password_hash = generate_password_hash(new)


def authenticate(runtime: Runtime, email: str, password: str) -> int | None:
    """The user id when email and password match, else None."""
    email = email.strip().lower()
    with transaction(runtime.sessions) as session:
        row = session.scalar(select(models.User).where(models.User.email == email))
        if row is None or not row.password_hash:
            check_password_hash(_DUMMY_HASH, password)
            return None
        return row.id if check_password_hash(row.password_hash, password) else None


def get_user(runtime: Runtime, user_id: int) -> UserView | None:
    with transaction(runtime.sessions) as session:
        row = session.get(models.User, user_id)
        return _view(row) if row is not None else None


class HasSettings(Protocol):
    """A user row or view: what the effective config is built from."""

    @property
    def settings(self) -> Any: ...

    @property
    def timezone(self) -> Any: ...


def user_config(runtime: Runtime, user: HasSettings) -> Config:
    """The config as this user sees it; falls back to the file's values if settings are bad."""
    try:
        return with_user_settings(runtime.config, user.settings or {}, user.timezone or "")
    except ConfigError:
        return runtime.config


def _save_settings(
    runtime: Runtime, user_id: int, changes: dict[str, Any], timezone: str | None = None
) -> None:
    with transaction(runtime.sessions) as session:
        row = session.get(models.User, user_id)
        if row is None:
            raise AccountError("This account no longer exists.")
        settings = copy.deepcopy(row.settings or {})
        settings.update(changes)
        zone = timezone if timezone is not None else row.timezone
        # Validate exactly like the config file; nothing is stored when this raises.
        try:
            with_user_settings(runtime.config, settings, zone)
        except ConfigError as exc:
            message = str(exc).split("(user settings): ", 1)[-1]
            raise AccountError(message) from None
        row.settings = settings
        row.timezone = zone


def save_time_and_windows(
    runtime: Runtime, user_id: int, timezone: str, windows: dict[str, dict[str, Any]]
) -> None:
    """Store the user's zone and meal windows (validated; nothing changes on error)."""
    if not windows:
        raise AccountError("Keep at least one meal window.", "windows")
    _save_settings(runtime, user_id, {"windows": windows}, timezone)
    advance_setup(runtime, user_id, 1)


def save_rules(
    runtime: Runtime, user_id: int, rules: dict[str, Any], scheduling: dict[str, Any]
) -> None:
    _save_settings(runtime, user_id, {"rules": rules, "scheduling": scheduling})
    advance_setup(runtime, user_id, 4)


def save_owner_place(runtime: Runtime, user_id: int, city: str, video_room_url: str) -> None:
    """Store the user's home city and video-room URL (validated like [owner] in the file)."""
    _save_settings(runtime, user_id, {"owner": {"city": city, "video_room_url": video_room_url}})


def advance_setup(runtime: Runtime, user_id: int, step: int) -> None:
    """Remember the furthest wizard step the user completed."""
    with transaction(runtime.sessions) as session:
        row = session.get(models.User, user_id)
        if row is not None and row.setup_step < step:
            row.setup_step = step
