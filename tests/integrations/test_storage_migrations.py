"""Migrations on SQLite and PostgreSQL: the schema they build, and the rules it enforces."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from integrations.config import ConfigError
from integrations.storage import db, models
from integrations.storage.models import Base

# Tables that hold no one user's data. Add a table here only if that is really so.
NOT_USER_DATA = {"alembic_version", "users", "setup_tokens"}

NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


def test_upgrade_from_an_empty_database_creates_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert db.current_revision(engine) == db.head_revision()


def test_the_migrations_build_exactly_the_schema_the_models_describe(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent(database_url: str, engine: Engine) -> None:
    with db.transaction(db.make_sessionmaker(engine)) as session:
        session.add(_user("a@example.com"))
    db.upgrade(database_url)
    db.upgrade(database_url)
    assert db.current_revision(engine) == db.head_revision()
    with db.transaction(db.make_sessionmaker(engine)) as session:
        assert session.scalars(select(models.User.email)).all() == ["a@example.com"]


def test_the_migrations_go_down_to_empty_and_up_again(database_url: str, engine: Engine) -> None:
    from alembic import command

    command.downgrade(db.alembic_config(database_url), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(database_url)
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}


def test_every_table_holding_user_data_carries_the_owning_user_id(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in set(inspector.get_table_names()) - NOT_USER_DATA:
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert "user_id" in columns, f"table {table} has no user_id"
        references = {
            (fk["referred_table"], tuple(fk["referred_columns"]))
            for fk in inspector.get_foreign_keys(table)
            if fk["constrained_columns"] == ["user_id"]
        }
        assert references == {("users", ("id",))}, f"{table}.user_id does not reference users"


def test_sqlite_runs_with_wal_and_foreign_keys_on(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_a_row_pointing_at_a_missing_user_is_refused(engine: Engine) -> None:
    with (
        pytest.raises(IntegrityError),
        db.transaction(db.make_sessionmaker(engine)) as session,
    ):
        session.add(_contact(user_id=4242))


def test_deleting_a_user_deletes_their_data(engine: Engine) -> None:
    sessions = db.make_sessionmaker(engine)
    with db.transaction(sessions) as session:
        user = _user("gone@example.com")
        session.add(user)
        session.flush()
        session.add(_contact(user.id))
    with db.transaction(sessions) as session:
        session.execute(text("DELETE FROM users WHERE email = 'gone@example.com'"))
    with db.transaction(sessions) as session:
        assert session.scalars(select(models.Contact)).all() == []


def test_only_one_active_booking_may_hold_a_start_time(engine: Engine) -> None:
    sessions = db.make_sessionmaker(engine)
    with db.transaction(sessions) as session:
        user = _user("owner@example.com")
        session.add(user)
        session.flush()
        contact = _contact(user.id)
        session.add(contact)
        session.flush()
        invite = _invite(user.id, contact.id, "a")
        other_invite = _invite(user.id, contact.id, "b")
        session.add_all([invite, other_invite])
        session.flush()
        session.add(_booking(user.id, invite.id, contact.id, "active"))
        ids = (user.id, other_invite.id, contact.id)

    with pytest.raises(IntegrityError), db.transaction(sessions) as session:
        session.add(_booking(*ids, "active"))

    # A cancelled booking at the same start is history, not a double booking.
    with db.transaction(sessions) as session:
        session.add(_booking(*ids, "cancelled"))
        session.add(_booking(*ids, "cancelled"))
    # And another start time is free to book.
    with db.transaction(sessions) as session:
        session.add(_booking(*ids, "active", start=NOW + timedelta(days=1)))
    with db.transaction(sessions) as session:
        statuses = session.scalars(select(models.Booking.status).order_by(models.Booking.id))
        assert list(statuses) == ["active", "cancelled", "cancelled", "active"]


def test_a_second_user_may_book_the_same_start_time(engine: Engine) -> None:
    sessions = db.make_sessionmaker(engine)
    with db.transaction(sessions) as session:
        for email in ("one@example.com", "two@example.com"):
            user = _user(email)
            session.add(user)
            session.flush()
            contact = _contact(user.id)
            session.add(contact)
            session.flush()
            invite = _invite(user.id, contact.id, email)
            session.add(invite)
            session.flush()
            session.add(_booking(user.id, invite.id, contact.id, "active"))
    with db.transaction(sessions) as session:
        assert len(session.scalars(select(models.Booking)).all()) == 2


def test_datetimes_come_back_aware_in_utc(engine: Engine) -> None:
    sessions = db.make_sessionmaker(engine)
    berlin = datetime(2026, 3, 29, 3, 30, tzinfo=UTC).astimezone()
    with db.transaction(sessions) as session:
        user = _user("tz@example.com")
        user.created_at = berlin
        session.add(user)
    with db.transaction(sessions) as session:
        stored = session.scalars(select(models.User.created_at)).one()
    assert stored == berlin
    assert stored.tzinfo is UTC


def test_a_failed_unit_of_work_leaves_nothing_behind(engine: Engine) -> None:
    sessions = db.make_sessionmaker(engine)
    with pytest.raises(RuntimeError), db.transaction(sessions) as session:
        session.add(_user("half@example.com"))
        session.flush()
        raise RuntimeError("crash mid-way")
    with db.transaction(sessions) as session:
        assert session.scalars(select(models.User)).all() == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://somewhere/db", "database URL 'foo://somewhere/db' names an unknown database"),
        ("not a url", "database URL 'not a url' is not a URL"),
        ("postgresql+nosuchdriver://u:pw@h/db", "names an unknown database"),
    ],
)
def test_a_database_url_meetagain_cannot_use_is_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        db.make_engine(url)
    assert "pw" not in str(info.value)


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    assert db.normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert db.normalise_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert db.normalise_url("sqlite:///x.db") == "sqlite:///x.db"


# --- rows --------------------------------------------------------------------------------------


def _user(email: str) -> models.User:
    return models.User(email=email, name="", timezone="UTC", settings={}, created_at=NOW)


def _contact(user_id: int) -> models.Contact:
    return models.Contact(user_id=user_id, name="Ana", created_at=NOW, updated_at=NOW)


def _old_contact(
    conn: Connection,
    user_id: int,
    name: str,
    *,
    company: str = "",
    tags: str = "[]",
    cadence_days: int | None = None,
) -> None:
    """A contact as the table held it before 0015 (no folded columns): plain SQL, since the
    model describes the newest table."""
    conn.execute(
        text(
            "INSERT INTO contacts (user_id, name, company, title, relationship, tags, how_met,"
            " cadence_days, preferred_meals, preferred_days, timezone, city, notes, questions,"
            " do_not_invite, paused, linkedin_url, created_at, updated_at) VALUES (:user_id,"
            " :name, :company, '', 'peer', :tags, '', :cadence, '[]', '[]', '', '', '', '[]',"
            " false, false, '', :now, :now)"
        ),
        {
            "user_id": user_id,
            "name": name,
            "company": company,
            "tags": tags,
            "cadence": cadence_days,
            "now": NOW,
        },
    )


def _invite(user_id: int, contact_id: int, token: str) -> models.Invite:
    return models.Invite(
        user_id=user_id,
        contact_id=contact_id,
        token_hash=token.ljust(64, "0"),
        email="ana@example.org",
        created_at=NOW,
        expires_at=NOW + timedelta(days=14),
    )


def _booking(
    user_id: int, invite_id: int, contact_id: int, status: str, start: datetime = NOW
) -> models.Booking:
    return models.Booking(
        user_id=user_id,
        invite_id=invite_id,
        contact_id=contact_id,
        start=start,
        end=start + timedelta(minutes=45),
        status=status,
        ical_uid=f"{invite_id}-{status}@meetagain",
        created_at=NOW,
    )


def test_upgrading_a_database_with_data_keeps_it_and_makes_the_first_user_admin(
    database_url: str,
) -> None:
    """0002 adds columns to `users`: done by copying the table (SQLite's batch mode), its
    ON DELETE CASCADE would have emptied every table that points at it."""
    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    sessions = db.make_sessionmaker(engine)
    with db.transaction(sessions) as session:
        first, second = _user("first@example.com"), _user("second@example.com")
        first.password_hash = second.password_hash = "scrypt:x"
        session.add_all([first, second])
        session.flush()
        session.add(_contact(first.id))
    engine.dispose()
    from alembic import command

    command.downgrade(db.alembic_config(database_url), "0001")
    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM contacts")) == 1
        roles = conn.execute(text("SELECT email, role, disabled FROM users ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in roles] == [
        ("first@example.com", "admin", False),
        ("second@example.com", "user", False),
    ]


def test_settings_saved_before_they_had_limits_are_brought_within_them(
    database_url: str, engine: Engine
) -> None:
    from alembic import command

    from integrations.config import parse_config, with_user_settings

    command.downgrade(db.alembic_config(database_url), "0009_contacts_scale")
    saved = {
        "scheduling": {"horizon_days": 5000, "buffer_minutes": 15},
        "rules": {"cadence_days": {"peer": 9000, "mentor": 60}},
    }
    with db.transaction(db.make_sessionmaker(engine)) as session:
        user = _user("a@example.com")
        user.settings = saved
        session.add(user)
        session.flush()
        # Written as that revision's table holds it (the model has columns added since).
        _old_contact(session.connection(), user.id, "Ana", cadence_days=99_999_999)
    db.upgrade(database_url)
    with db.transaction(db.make_sessionmaker(engine)) as session:
        settings = session.scalars(select(models.User.settings)).one()
        assert session.scalars(select(models.Contact.cadence_days)).one() == 3650
    assert settings == {
        "scheduling": {"horizon_days": 366, "buffer_minutes": 15},
        "rules": {"cadence_days": {"peer": 3650, "mentor": 60}},
    }
    # The config takes them as they are now: nothing falls back to the file's values.
    seen = with_user_settings(parse_config(""), settings, "UTC")
    assert (seen.scheduling.horizon_days, seen.rules.cadence_days["mentor"]) == (366, 60)


def test_contacts_stored_before_folded_search_are_found_without_accents(
    database_url: str, engine: Engine
) -> None:
    """0015 fills in the folded columns of the contacts already there: "muller" finds an old
    "Zoë Müller" as it finds a new one, and the name order folds her name too."""
    from alembic import command

    from integrations.storage.contacts import matching_ids, page_ids

    command.downgrade(db.alembic_config(database_url), "0014_horizon_a_year")
    with db.transaction(db.make_sessionmaker(engine)) as session:
        user = _user("a@example.com")
        session.add(user)
        session.flush()
        user_id = user.id
        conn = session.connection()
        _old_contact(conn, user_id, "Zoë Müller", company="Café Zürich", tags='["Düsseldorf"]')
        _old_contact(conn, user_id, "Ana Lima")
    db.upgrade(database_url)
    with db.transaction(db.make_sessionmaker(engine), read_only=True) as session:
        names = dict(session.execute(select(models.Contact.id, models.Contact.name)).all())
        for words in (["muller"], ["mueller"], ["ZOE"], ["zurich"], ["dusseldorf"], ["peer"]):
            found = [names[i] for i in matching_ids(session, user_id, words)]
            assert "Zoë Müller" in found, words
        assert [names[i] for i in matching_ids(session, user_id, ["muller"])] == ["Zoë Müller"]
        by_name = page_ids(session, user_id, sort="name")
        assert [names[i] for i in by_name] == ["Ana Lima", "Zoë Müller"]
