"""mail marks: reminders and digests sent once, digest links used once

Revision ID: 0007_digest_reminders
Revises: 0012_reschedule
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_digest_reminders"
down_revision = "0012_reschedule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key"),
    )
    with op.batch_alter_table("mail_marks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_marks_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_marks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_marks_user_id"))
    op.drop_table("mail_marks")
