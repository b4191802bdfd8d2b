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
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
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
    # Practice rooms (`safeclass.actions.practice`, migration 0008): the school's one class that
    # practice lessons belong to. It has no pupils; its lessons' pupils are simulated.
    practice: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

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
    # Practice rooms (`safeclass.actions.practice`, migration 0008): a lesson a member of staff
    # rehearses in with simulated pupils. No real pupil, guest or consent is ever part of it, and
    # it is left out of the school's lessons, registers and counts.
    practice: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

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
    # Added in migration 0006: who withdrew it, when that was another parent or carer of the
    # pupil (the latest word counts, whoever says it; `actions.consent.withdraw_consent`).
    withdrawn_by_parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("parents.id", ondelete="SET NULL")
    )

    pupil: Mapped[Pupil] = relationship(back_populates="consents")
    parent: Mapped[Parent] = relationship(foreign_keys=[parent_id])


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
    # The chain covers a salted SHA-256 of `data`, not `data` itself, so that chat can be deleted
    # on schedule (`data` becomes a tombstone, the salt is wiped) while the chain still verifies;
    # see `safeclass.store.event_log`. Both None only in a log that was already damaged when
    # migration 0009 came (its rows keep the earlier hashes, so the damage stays visible).
    data_digest: Mapped[str | None] = mapped_column(String(64))
    data_salt: Mapped[str | None] = mapped_column(String(32))
    redacted_at: Mapped[datetime | None]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AttendanceRecord(Base):
    """One person's time in one lesson, kept on its own when the lesson's log is deleted (the log
    is kept a year, attendance two; see `safeclass.actions.retention`). Until then the register is
    read from the log itself."""

    __tablename__ = "attendance_records"
    __table_args__ = (
        UniqueConstraint("lesson_id", "person"),
        Index("ix_attendance_records_school_ended", "school_id", "lesson_ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    person: Mapped[str] = mapped_column(String(80))  # "pupil:12", "staff:3", "guest:5"
    display_name: Mapped[str] = mapped_column(String(200))
    # [{"in": ISO time, "out": ISO time or None}, ...]: each stretch in the room.
    stretches: Mapped[list[Any]] = mapped_column(JSON, default=list)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The time of the lesson log's last row: attendance is kept from here.
    lesson_ended_at: Mapped[datetime]
    kept_at: Mapped[datetime] = mapped_column(default=utc_now)


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


# --- Consent links and messages to parents (`safeclass.actions.consent`) -------------------------
# Added in migration 0006. A parent's or carer's personal consent link opens a page where they
# give or withdraw permission for their own children at one school. Only its token's SHA-256 is
# kept, as for join links. Each email about it is recorded without the link itself.


class ConsentLink(Base):
    __tablename__ = "consent_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
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
    parent: Mapped[Parent] = relationship()

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


class ConsentMessageState(enum.StrEnum):
    OUTBOX = "outbox"  # no mail server configured: an admin sees it on the outbox page
    SENT = "sent"  # handed to the mail server
    FAILED = "failed"  # the mail server refused it or could not be reached


class ConsentMessage(Base):
    """An email to a parent or carer with their consent link. The text is kept with the link's
    token blanked out: the token itself is never stored."""

    __tablename__ = "consent_messages"
    __table_args__ = (Index("ix_consent_messages_school_created", "school_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("parents.id", ondelete="SET NULL"), index=True
    )
    consent_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("consent_links.id", ondelete="SET NULL")
    )
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[ConsentMessageState] = mapped_column(
        _enum(ConsentMessageState, "consent_message_state")
    )
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    sent_at: Mapped[datetime | None]


# --- Incidents (safeguarding records; `safeclass.actions.incidents`) ------------------------------
# Added in migration 0007. An incident keeps its own copy of the lesson's timeline and chat around
# the moment it is about, so it outlives the lesson's log (each is deleted on its own schedule).
# It refers to its lesson by id only for as long as the lesson exists (SET NULL), and carries the
# lesson's title and the school so that it still reads fully without it.


class IncidentSource(enum.StrEnum):
    REMOVAL = "removal"  # opened by the server when staff removed someone
    STAFF_REPORT = "staff_report"  # a member of staff's report
    CHAT_CHECK = "chat_check"  # opened by the server from the chat check


class IncidentState(enum.StrEnum):
    NEW = "new"
    IN_REVIEW = "in_review"
    CLOSED = "closed"


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_school_state", "school_id", "state"),
        # One incident per event of the lesson's log that opened one: a removal is never
        # recorded twice, whoever (the server, or the form after "remove") gets there first.
        UniqueConstraint("lesson_id", "source_event_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    lesson_id: Mapped[int | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="SET NULL"), index=True
    )
    lesson_title: Mapped[str] = mapped_column(String(200))
    source: Mapped[IncidentSource] = mapped_column(_enum(IncidentSource, "incident_source"))
    # The lesson log's row that opened it (a removal, a chat check), when the server opened it.
    source_event_seq: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[IncidentState] = mapped_column(
        _enum(IncidentState, "incident_state"), default=IncidentState.NEW
    )
    category: Mapped[str | None] = mapped_column(String(40))  # None: not chosen yet
    description: Mapped[str] = mapped_column(Text, default="")
    people_involved: Mapped[str] = mapped_column(Text, default="")
    actions_taken: Mapped[str] = mapped_column(Text, default="")
    # Who the incident is about, as the lesson knew them: the participant id in the lesson, their
    # role and record id (a pupil's or staff member's id; a guest has none) and the name shown.
    about_pid: Mapped[str | None] = mapped_column(String(40))
    about_role: Mapped[str | None] = mapped_column(String(16))
    about_ref: Mapped[str | None] = mapped_column(String(40))
    about_name: Mapped[str | None] = mapped_column(String(200))
    reported_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), index=True
    )
    reported_by_name: Mapped[str] = mapped_column(String(200), default="")
    occurred_at: Mapped[datetime]
    opened_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    closed_at: Mapped[datetime | None]
    # The snapshot: lists of plain dicts (see `actions.incidents.TimelineEntry`, `ChatLine`), and
    # the hash of the newest log row it read, to show it against `safeclass audit verify`.
    timeline: Mapped[list[Any]] = mapped_column(JSON, default=list)
    chat: Mapped[list[Any]] = mapped_column(JSON, default=list)
    log_hash: Mapped[str] = mapped_column(String(64), default="")

    school: Mapped[School] = relationship()
    lesson: Mapped[Lesson | None] = relationship()
    notes: Mapped[list[IncidentNote]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="IncidentNote.id",
    )


