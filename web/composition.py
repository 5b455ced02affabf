"""The one composition root: the CLI and the web app build their adapters here, from config."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from integrations.config import Config
from integrations.storage import calendar_reads, db
from integrations.storage.dbapi import Db
from integrations.storage.models import User
from web.errors import Invalid


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

    def upgrade_database(self, revision: str = "head") -> str:
        """Run the migrations up to `revision` (an older one than the database's changes
        nothing); the revision the database is at after. Invalid for an unknown revision."""
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        if not revision.strip():
            raise Invalid("--revision: give a revision id, head, or a step like +1")
        try:
            db.upgrade(self.config.database_url, revision)
        except (CommandError, RevisionError) as exc:  # unknown or ambiguous: nothing was run
            raise Invalid(f"--revision {revision!r}: {exc}") from None
        except AssertionError:
            # Alembic asserts on some relative steps past the newest revision ("head+3")
            # before it runs anything.
            raise Invalid(f"--revision {revision!r}: there is no such revision") from None
        return db.current_revision(self.engine) or "base"

    def database_is_current(self) -> bool:
        return db.current_revision(self.engine) == db.head_revision()

    def owner_id(self, email: str | None = None, *, create: bool = False) -> int:
        """The id of the user the CLI acts for.

        `email` (from --user) must exist unless `create`. Without it: the config's owner if that
        user exists, else the only user there is (the web setup page may have renamed the owner),
        else with `create` a new owner from the config. Several users and no match is an error.
        """
        from web.errors import UserError

        if db.current_revision(self.engine) is None:
            raise UserError(
                f"the database {self.shown_url()} is not set up: run `meetagain init` "
                "(or `meetagain db upgrade`)"
            )
        emails = [e.strip().lower() for e in self.config.owner.emails]
        configured = emails[0]
        with db.transaction(self.sessions, read_only=not create) as session:
            if email:
                wanted = email.strip().lower()
                user = session.scalar(select(User).where(User.email == wanted))
                if user is None and not create:
                    raise UserError(f"no user {wanted} in the database")
                if user is None:
                    user = self._new_user(session, wanted)
                return user.id
            owner = calendar_reads.config_owner(Db.of_session(session), emails)
            if owner is not None:
                return owner.id
            users = list(session.scalars(select(User).order_by(User.id).limit(5)))
            if users:
                names = ", ".join(u.email for u in users[:5])
                raise UserError(
                    f"several users and none is {configured}: pass --user (one of {names})"
                )
            if not create:
                raise UserError("no users in the database yet: run `meetagain init`")
            return self._new_user(session, configured).id

    def _new_user(self, session: Session, email: str) -> User:
        user = User(
            email=email,
            name=self.config.owner.name,
            timezone=self.config.owner.timezone,
            settings={},
            created_at=datetime.now(UTC),
        )
        session.add(user)
        session.flush()
        return user

    def shown_url(self) -> str:
        """The database URL as messages show it: the password hidden."""
        from sqlalchemy.engine import make_url

        return make_url(self.config.database_url).render_as_string(hide_password=True)
