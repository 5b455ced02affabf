"""The one composition root: the CLI and the web app build their adapters here, from config."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from integrations.config import Config
from integrations.storage import db
from integrations.storage.models import User


@dataclass
class Runtime:
    """Config plus the lazily built database handles every entry point shares."""

    config: Config

    @cached_property
    def engine(self) -> Engine:
        return db.make_engine(self.config.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return db.make_sessionmaker(self.engine)

    def upgrade_database(self) -> None:
        db.upgrade(self.config.database_url)

    def database_is_current(self) -> bool:
        return db.current_revision(self.engine) == db.head_revision()

    def owner_id(self, email: str | None = None, *, create: bool = False) -> int:
        """The id of the user the CLI acts for: `email`, else the config's owner."""
        wanted = (email or self.config.owner.emails[0]).strip().lower()
        with db.transaction(self.sessions) as session:
            user = session.scalar(select(User).where(User.email == wanted))
            if user is None:
                if not create:
                    from web.errors import UserError

                    raise UserError(f"no user {wanted} in the database: run `meetagain init`")
                user = User(
                    email=wanted,
                    name=self.config.owner.name,
                    timezone=self.config.owner.timezone,
                    settings={},
                    created_at=datetime.now(UTC),
                )
                session.add(user)
                session.flush()
            return user.id
