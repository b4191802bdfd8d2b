"""A trust-wide role is granted once: a unique index on (staff_id, role) where school_id is NULL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Duplicates written before this revision are folded into the earliest grant first.
    op.execute(
        "DELETE FROM staff_roles WHERE school_id IS NULL AND id NOT IN ("
        "SELECT MIN(id) FROM staff_roles WHERE school_id IS NULL GROUP BY staff_id, role)"
    )
    op.create_index(
        "uq_staff_roles_trust_wide",
        "staff_roles",
        ["staff_id", "role"],
        unique=True,
        sqlite_where=sa.text("school_id IS NULL"),
        postgresql_where=sa.text("school_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_staff_roles_trust_wide", table_name="staff_roles")
