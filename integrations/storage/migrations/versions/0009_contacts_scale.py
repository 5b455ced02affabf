"""indexes for a heavy networker's contacts: the change fingerprint and unpaused contacts

Revision ID: 0009_contacts_scale
Revises: 0007_digest_reminders
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0009_contacts_scale"
down_revision = "0007_digest_reminders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contacts_user_updated", "contacts", ["user_id", "updated_at"])
    op.create_index("ix_contacts_user_unpaused", "contacts", ["user_id", "unpaused_at"])
    op.create_index("ix_contact_emails_user", "contact_emails", ["user_id"])
    op.create_index("ix_interactions_user_confirmed", "interactions", ["user_id", "confirmed"])


def downgrade() -> None:
    op.drop_index("ix_interactions_user_confirmed", table_name="interactions")
    op.drop_index("ix_contact_emails_user", table_name="contact_emails")
    op.drop_index("ix_contacts_user_unpaused", table_name="contacts")
    op.drop_index("ix_contacts_user_updated", table_name="contacts")
