"""The account store: users (their role, password hash, settings and invite text) and the
one-time setup link of a fresh instance.

It runs on the Session of the caller's unit of work (`db.transaction`): on SQLite a writing
unit of work began IMMEDIATE, so a check and the write it decides (an email still free, no
owner yet) hold the write lock together; the unique index on `users.email` refuses a duplicate
that races past the check. Passwords are hashed and checked by the service: only hashes pass
through here, and only `credentials*` return them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from integrations.storage import models

ADMIN, USER = "admin", "user"


@dataclass(frozen=True)
class Account:
    """A user as the app shows them (no password hash)."""

    id: int
    email: str
    name: str
    timezone: str
    settings: dict[str, Any] = field(default_factory=dict)
    setup_step: int = 0
    role: str = USER
    disabled: bool = False
    message_template: str = ""
    signature: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


@dataclass(frozen=True)
class Credentials:
    """What signing in and changing a password check: the stored hash ("" = not claimed yet)."""

    user_id: int
    email: str
    name: str
    password_hash: str
    disabled: bool


def account(row: models.User) -> Account:
    """The record of a user row (its settings a copy, so the record cannot change the row)."""
    return Account(
        id=row.id,
        email=row.email,
        name=row.name,
        timezone=row.timezone,
        settings=copy.deepcopy(row.settings or {}),
        setup_step=row.setup_step,
        role=row.role,
        disabled=row.disabled,
        message_template=row.message_template or "",
        signature=row.signature or "",
    )


def _credentials(row: models.User) -> Credentials:
    return Credentials(row.id, row.email, row.name, row.password_hash, row.disabled)


class AccountStore:
    """SQL and ORM for users and the setup link, on the Session of the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- reads -------------------------------------------------------------------------------

    def has_owner(self) -> bool:
        """True once some user has a password (the instance has been set up)."""
        return self.session.scalar(_statements()["owner"]) is not None

    def account(self, user_id: int) -> Account | None:
        row = self.session.get(models.User, user_id)
        return account(row) if row is not None else None

    def accounts(self) -> list[Account]:
        """Every account, oldest first."""
        return [account(r) for r in self.session.scalars(_statements()["everyone"])]

    def enabled_accounts(self) -> list[Account]:
        """The accounts not disabled, oldest first."""
        return [account(r) for r in self.session.scalars(_statements()["enabled"])]

    def credentials(self, email: str) -> Credentials | None:
        """The credentials of the account signing in with `email` (already normalised)."""
        row = self.session.scalar(_statements()["by_email"], {"email": email})
        return _credentials(row) if row is not None else None

    def credentials_of(self, user_id: int) -> Credentials | None:
        row = self.session.get(models.User, user_id)
        return _credentials(row) if row is not None else None

    def email_taken(self, email: str, *, but: int | None = None) -> bool:
        """True when an account (other than `but`) signs in with `email`."""
        s = _statements()
        if but is None:
            return self.session.scalar(s["email_user"], {"email": email}) is not None
        found = self.session.scalar(s["email_other_user"], {"email": email, "but": but})
        return found is not None

    def setup_token_exists(self, token_hash: str) -> bool:
        found = self.session.scalar(_statements()["setup_token"], {"token_hash": token_hash})
        return found is not None

    # --- writes ------------------------------------------------------------------------------

    def claim_owner(
        self, *, email: str, name: str, password_hash: str, timezone: str, now: datetime
    ) -> int:
        """Make the owner (the admin): claim the password-less user with this email that
        `meetagain init`/`demo` made, else the first such user, else a new one. The setup link
        is used up. Returns the owner's id."""
        unclaimed = list(self.session.scalars(_statements()["unclaimed"]))
        row = next((u for u in unclaimed if u.email == email), None) or (
            unclaimed[0] if unclaimed else None
        )
        if row is None:
            row = models.User(
                email=email, timezone=timezone, settings={}, setup_step=0, created_at=now
            )
            self.session.add(row)
        row.email = email
        row.name = (name or row.name or email.split("@")[0])[:200]
        row.password_hash = password_hash
        row.role = ADMIN
        row.disabled = False
        self.session.execute(delete(models.SetupToken))
        self.session.flush()
        return row.id

    def add(
        self, *, email: str, name: str, password_hash: str, timezone: str, now: datetime
    ) -> int:
        """A new (plain) user; returns their id."""
        row = models.User(
            email=email,
            name=name[:200],
            password_hash=password_hash,
            timezone=timezone,
            settings={},
            setup_step=0,
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self._row(user_id).password_hash = password_hash

    def set_settings(self, user_id: int, settings: dict[str, Any], timezone: str) -> None:
        row = self._row(user_id)
        row.settings = settings
        row.timezone = timezone

    def advance_setup(self, user_id: int, step: int) -> None:
        """Raise the user's furthest wizard step to `step` (never lower it)."""
        row = self.session.get(models.User, user_id)
        if row is not None and row.setup_step < step:
            row.setup_step = step

    def set_profile(self, user_id: int, *, name: str, email: str) -> Account:
        row = self._row(user_id)
        row.name = name
        row.email = email
        self.session.flush()
        return account(row)

    def set_invite_text(self, user_id: int, *, template: str, signature: str) -> None:
        row = self._row(user_id)
        row.message_template = template
        row.signature = signature

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        self._row(user_id).disabled = disabled

    def remove(self, user_id: int) -> None:
        """Delete the account; the database's cascades delete all its data."""
        self.session.delete(self._row(user_id))

    def replace_setup_token(self, token_hash: str, *, now: datetime) -> None:
        """Keep this setup token as the only one."""
        self.session.execute(delete(models.SetupToken))
        self.session.add(models.SetupToken(token_hash=token_hash, created_at=now))

    def _row(self, user_id: int) -> models.User:
        row = self.session.get(models.User, user_id)
        assert row is not None, "the service checks that the account exists first"
        return row


@lru_cache(maxsize=1)
def _statements() -> dict[str, Any]:
    """The store's statements, built once per process (constants with bind parameters)."""
    user = models.User
    token = models.SetupToken
    email: Any = bindparam("email")
    return dict(
        owner=select(user.id).where(user.password_hash != "").limit(1),
        everyone=select(user).order_by(user.id),
        enabled=select(user).where(user.disabled.is_(False)).order_by(user.id),
        unclaimed=select(user).where(user.password_hash == "").order_by(user.id),
        by_email=select(user).where(user.email == email),
        email_user=select(user.id).where(user.email == email),
        email_other_user=select(user.id).where(user.email == email, user.id != bindparam("but")),
        setup_token=select(token.token_hash).where(token.token_hash == bindparam("token_hash")),
    )
