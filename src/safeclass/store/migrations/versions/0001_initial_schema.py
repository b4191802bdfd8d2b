"""The first schema: trust, schools, staff, pupils, parents, classes, lessons, consent.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 13:43:06.584443
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trusts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("policy_values", sa.JSON(), nullable=False),
        sa.Column("policy_locks", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusts")),
    )
    op.create_table(
        "consent_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "live_lessons", "recording", name="consent_scope", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trust_id"], ["trusts.id"], name=op.f("fk_consent_texts_trust_id_trusts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_texts")),
        sa.UniqueConstraint("trust_id", "scope", "version", name=op.f("uq_consent_texts_trust_id")),
    )
    with op.batch_alter_table("consent_texts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_texts_trust_id"), ["trust_id"], unique=False)

    op.create_table(
        "parents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trust_id"], ["trusts.id"], name=op.f("fk_parents_trust_id_trusts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parents")),
    )
    with op.batch_alter_table("parents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_parents_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_parents_trust_id"), ["trust_id"], unique=False)

    op.create_table(
        "schools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("policy_overrides", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trust_id"], ["trusts.id"], name=op.f("fk_schools_trust_id_trusts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schools")),
        sa.UniqueConstraint("slug", name=op.f("uq_schools_slug")),
    )
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schools_trust_id"), ["trust_id"], unique=False)

    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["trust_id"], ["trusts.id"], name=op.f("fk_staff_trust_id_trusts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_email")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_trust_id"), ["trust_id"], unique=False)

    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_staff_id", sa.Integer(), nullable=True),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_staff_id"],
            ["staff.id"],
            name=op.f("fk_audit_entries_actor_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_audit_entries_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entries_at", ["at"], unique=False)

    op.create_table(
        "class_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("year_group", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_class_groups_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_groups")),
        sa.UniqueConstraint("school_id", "name", name=op.f("uq_class_groups_school_id")),
    )
    with op.batch_alter_table("class_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_class_groups_school_id"), ["school_id"], unique=False)

    op.create_table(
        "pupils",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("mis_id", sa.String(length=64), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("year_group", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_pupils_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pupils")),
        sa.UniqueConstraint("school_id", "mis_id", name=op.f("uq_pupils_school_id")),
    )
    with op.batch_alter_table("pupils", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pupils_school_id"), ["school_id"], unique=False)

    op.create_table(
        "staff_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "teacher",
                "teaching_assistant",
                "safeguarding_lead",
                "school_admin",
                "trust_admin",
                name="staff_role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_staff_roles_school_id_schools")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_roles_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_roles")),
        sa.UniqueConstraint("staff_id", "role", "school_id", name=op.f("uq_staff_roles_staff_id")),
    )
    with op.batch_alter_table("staff_roles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_roles_school_id"), ["school_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_roles_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_sessions_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "class_members",
        sa.Column("class_group_id", sa.Integer(), nullable=False),
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["class_group_id"],
            ["class_groups.id"],
            name=op.f("fk_class_members_class_group_id_class_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"],
            ["pupils.id"],
            name=op.f("fk_class_members_pupil_id_pupils"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("class_group_id", "pupil_id", name=op.f("pk_class_members")),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "live_lessons", "recording", name="consent_scope", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("text_version", sa.String(length=40), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["parents.id"], name=op.f("fk_consents_parent_id_parents")
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"],
            ["pupils.id"],
            name=op.f("fk_consents_pupil_id_pupils"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_pupil_id"), ["pupil_id"], unique=False)

    op.create_table(
        "lessons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("class_group_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["class_group_id"],
            ["class_groups.id"],
            name=op.f("fk_lessons_class_group_id_class_groups"),
        ),
        sa.ForeignKeyConstraint(["host_id"], ["staff.id"], name=op.f("fk_lessons_host_id_staff")),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_lessons_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lessons")),
    )
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lessons_class_group_id"), ["class_group_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lessons_host_id"), ["host_id"], unique=False)
        batch_op.create_index("ix_lessons_school_starts", ["school_id", "starts_at"], unique=False)

    op.create_table(
        "parent_links",
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("relationship_to_pupil", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["parents.id"],
            name=op.f("fk_parent_links_parent_id_parents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"],
            ["pupils.id"],
            name=op.f("fk_parent_links_pupil_id_pupils"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pupil_id", "parent_id", name=op.f("pk_parent_links")),
    )
    op.create_table(
        "lesson_staff",
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "co_teacher",
                "teaching_assistant",
                name="lesson_staff_role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_lesson_staff_lesson_id_lessons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_lesson_staff_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("lesson_id", "staff_id", name=op.f("pk_lesson_staff")),
    )


def downgrade() -> None:
    op.drop_table("lesson_staff")
    op.drop_table("parent_links")
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_index("ix_lessons_school_starts")
        batch_op.drop_index(batch_op.f("ix_lessons_host_id"))
        batch_op.drop_index(batch_op.f("ix_lessons_class_group_id"))

    op.drop_table("lessons")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_pupil_id"))
        batch_op.drop_index(batch_op.f("ix_consents_parent_id"))

    op.drop_table("consents")
    op.drop_table("class_members")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_staff_id"))

    op.drop_table("staff_sessions")
    with op.batch_alter_table("staff_roles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_roles_staff_id"))
        batch_op.drop_index(batch_op.f("ix_staff_roles_school_id"))

    op.drop_table("staff_roles")
    with op.batch_alter_table("pupils", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pupils_school_id"))

    op.drop_table("pupils")
    with op.batch_alter_table("class_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_class_groups_school_id"))

    op.drop_table("class_groups")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_at")

    op.drop_table("audit_entries")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_trust_id"))

    op.drop_table("staff")
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schools_trust_id"))

    op.drop_table("schools")
    with op.batch_alter_table("parents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parents_trust_id"))
        batch_op.drop_index(batch_op.f("ix_parents_email"))

    op.drop_table("parents")
    with op.batch_alter_table("consent_texts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_texts_trust_id"))

    op.drop_table("consent_texts")
    op.drop_table("trusts")
