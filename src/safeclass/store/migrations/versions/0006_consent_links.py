"""Parents' and carers' personal consent links, the record of each email about one, and who
withdrew a consent (when another parent or carer did).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_by_parent_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_consents_withdrawn_by_parent_id_parents"),
            "parents",
            ["withdrawn_by_parent_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "consent_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_staff_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_consent_links_created_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["parents.id"],
            name=op.f("fk_consent_links_parent_id_parents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_consent_links_revoked_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_consent_links_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_consent_links_token_hash")),
    )
    with op.batch_alter_table("consent_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_links_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_links_school_id"), ["school_id"], unique=False)

    op.create_table(
        "consent_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("consent_link_id", sa.Integer(), nullable=True),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "outbox",
                "sent",
                "failed",
                name="consent_message_state",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_link_id"],
            ["consent_links.id"],
            name=op.f("fk_consent_messages_consent_link_id_consent_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_consent_messages_created_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["parents.id"],
            name=op.f("fk_consent_messages_parent_id_parents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_consent_messages_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_messages")),
    )
    with op.batch_alter_table("consent_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_messages_school_created", ["school_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consent_messages_parent_id"), ["parent_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_messages_parent_id"))
        batch_op.drop_index("ix_consent_messages_school_created")
    op.drop_table("consent_messages")
    with op.batch_alter_table("consent_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_links_school_id"))
        batch_op.drop_index(batch_op.f("ix_consent_links_parent_id"))
    op.drop_table("consent_links")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_consents_withdrawn_by_parent_id_parents"), type_="foreignkey"
        )
        batch_op.drop_column("withdrawn_by_parent_id")
