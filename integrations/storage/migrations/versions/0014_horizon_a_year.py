"""a plan looks at most a year ahead: saved horizons beyond it become a year

A horizon of ten years (allowed until now) made the dashboard and `plan` take half a minute
and send megabytes: every day of it is a row of slots. A saved horizon beyond 366 days becomes
366, so the rest of the user's settings still apply.

Revision ID: 0014_horizon_a_year
Revises: 0013_setting_limits
Create Date: 2026-12-05
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0014_horizon_a_year"
down_revision = "0013_setting_limits"
branch_labels = None
depends_on = None

# scheduler.model.POLICY_LIMITS["horizon_days"] as of this revision, written out.
LONGEST_HORIZON_DAYS = 366


def upgrade() -> None:
    bind = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("settings", sa.JSON))
    for user_id, settings in bind.execute(sa.select(users.c.id, users.c.settings)).all():
        if isinstance(settings, str):  # a driver that hands JSON back as text
            settings = json.loads(settings)
        scheduling = settings.get("scheduling") if isinstance(settings, dict) else None
        if not isinstance(scheduling, dict):
            continue
        horizon = scheduling.get("horizon_days")
        if isinstance(horizon, int) and horizon > LONGEST_HORIZON_DAYS:
            scheduling["horizon_days"] = LONGEST_HORIZON_DAYS
            bind.execute(sa.update(users).where(users.c.id == user_id).values(settings=settings))


def downgrade() -> None:
    """Nothing to undo: a year ahead is what the settings allow."""
