"""server-side sessions, roles, setup tokens; control characters cleaned from names and emails

Revision ID: 0002_sessions_roles
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0002_sessions_roles"
down_revision = "0001"
branch_labels = None
depends_on = None

# The same characters scheduler.text refuses at input (kept here: a migration never changes).
_CONTROL_RUNS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: on SQLite batch mode copies and drops `users`, and
    # dropping it with foreign keys on deletes every user's data (ON DELETE CASCADE).
    op.add_column(
        "users", sa.Column("role", sa.String(length=16), server_default="user", nullable=False)
    )
    op.add_column(
        "users",
        sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)
    op.create_table(
        "setup_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    bind = op.get_bind()
    # The first account becomes the admin; existing further accounts stay plain users. With
    # none yet, the setup page makes whoever claims the instance the admin.
    first = bind.scalar(sa.text("SELECT min(id) FROM users WHERE password_hash != ''"))
    if first is not None:
        bind.execute(sa.text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": first})
    _clean_control_characters(bind)


def _clean(value: str, *, joiner: str) -> str:
    return _CONTROL_RUNS.sub(joiner, value).strip()


def _clean_control_characters(bind: sa.Connection) -> None:
    """Names and emails go into mail headers: a CR or LF there made approving the contact fail
    and left its mail queued forever. Names keep their words (a space for each run); emails
    lose the characters (an email cannot hold a space)."""
    for table, column in (("users", "name"), ("contacts", "name")):
        rows = bind.execute(sa.text(f"SELECT id, {column} FROM {table}")).all()
        for row_id, value in rows:
            if value and _CONTROL_RUNS.search(value):
                cleaned = _clean(value, joiner=" ") or "?"
                bind.execute(
                    sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                    {"v": cleaned, "id": row_id},
                )
    for row_id, value in bind.execute(sa.text("SELECT id, email FROM users")).all():
        if value and _CONTROL_RUNS.search(value):
            cleaned = _clean(value, joiner="")
            taken = bind.scalar(sa.text("SELECT id FROM users WHERE email = :e"), {"e": cleaned})
            if taken is None and cleaned:  # else left as is: an admin renames or removes it
                bind.execute(
                    sa.text("UPDATE users SET email = :v WHERE id = :id"),
                    {"v": cleaned, "id": row_id},
                )
    for row_id, value in bind.execute(sa.text("SELECT id, email FROM invites")).all():
        if value and _CONTROL_RUNS.search(value):
            bind.execute(
                sa.text("UPDATE invites SET email = :v WHERE id = :id"),
                {"v": _clean(value, joiner=""), "id": row_id},
            )
    rows = bind.execute(sa.text("SELECT id, user_id, email FROM contact_emails")).all()
    for row_id, user_id, value in rows:
        if not (value and _CONTROL_RUNS.search(value)):
            continue
        cleaned = _clean(value, joiner="")
        taken = bind.scalar(
            sa.text(
                "SELECT id FROM contact_emails"
                " WHERE user_id = :u AND email_lower = :e AND id != :id"
            ),
            {"u": user_id, "e": cleaned.lower(), "id": row_id},
        )
        if taken is not None or not cleaned:
            # The clean address is already stored (on this or another contact): drop the copy.
            bind.execute(sa.text("DELETE FROM contact_emails WHERE id = :id"), {"id": row_id})
        else:
            bind.execute(
                sa.text("UPDATE contact_emails SET email = :v, email_lower = :l WHERE id = :id"),
                {"v": cleaned, "l": cleaned.lower(), "id": row_id},
            )


def downgrade() -> None:
    op.drop_table("setup_tokens")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))
    op.drop_table("user_sessions")
    # Not batch mode either (see upgrade); SQLite 3.35+ drops a column itself.
    op.drop_column("users", "disabled")
    op.drop_column("users", "role")
