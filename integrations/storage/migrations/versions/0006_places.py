"""places, trips, and where each invite time happens

Revision ID: 0006_places
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_places"
down_revision = "0003_calendar_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "places",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("map_link", sa.String(length=2000), nullable=False),
        sa.Column("city", sa.String(length=200), nullable=False),
        sa.Column("meals", sa.JSON(), nullable=False),
        sa.Column("default_for", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_places_user_id"), ["user_id"], unique=False)
    op.create_table(
        "trips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("city", sa.String(length=200), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trips_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("invite_times", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("place", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("place_url", sa.String(length=2000), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("city", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("zone", sa.String(length=64), nullable=False, server_default="")
        )
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("place_note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_column("place_note")
    with op.batch_alter_table("invite_times", schema=None) as batch_op:
        batch_op.drop_column("zone")
        batch_op.drop_column("city")
        batch_op.drop_column("place_url")
        batch_op.drop_column("place")
        batch_op.drop_column("mode")
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trips_user_id"))
    op.drop_table("trips")
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_places_user_id"))
    op.drop_table("places")
