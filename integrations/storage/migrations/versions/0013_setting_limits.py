"""values saved before the settings had upper limits are brought within them

A saved setting the config now refuses (a 5000-day horizon from the old rules form, a
cadence of millions of days from an import) made the user's whole settings give way to the
file's, and a contact's huge cadence overflowed the dashboard's date arithmetic. Each such
value becomes the largest one allowed, so everything else the user saved still applies.

Revision ID: 0013_setting_limits
Revises: 0009_contacts_scale
Create Date: 2026-12-05
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013_setting_limits"
down_revision = "0009_contacts_scale"
branch_labels = None
depends_on = None

# The limits as of this revision (scheduler.model.POLICY_LIMITS and
# scheduler.rules.LONGEST_CADENCE_DAYS), written out: a migration must not change with them.
SCHEDULING = {
    "duration_minutes": 1440,
    "buffer_minutes": 1440,
    "min_notice_hours": 8784,
    "horizon_days": 3660,
    "max_per_day": 100,
    "max_per_week": 700,
    "times_per_invite": 20,
}
LONGEST_CADENCE_DAYS = 3650


def _clamped(table: dict[str, Any], limits: dict[str, int]) -> bool:
    changed = False
    for key, most in limits.items():
        value = table.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > most:
            table[key] = most
            changed = True
    return changed


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text("UPDATE contacts SET cadence_days = :most WHERE cadence_days > :most"),
        {"most": LONGEST_CADENCE_DAYS},
    )
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("settings", sa.JSON))
    for user_id, settings in bind.execute(sa.select(users.c.id, users.c.settings)).all():
        if isinstance(settings, str):  # a driver that hands JSON back as text
            settings = json.loads(settings)
        if not isinstance(settings, dict):
            continue
        changed = False
        scheduling = settings.get("scheduling")
        if isinstance(scheduling, dict):
            changed |= _clamped(scheduling, SCHEDULING)
        rules = settings.get("rules")
        cadences = rules.get("cadence_days") if isinstance(rules, dict) else None
        if isinstance(cadences, dict):
            changed |= _clamped(cadences, dict.fromkeys(cadences, LONGEST_CADENCE_DAYS))
        if changed:
            bind.execute(sa.update(users).where(users.c.id == user_id).values(settings=settings))


def downgrade() -> None:
    """Nothing to undo: the values brought within the limits were refused anyway."""
