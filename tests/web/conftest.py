"""A small world for the web tests: two trusts, three schools, staff in every role, pupils with
and without consent, and lessons. Rows are made directly with the models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from safeclass.config import Config
from safeclass.domain.consent import ConsentScope
from safeclass.passwords import hash_password
from safeclass.store.models import (
    ClassGroup,
    Consent,
    ConsentText,
    Lesson,
    LessonStaff,
    LessonStaffRole,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
    StaffRole,
    StaffRoleGrant,
    Trust,
)
from safeclass.web.app import create_app
from safeclass.web.context import WebContext
from safeclass.web.wording import day_bounds, school_today
from tests.web.helpers import PASSWORD, TestClient


@cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass(frozen=True)
class World:
    oak_id: int  # trust A, the main school
    elm_id: int  # trust A, a second school
    birch_id: int  # trust B
    kestrels_id: int  # a class at Oak
    robins_id: int  # a class at Birch
    oak_lesson_id: int
    birch_lesson_id: int


OAK_TEACHER = "teacher@oak.example"
OAK_ASSISTANT = "assistant@oak.example"
OAK_DSL = "dsl@oak.example"
OAK_ADMIN = "admin@oak.example"
TRUST_ADMIN = "admin@trust-a.example"
ELM_TEACHER = "teacher@elm.example"
BIRCH_ADMIN = "admin@trust-b.example"
FORMER_TEACHER = "former@oak.example"
PARENT_EMAIL = "parent.of.amy@home.example"


def _staff(
    session: Session,
    trust: Trust,
    email: str,
    name: str,
    grants: list[tuple[StaffRole, School | None]],
    *,
    active: bool = True,
) -> StaffMember:
    staff = StaffMember(
        trust_id=trust.id,
        email=email,
        display_name=name,
        password_hash=password_hash(),
        active=active,
    )
    session.add(staff)
    session.flush()
    for role, school in grants:
        session.add(
            StaffRoleGrant(
                staff_id=staff.id, role=role, school_id=school.id if school is not None else None
            )
        )
    session.flush()
    return staff


def _pupil(
    session: Session, school: School, mis_id: str, first: str, last: str, year: int
) -> Pupil:
    pupil = Pupil(
        school_id=school.id, mis_id=mis_id, first_name=first, last_name=last, year_group=year
    )
    session.add(pupil)
    session.flush()
    return pupil


def build_world(session: Session) -> World:
    given = datetime(2024, 9, 1, 9, 0, tzinfo=UTC)
    trust_a = Trust(name="Riverside Learning Trust")
    trust_b = Trust(name="Hillside Academies")
    session.add_all([trust_a, trust_b])
    session.flush()
    oak = School(trust_id=trust_a.id, name="Oak Primary", slug="oak")
    elm = School(trust_id=trust_a.id, name="Elm Primary", slug="elm")
    birch = School(trust_id=trust_b.id, name="Birch Academy", slug="birch")
    session.add_all([oak, elm, birch])
    session.flush()

    teacher = _staff(session, trust_a, OAK_TEACHER, "Tess Teacher", [(StaffRole.TEACHER, oak)])
    assistant = _staff(
        session, trust_a, OAK_ASSISTANT, "Tariq Assistant", [(StaffRole.TEACHING_ASSISTANT, oak)]
    )
    _staff(session, trust_a, OAK_DSL, "Dana Lead", [(StaffRole.SAFEGUARDING_LEAD, oak)])
    _staff(session, trust_a, OAK_ADMIN, "Sam Admin", [(StaffRole.SCHOOL_ADMIN, oak)])
    _staff(session, trust_a, TRUST_ADMIN, "Terry Trust", [(StaffRole.TRUST_ADMIN, None)])
    _staff(session, trust_a, ELM_TEACHER, "Eli Elm", [(StaffRole.TEACHER, elm)])
    _staff(
        session, trust_a, FORMER_TEACHER, "Fran Former", [(StaffRole.TEACHER, oak)], active=False
    )
    birch_admin = _staff(
        session, trust_b, BIRCH_ADMIN, "Bea Birch", [(StaffRole.TRUST_ADMIN, None)]
    )

    session.add_all(
        [
            ConsentText(
                trust_id=trust_a.id, scope=scope, version="v1", body="...", published_at=given
            )
            for scope in ConsentScope
        ]
    )
    kestrels = ClassGroup(school_id=oak.id, name="Year 4 Kestrels", year_group=4)
    robins = ClassGroup(school_id=birch.id, name="Year 2 Robins", year_group=2)
    session.add_all([kestrels, robins])
    session.flush()

    amy = _pupil(session, oak, "OAK-1", "Amy", "Adams", 4)
    ben = _pupil(session, oak, "OAK-2", "Ben", "Brown", 4)
    cara = _pupil(session, oak, "OAK-3", "Cara", "Clark", 4)
    kestrels.pupils.extend([amy, ben, cara])
    robin = _pupil(session, birch, "BIR-1", "Rob", "Reed", 2)
    robins.pupils.append(robin)

    parent = Parent(trust_id=trust_a.id, display_name="Alex Adams", email=PARENT_EMAIL)
    other_parent = Parent(trust_id=trust_a.id, display_name="Chris Clark", email=None)
    session.add_all([parent, other_parent])
    session.flush()
    session.add_all(
        [
            ParentLink(pupil_id=amy.id, parent_id=parent.id, relationship_to_pupil="Mother"),
            ParentLink(pupil_id=cara.id, parent_id=other_parent.id),
            Consent(
                pupil_id=amy.id,
                parent_id=parent.id,
                scope=ConsentScope.LIVE_LESSONS,
                text_version="v1",
                given_at=given,
            ),
            Consent(
                pupil_id=cara.id,
                parent_id=other_parent.id,
                scope=ConsentScope.LIVE_LESSONS,
                text_version="v1",
                given_at=given,
                withdrawn_at=given + timedelta(days=10),
            ),
        ]
    )

    start_of_today, _ = day_bounds(school_today())
    oak_lesson = Lesson(
        school_id=oak.id,
        class_group_id=kestrels.id,
        host_id=teacher.id,
        title="Fractions together",
        starts_at=start_of_today + timedelta(hours=13),
        ends_at=start_of_today + timedelta(hours=14),
    )
    birch_lesson = Lesson(
        school_id=birch.id,
        class_group_id=robins.id,
        host_id=birch_admin.id,
        title="Phonics",
        starts_at=start_of_today + timedelta(days=1, hours=10),
        ends_at=start_of_today + timedelta(days=1, hours=11),
    )
    session.add_all([oak_lesson, birch_lesson])
    session.flush()
    session.add(
        LessonStaff(
            lesson_id=oak_lesson.id,
            staff_id=assistant.id,
            role=LessonStaffRole.TEACHING_ASSISTANT,
        )
    )
    session.commit()
    return World(
        oak_id=oak.id,
        elm_id=elm.id,
        birch_id=birch.id,
        kestrels_id=kestrels.id,
        robins_id=robins.id,
        oak_lesson_id=oak_lesson.id,
        birch_lesson_id=birch_lesson.id,
    )


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    with session_factory() as session:
        return build_world(session)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(
        data_dir=tmp_path / "data",
        database_url="sqlite:///unused-the-tests-pass-a-session-factory",
        host="127.0.0.1",
        port=8000,
        secure_cookies=False,
    )


@pytest.fixture
def app(config: Config, session_factory: sessionmaker[Session], world: World) -> FastAPI:
    return create_app(config, session_factory=session_factory)


@pytest.fixture
def web(app: FastAPI) -> WebContext:
    context = app.state.safeclass
    assert isinstance(context, WebContext)
    return context


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client
