"""Codes to type (a lesson code, and a passcode on each personal link) and named guests.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 03:52:38.799089
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guest_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=80), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("passcode_hmac", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_staff_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_guest_invitations_created_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_guest_invitations_lesson_id_lessons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_guest_invitations_revoked_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_guest_invitations_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guest_invitations")),
        sa.UniqueConstraint("passcode_hmac", name=op.f("uq_guest_invitations_passcode_hmac")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_guest_invitations_token_hash")),
    )
    with op.batch_alter_table("guest_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guest_invitations_lesson_id"), ["lesson_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_guest_invitations_school_id"), ["school_id"], unique=False
        )

    with op.batch_alter_table("join_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("passcode_hmac", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_join_links_passcode_hmac"), ["passcode_hmac"]
        )

    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("typed_code", sa.String(length=16), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_lessons_typed_code"), ["typed_code"])


def downgrade() -> None:
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_lessons_typed_code"), type_="unique")
        batch_op.drop_column("typed_code")

    with op.batch_alter_table("join_links", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_join_links_passcode_hmac"), type_="unique")
        batch_op.drop_column("passcode_hmac")

    with op.batch_alter_table("guest_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guest_invitations_school_id"))
        batch_op.drop_index(batch_op.f("ix_guest_invitations_lesson_id"))

    op.drop_table("guest_invitations")
