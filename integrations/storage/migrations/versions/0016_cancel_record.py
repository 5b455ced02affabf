"""a cancelled booking keeps who cancelled it, when, and their note (the owner's page says it)

Bookings cancelled before this revision keep NULL in all three: their pages say only
"cancelled", as before.

Revision ID: 0016_cancel_record
Revises: 0015_folded_search
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_cancel_record"
down_revision = "0015_folded_search"
branch_labels = None
depends_on = None

COLUMNS = (
    ("cancelled_by", sa.String(16)),
    ("cancelled_at", sa.DateTime(timezone=True)),
    ("cancel_note", sa.Text()),
)


def upgrade() -> None:
    # Plain ALTER TABLE (see 0015): batch mode on SQLite would copy and drop `bookings`.
    for name, type_ in COLUMNS:
        op.add_column("bookings", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # SQLite (3.35 and later) and PostgreSQL drop a column in place.
    for name, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE bookings DROP COLUMN {name}")