class IncidentNote(Base):
    """A note on an incident: added, never changed or deleted (`author_name` None: SafeClass)."""

    __tablename__ = "incident_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    author_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    author_name: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utc_now)
    body: Mapped[str] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="notes")


class WebhookDelivery(Base):
    """One message for the school's safeguarding system (`safeclass.webhooks`): written in the
    transaction that changed the incident, sent after it commits, retried with growing pauses."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Deleted with its incident (retention): a message outlives nothing it was about.
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]  # None once delivered or given up
    delivered_at: Mapped[datetime | None]
    gave_up_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(500), default="")


# --- Practice rooms (`safeclass.actions.practice`) -----------------------------------------------
# Added in migration 0008. A practice lesson's pupils are these made-up people, never rows of
# `pupils`: the lesson engine reads its roster from here (`actions.live.lesson_roster`), and they
# come in through their own door (`web.practice_reader`), which opens practice lessons only.


class PracticePupil(Base):
    """A simulated pupil of one practice lesson: a made-up first name, and the hash of the token
    its bot (`media.practice_pupils`) joins with. The token itself is only ever in memory."""

    __tablename__ = "practice_pupils"
    __table_args__ = (UniqueConstraint("lesson_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ...: the order they knock in
    first_name: Mapped[str] = mapped_column(String(40))
    # False for the one pupil (if the teacher asked for one) whose parent "has not given
    # permission": the door turns them away, as it would a real pupil without consent.
    consent_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    lesson: Mapped[Lesson] = relationship()


# --- Recordings of lessons (`safeclass.actions.recordings`) --------------------------------------
# Added in migration 0010. One row per recording of a lesson (a lesson can be recorded more than
# once: 1, 2, ...), from the moment it starts. The file itself lives under the recordings folder
# (`safeclass.media.recording_files`); the row names it relative to that folder.


class RecordingState(enum.StrEnum):
    RECORDING = "recording"  # Janus is writing the raw files now
    PROCESSING = "processing"  # stopped; the raw files are being made into one file
    READY = "ready"  # the file is made and may be downloaded
    FAILED = "failed"  # no file could be made; `failure` says why


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (
        UniqueConstraint("lesson_id", "number"),
        Index("ix_recordings_school_ended", "school_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No cascade: a lesson is never deleted while a recording of it (and its file) is kept.
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    number: Mapped[int] = mapped_column(Integer)  # the lesson's recording number: 1, 2, ...
    state: Mapped[RecordingState] = mapped_column(_enum(RecordingState, "recording_state"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]  # retention counts from here; None while recording
    started_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    # Why it stopped: "stopped" (by staff), "lesson_ended", "no_staff", "consent_withdrawn",
    # "server_restarted".
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    file_name: Mapped[str | None] = mapped_column(String(300))  # relative to the recordings folder
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    failure: Mapped[str | None] = mapped_column(Text)  # in plain words, for the lesson's page
    tracks: Mapped[list[Any] | None] = mapped_column(JSON)  # the titles of the file's tracks
    # Raw files Janus wrote that could not be used (damaged, empty): the file lacks those parts.
    # Added in migration 0011.
    parts_left_out: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    lesson: Mapped[Lesson] = relationship()
    school: Mapped[School] = relationship()
    started_by: Mapped[StaffMember | None] = relationship()
