"""calendar store: occurrences and sync state per calendar; calendars from config.toml

Revision ID: 0003_calendar_store
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_calendar_store"
down_revision = "0002_sessions_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendars", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=16), nullable=False, server_default="app")
        )
    op.create_table(
        "calendar_sync",
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("warnings", sa.Text(), nullable=False),
        sa.Column("sync_token", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=False),
        sa.Column("last_modified", sa.String(length=200), nullable=False),
        sa.Column("content_hash", sa.String(length=100), nullable=False),
        sa.Column("covers_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("covers_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel_id", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("channel_resource_id", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("channel_token_hash", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("channel_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["calendar_id"], ["calendars.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("calendar_id"),
    )
    with op.batch_alter_table("calendar_sync", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_sync_user_id", ["user_id"], unique=False)
        batch_op.create_index("ix_calendar_sync_next_sync_at", ["next_sync_at"], unique=False)
        batch_op.create_index("ix_calendar_sync_channel_id", ["channel_id"], unique=False)
    op.create_table(
        "calendar_occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=500), nullable=False),
        sa.Column("uid", sa.String(length=500), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("busy", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["calendar_id"], ["calendars.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("calendar_occurrences", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_occurrences_calendar_id", ["calendar_id"], unique=False)
        batch_op.create_index(
            "ix_calendar_occurrences_user_start", ["user_id", "start"], unique=False
        )


def downgrade() -> None:
    op.drop_table("calendar_occurrences")
    op.drop_table("calendar_sync")
    with op.batch_alter_table("calendars", schema=None) as batch_op:
        batch_op.drop_column("origin")
