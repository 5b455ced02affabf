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


def upgrade() -> None:
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("message_template", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("signature", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("signature")
        batch_op.drop_column("message_template")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_column("dismissed_at")
