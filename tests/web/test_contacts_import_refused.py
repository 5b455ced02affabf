"""An import the database refuses is one line naming the file (never its SQL), and what was
stored before stays; a database that cannot answer is not dressed up as bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from integrations.storage import models
from integrations.storage.db import transaction
from web.composition import Runtime
from web.services import contacts as service
from web.services.contacts import ContactError

FILE = b"name,email,city\nBen,ben@example.org,Lisbon and around\n"


@pytest.fixture
def user(runtime: Runtime) -> Iterator[int]:
    user_id = runtime.owner_id(create=True)
    service.import_file(runtime, user_id, b"name,email\nAna,ana@example.org\n", filename="a.csv")
    yield user_id
    runtime.engine.dispose()  # close pooled connections before the database is dropped


def stored_names(runtime: Runtime) -> set[str]:
    with transaction(runtime.sessions) as session:
        return set(session.scalars(select(models.Contact.name)))


# PostgreSQL only: SQLite stores text of any length, so it never finds a value too long.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_value_the_database_finds_too_long_is_a_contact_error_naming_the_file(
    runtime: Runtime, user: int
) -> None:
    with runtime.engine.begin() as conn:  # a column narrower than the model says
        conn.execute(text("ALTER TABLE contacts ALTER COLUMN city TYPE varchar(5)"))

    with pytest.raises(ContactError) as refused:
        service.import_file(runtime, user, FILE, filename="people.csv")

    assert str(refused.value) == (
        "people.csv: a value in the file is too long to store; nothing was imported."
    )
    assert refused.value.field == "file"
    assert stored_names(runtime) == {"Ana"}


def test_a_value_the_database_refuses_is_a_contact_error_without_sql(
    runtime: Runtime, user: int
) -> None:
    with runtime.engine.begin() as conn:
        if runtime.engine.dialect.name == "postgresql":
            conn.execute(
                text("ALTER TABLE contacts ADD CONSTRAINT short_city CHECK (length(city) < 6)")
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER short_city BEFORE INSERT ON contacts "
                    "WHEN length(NEW.city) > 5 BEGIN SELECT RAISE(ABORT, 'city too long'); END"
                )
            )

    with pytest.raises(ContactError) as refused:
        service.import_file(runtime, user, FILE, filename="people.csv")

    assert str(refused.value) == (
        "people.csv: the database refused a value in the file; nothing was imported."
    )
    assert stored_names(runtime) == {"Ana"}
