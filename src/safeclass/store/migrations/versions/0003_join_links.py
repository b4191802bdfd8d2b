"""Personal join links: for a pupil, or a parent or carer, into a class's lessons or one lesson.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "join_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("class_group_id", sa.Integer(), nullable=True),
        sa.Column("lesson_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_staff_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(class_group_id IS NULL) <> (lesson_id IS NULL)",
            name=op.f("ck_join_links_class_group_or_lesson"),
        ),
        sa.ForeignKeyConstraint(
            ["class_group_id"],
            ["class_groups.id"],
            name=op.f("fk_join_links_class_group_id_class_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_join_links_created_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_join_links_lesson_id_lessons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["parents.id"],
            name=op.f("fk_join_links_parent_id_parents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"],
            ["pupils.id"],
            name=op.f("fk_join_links_pupil_id_pupils"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_join_links_revoked_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_join_links_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_join_links_token_hash")),
    )
    with op.batch_alter_table("join_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_join_links_class_group_id"), ["class_group_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_join_links_lesson_id"), ["lesson_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_join_links_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_join_links_pupil_id"), ["pupil_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_join_links_school_id"), ["school_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("join_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_join_links_school_id"))
        batch_op.drop_index(batch_op.f("ix_join_links_pupil_id"))
        batch_op.drop_index(batch_op.f("ix_join_links_parent_id"))
        batch_op.drop_index(batch_op.f("ix_join_links_lesson_id"))
        batch_op.drop_index(batch_op.f("ix_join_links_class_group_id"))

    op.drop_table("join_links")
