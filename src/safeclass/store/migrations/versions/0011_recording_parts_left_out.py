"""Recordings say how many of their raw files could not be used (a part missing from the file).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as table:
        table.add_column(
            sa.Column("parts_left_out", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("recordings") as table:
        table.drop_column("parts_left_out")
