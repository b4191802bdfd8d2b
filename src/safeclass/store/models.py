"""The records SafeClass keeps. Children's data is kept to the minimum a lesson needs.

Pupils: a first name, a last name, a year group, the school's own pupil number (to match re-imports)
and their classes. Parents and carers: a name and, if the school gives one, an email address. No
dates of birth, no addresses, no photographs.

Incidents, chat and the lesson event log come in their own modules later; they hang off `Lesson`,
`Pupil` and `StaffMember` by id, so nothing here needs to change for them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from safeclass.domain.consent import ConsentScope
from safeclass.store.types import UTCDateTime
from safeclass.timeutil import utc_now

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class StaffRole(enum.StrEnum):
    TEACHER = "teacher"
    TEACHING_ASSISTANT = "teaching_assistant"
    SAFEGUARDING_LEAD = "safeguarding_lead"
    SCHOOL_ADMIN = "school_admin"
    TRUST_ADMIN = "trust_admin"


STAFF_ROLE_NAMES = {
    StaffRole.TEACHER: "Teacher",
    StaffRole.TEACHING_ASSISTANT: "Teaching assistant",
    StaffRole.SAFEGUARDING_LEAD: "Designated safeguarding lead",
    StaffRole.SCHOOL_ADMIN: "School admin",
    StaffRole.TRUST_ADMIN: "Trust admin",
}


class LessonStaffRole(enum.StrEnum):
    CO_TEACHER = "co_teacher"
    TEACHING_ASSISTANT = "teaching_assistant"


def _enum(enum_type: type[enum.StrEnum], name: str) -> Enum:
    return Enum(
        enum_type,
        name=name,
        native_enum=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Trust(Base):
    __tablename__ = "trusts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    policy_values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_locks: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    schools: Mapped[list[School]] = relationship(back_populates="trust", order_by="School.name")


class School(Base):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    trust_id: Mapped[int] = mapped_column(ForeignKey("trusts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    policy_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    trust: Mapped[Trust] = relationship(back_populates="schools")
    class_groups: Mapped[list[ClassGroup]] = relationship(
        back_populates="school", order_by="ClassGroup.name"
    )


class StaffMember(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    trust_id: Mapped[int] = mapped_column(ForeignKey("trusts.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    roles: Mapped[list[StaffRoleGrant]] = relationship(
        back_populates="staff", cascade="all, delete-orphan"
    )

    def has_role(self, role: StaffRole, school_id: int | None = None) -> bool:
        return any(
            grant.role is role and (school_id is None or grant.school_id == school_id)
            for grant in self.roles
        )

    @property
    def is_trust_admin(self) -> bool:
        return self.has_role(StaffRole.TRUST_ADMIN)

    def school_ids(self) -> set[int]:
        return {grant.school_id for grant in self.roles if grant.school_id is not None}


class StaffRoleGrant(Base):
    """One role of one person: at one school, or (trust admin) across the trust."""

    __tablename__ = "staff_roles"
    __table_args__ = (
        UniqueConstraint("staff_id", "role", "school_id"),
        # The constraint above lets two trust-wide grants through, since SQL counts NULLs as
        # distinct; this index allows one grant of each role per person across the trust.
        Index(
            "uq_staff_roles_trust_wide",
            "staff_id",
            "role",
            unique=True,
            sqlite_where=text("school_id IS NULL"),
            postgresql_where=text("school_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)

    staff: Mapped[StaffMember] = relationship(back_populates="roles")
    school: Mapped[School | None] = relationship()


class_members = Table(
    "class_members",
    Base.metadata,
    Column("class_group_id", ForeignKey("class_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("pupil_id", ForeignKey("pupils.id", ondelete="CASCADE"), primary_key=True),
)


class ClassGroup(Base):
    __tablename__ = "class_groups"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    year_group: Mapped[int | None] = mapped_column(Integer)

    school: Mapped[School] = relationship(back_populates="class_groups")
    pupils: Mapped[list[Pupil]] = relationship(
        secondary=class_members, back_populates="class_groups", order_by="Pupil.last_name"
    )


class Pupil(Base):
    __tablename__ = "pupils"
    __table_args__ = (UniqueConstraint("school_id", "mis_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    mis_id: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    year_group: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    school: Mapped[School] = relationship()
    class_groups: Mapped[list[ClassGroup]] = relationship(
        secondary=class_members, back_populates="pupils", order_by="ClassGroup.name"
    )
    parent_links: Mapped[list[ParentLink]] = relationship(
        back_populates="pupil", cascade="all, delete-orphan"
    )
    consents: Mapped[list[Consent]] = relationship(
        back_populates="pupil", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Parent(Base):
    """A parent or carer. Matched on re-import by email where the school gives one."""

    __tablename__ = "parents"

    id: Mapped[int] = mapped_column(primary_key=True)
    trust_id: Mapped[int] = mapped_column(ForeignKey("trusts.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    pupil_links: Mapped[list[ParentLink]] = relationship(
        back_populates="parent", cascade="all, delete-orphan"
    )


class ParentLink(Base):
    __tablename__ = "parent_links"

    pupil_id: Mapped[int] = mapped_column(
        ForeignKey("pupils.id", ondelete="CASCADE"), primary_key=True
    )
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("parents.id", ondelete="CASCADE"), primary_key=True
    )
    relationship_to_pupil: Mapped[str] = mapped_column(String(60), default="")

    pupil: Mapped[Pupil] = relationship(back_populates="parent_links")
    parent: Mapped[Parent] = relationship(back_populates="pupil_links")


class Lesson(Base):
    __tablename__ = "lessons"
    __table_args__ = (Index("ix_lessons_school_starts", "school_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    class_group_id: Mapped[int] = mapped_column(ForeignKey("class_groups.id"), index=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # The code typed with a personal passcode by someone who cannot use their link (see
    # `safeclass.actions.typed_codes`). Not a secret on its own: it names the lesson, the passcode
    # says who is coming. None until staff ask for one.
    typed_code: Mapped[str | None] = mapped_column(String(16), unique=True)

    school: Mapped[School] = relationship()
    class_group: Mapped[ClassGroup] = relationship()
    host: Mapped[StaffMember] = relationship()
    other_staff: Mapped[list[LessonStaff]] = relationship(
        back_populates="lesson", cascade="all, delete-orphan"
    )


class LessonStaff(Base):
    __tablename__ = "lesson_staff"

    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    role: Mapped[LessonStaffRole] = mapped_column(_enum(LessonStaffRole, "lesson_staff_role"))

    lesson: Mapped[Lesson] = relationship(back_populates="other_staff")
    staff: Mapped[StaffMember] = relationship()


class ConsentText(Base):
    """A version of the words parents agree to. A new version asks every parent again."""

    __tablename__ = "consent_texts"
    __table_args__ = (UniqueConstraint("trust_id", "scope", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trust_id: Mapped[int] = mapped_column(ForeignKey("trusts.id"), index=True)
    scope: Mapped[ConsentScope] = mapped_column(_enum(ConsentScope, "consent_scope"))
    version: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(default=utc_now)


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"), index=True)
    scope: Mapped[ConsentScope] = mapped_column(_enum(ConsentScope, "consent_scope"))
    text_version: Mapped[str] = mapped_column(String(40))
    given_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]

    pupil: Mapped[Pupil] = relationship(back_populates="consents")
    parent: Mapped[Parent] = relationship()


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]

    staff: Mapped[StaffMember] = relationship()


class AuditEntry(Base):
    """What staff changed outside lessons: policy, rosters, sign-ins. Lessons keep their own log."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))
    action: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LessonEventRecord(Base):
    """One event of a lesson's log: append-only, each row carrying the hash of the one before, so
    that any edit or deletion breaks the chain where it happened (`safeclass audit verify`)."""

    __tablename__ = "lesson_events"
    __table_args__ = (UniqueConstraint("lesson_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class JoinLink(Base):
    """A personal link into a class's lessons (or one lesson): for a pupil, or for a parent or
    carer who joins with a young pupil. Only the SHA-256 of its token is kept (see
    `safeclass.actions.join_links`), so a copy of the database opens no lesson. A link is never
    changed back: regenerating revokes it and makes another."""

    __tablename__ = "join_links"
    __table_args__ = (
        CheckConstraint(
            "(class_group_id IS NULL) <> (lesson_id IS NULL)", name="class_group_or_lesson"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id", ondelete="CASCADE"), index=True)
    # Set for a parent's or carer's link: they join with `pupil_id`, as that pupil.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("parents.id", ondelete="CASCADE"), index=True
    )
    # Exactly one of these: every lesson of the class, or one lesson.
    class_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("class_groups.id", ondelete="CASCADE"), index=True
    )
    lesson_id: Mapped[int | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    # The passcode to type with a lesson code instead of following the link: kept only as an HMAC
    # keyed with the server's secret, so neither a copy of the database nor its hash opens a lesson.
    passcode_hmac: Mapped[str | None] = mapped_column(String(64), unique=True)

    school: Mapped[School] = relationship()
    pupil: Mapped[Pupil] = relationship()
    parent: Mapped[Parent | None] = relationship()
    class_group: Mapped[ClassGroup | None] = relationship()
    lesson: Mapped[Lesson | None] = relationship()

    @property
    def for_parent(self) -> bool:
        return self.parent_id is not None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


class GuestInvitation(Base):
    """A named guest (a visiting speaker, say) invited by staff to one lesson, when the school's
    policy allows guests. The guest waits to be let in like everyone else. Only hashes of the link's
    token and passcode are kept (see `safeclass.actions.guests`); withdrawing is final."""

    __tablename__ = "guest_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    passcode_hmac: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )

    school: Mapped[School] = relationship()
    lesson: Mapped[Lesson] = relationship()

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at
