"""Practice rooms: practice lessons and classes are marked, and their simulated pupils.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("practice", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("class_groups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("practice", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "practice_pupils",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=40), nullable=False),
        sa.Column("consent_ok", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_practice_pupils_lesson_id_lessons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practice_pupils")),
        sa.UniqueConstraint("lesson_id", "number", name=op.f("uq_practice_pupils_lesson_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_practice_pupils_token_hash")),
    )
    with op.batch_alter_table("practice_pupils", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_practice_pupils_lesson_id"), ["lesson_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("practice_pupils", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_practice_pupils_lesson_id"))
    op.drop_table("practice_pupils")
    with op.batch_alter_table("class_groups", schema=None) as batch_op:
        batch_op.drop_column("practice")
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_column("practice")
