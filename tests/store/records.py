"""Small builders for the records tests: each makes one row, flushed, with only what it needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from sqlalchemy.orm import Session

from safeclass.domain.consent import ConsentScope
from safeclass.store.models import (
    ClassGroup,
    Consent,
    ConsentText,
    Lesson,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
    Trust,
)

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
_numbers = count(1)


def trust(session: Session, name: str = "Riverside Learning Trust") -> Trust:
    made = Trust(name=name)
    session.add(made)
    session.flush()
    return made


def school(session: Session, of: Trust, slug: str | None = None) -> School:
    slug = slug or f"school-{next(_numbers)}"
    made = School(trust_id=of.id, name=slug.title(), slug=slug)
    session.add(made)
    session.flush()
    return made


def staff(session: Session, of: Trust, email: str | None = None) -> StaffMember:
    email = email or f"staff{next(_numbers)}@school.example"
    made = StaffMember(trust_id=of.id, email=email, display_name="Tess Teacher")
    session.add(made)
    session.flush()
    return made


def pupil(session: Session, at: School, first: str = "Amy", year: int = 5) -> Pupil:
    made = Pupil(
        school_id=at.id,
        mis_id=f"MIS-{next(_numbers)}",
        first_name=first,
        last_name="Adams",
        year_group=year,
    )
    session.add(made)
    session.flush()
    return made


def parent(session: Session, of: Trust, name: str = "Alex Adams") -> Parent:
    made = Parent(trust_id=of.id, display_name=name)
    session.add(made)
    session.flush()
    return made


def link(session: Session, child: Pupil, carer: Parent) -> ParentLink:
    made = ParentLink(pupil_id=child.id, parent_id=carer.id, relationship_to_pupil="Carer")
    session.add(made)
    session.flush()
    return made


def consent_text(
    session: Session,
    of: Trust,
    version: str,
    *,
    scope: ConsentScope = ConsentScope.LIVE_LESSONS,
    published_at: datetime = T0,
) -> ConsentText:
    made = ConsentText(
        trust_id=of.id, scope=scope, version=version, body="...", published_at=published_at
    )
    session.add(made)
    session.flush()
    return made


def consent(
    session: Session,
    child: Pupil,
    carer: Parent,
    version: str = "v1",
    *,
    scope: ConsentScope = ConsentScope.LIVE_LESSONS,
    given_at: datetime = T0,
    withdrawn_at: datetime | None = None,
) -> Consent:
    made = Consent(
        pupil_id=child.id,
        parent_id=carer.id,
        scope=scope,
        text_version=version,
        given_at=given_at,
        withdrawn_at=withdrawn_at,
    )
    session.add(made)
    session.flush()
    return made


def lesson(session: Session, at: School, host: StaffMember, pupils: list[Pupil]) -> Lesson:
    group = ClassGroup(school_id=at.id, name=f"Class {next(_numbers)}", year_group=5)
    group.pupils.extend(pupils)
    session.add(group)
    session.flush()
    made = Lesson(
        school_id=at.id,
        class_group_id=group.id,
        host_id=host.id,
        title="Fractions",
        starts_at=T0 + timedelta(days=1),
        ends_at=T0 + timedelta(days=1, hours=1),
    )
    session.add(made)
    session.flush()
    return made
