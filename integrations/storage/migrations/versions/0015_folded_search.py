"""search and name order fold accents as well as case: stored folded columns for contacts

`q=muller` found nothing for "Zoë Müller": the search compared lower() of each field, which
minds accents (and on SQLite was a Python function called for every row and field). Contacts
now keep `name_folded` (name order) and `search_folded` (every searched field), folded in
Python by `scheduler.text.fold` whenever those fields are written, so SQLite and PostgreSQL
compare the same strings. This fills them in for the contacts stored before.

The values come from `integrations.storage.contacts.folded_columns`, the function every write
uses, not a copy written out here: a search must find an old contact exactly as a new one.
It is given only the columns this revision has, so a later searched column cannot break it.

Revision ID: 0015_folded_search
Revises: 0014_horizon_a_year
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015_folded_search"
down_revision = "0014_horizon_a_year"
branch_labels = None
depends_on = None

# The searched columns as of this revision.
SEARCHED = ("name", "company", "title", "how_met", "city", "relationship", "tags")
CHUNK = 1000


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: on SQLite batch mode copies and drops `contacts`, and
    # dropping it with foreign keys on deletes their emails and meetings (ON DELETE CASCADE).
    for column in ("name_folded", "search_folded"):
        op.add_column("contacts", sa.Column(column, sa.Text(), nullable=False, server_default=""))
    op.create_index("ix_contacts_user_name_folded", "contacts", ["user_id", "name_folded"])
    recompute(op.get_bind())


def recompute(bind: sa.Connection) -> None:
    """Write every contact's folded columns from its searched fields."""
    from integrations.storage.contacts import folded_columns

    contacts = sa.table(
        "contacts",
        sa.column("id", sa.Integer),
        sa.column("name_folded", sa.Text),
        sa.column("search_folded", sa.Text),
        *(sa.column(name, sa.Text) for name in SEARCHED),
    )
    last = 0
    while True:
        rows = (
            bind.execute(
                sa.select(contacts.c.id, *(contacts.c[name] for name in SEARCHED))
                .where(contacts.c.id > last)
                .order_by(contacts.c.id)
                .limit(CHUNK)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        updates = []
        for row in rows:
            values: dict[str, Any] = {name: row[name] for name in SEARCHED}
            tags = values["tags"]
            values["tags"] = json.loads(tags) if isinstance(tags, str) and tags else tags
            updates.append({"row_id": row["id"], **folded_columns(values)})
        bind.execute(
            sa.update(contacts)
            .where(contacts.c.id == sa.bindparam("row_id"))
            .values(
                name_folded=sa.bindparam("name_folded"),
                search_folded=sa.bindparam("search_folded"),
            ),
            updates,
        )
        last = rows[-1]["id"]


def downgrade() -> None:
    op.drop_index("ix_contacts_user_name_folded", table_name="contacts")
    # SQLite (3.35 and later) and PostgreSQL drop a column in place.
    op.execute("ALTER TABLE contacts DROP COLUMN search_folded")
    op.execute("ALTER TABLE contacts DROP COLUMN name_folded")
