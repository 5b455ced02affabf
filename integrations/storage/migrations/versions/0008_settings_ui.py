"""open invites the owner dismissed; the owner's invite message template and signature

Revision ID: 0008_settings_ui
Revises: 0006_places
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_settings_ui"
down_revision = "0006_places"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: on SQLite batch mode copies and drops the table, and
# dropping `users` or `invites` with foreign keys on deletes their rows' children (ON DELETE
# CASCADE). SQLite 3.35+ drops a column itself.
def upgrade() -> None:
    op.add_column("invites", sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "users", sa.Column("message_template", sa.Text(), nullable=False, server_default="")
    )
    op.add_column("users", sa.Column("signature", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("users", "signature")
    op.drop_column("users", "message_template")
    op.drop_column("invites", "dismissed_at")
