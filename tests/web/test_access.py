"""Fetch-and-authorise: the same NotFoundError for missing and forbidden, never across trusts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.access import (
    NotFoundError,
    access_class_group,
    access_lesson,
    access_school,
    access_school_for_policy_edit,
    may_see_parent_contacts,
    visible_schools,
)
from safeclass.store.models import Base, School, StaffMember
from tests.web.conftest import (
    BIRCH_ADMIN,
    ELM_TEACHER,
    FORMER_TEACHER,
    OAK_ADMIN,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    TRUST_ADMIN,
    World,
)

MISSING = 987_654


def _staff(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


@pytest.fixture
def session(session_factory: sessionmaker[Session], world: World) -> Iterator[Session]:
    with session_factory() as session:
        yield session


def test_a_teacher_sees_only_their_own_school(session: Session, world: World) -> None:
    teacher = _staff(session, OAK_TEACHER)
    assert [school.id for school in visible_schools(session, teacher)] == [world.oak_id]
    assert access_school(session, teacher, world.oak_id).id == world.oak_id
    with pytest.raises(NotFoundError):
        access_school(session, teacher, world.elm_id)


def test_a_trust_admin_sees_every_school_of_their_trust_and_no_other(
    session: Session, world: World
) -> None:
    admin = _staff(session, TRUST_ADMIN)
    assert {school.id for school in visible_schools(session, admin)} == {world.oak_id, world.elm_id}
    with pytest.raises(NotFoundError):
        access_school(session, admin, world.birch_id)
    with pytest.raises(NotFoundError):
        access_class_group(session, admin, world.robins_id)
    with pytest.raises(NotFoundError):
        access_lesson(session, admin, world.birch_lesson_id)


def test_another_trusts_admin_sees_nothing_of_ours(session: Session, world: World) -> None:
    outsider = _staff(session, BIRCH_ADMIN)
    assert [school.id for school in visible_schools(session, outsider)] == [world.birch_id]
    for fetch, object_id in [
        (access_school, world.oak_id),
        (access_school_for_policy_edit, world.oak_id),
        (access_class_group, world.kestrels_id),
        (access_lesson, world.oak_lesson_id),
    ]:
        with pytest.raises(NotFoundError):
            fetch(session, outsider, object_id)


AccessFunction = Callable[[Session, StaffMember, int], Base]


@pytest.mark.parametrize(
    "fetch", [access_school, access_school_for_policy_edit, access_class_group, access_lesson]
)
def test_missing_and_forbidden_raise_the_same_error(
    session: Session, world: World, fetch: AccessFunction
) -> None:
    elm_teacher = _staff(session, ELM_TEACHER)
    forbidden_ids: dict[AccessFunction, int] = {
        access_school: world.oak_id,
        access_school_for_policy_edit: world.oak_id,
        access_class_group: world.kestrels_id,
        access_lesson: world.oak_lesson_id,
    }
    forbidden_id = forbidden_ids[fetch]
    with pytest.raises(NotFoundError) as missing:
        fetch(session, elm_teacher, MISSING)
    with pytest.raises(NotFoundError) as forbidden:
        fetch(session, elm_teacher, forbidden_id)
    assert type(missing.value) is type(forbidden.value)


def test_classes_and_lessons_follow_their_school(session: Session, world: World) -> None:
    assistant = _staff(session, OAK_ASSISTANT)
    assert access_class_group(session, assistant, world.kestrels_id).id == world.kestrels_id
    assert access_lesson(session, assistant, world.oak_lesson_id).id == world.oak_lesson_id
    elm_teacher = _staff(session, ELM_TEACHER)
    with pytest.raises(NotFoundError):
        access_class_group(session, elm_teacher, world.kestrels_id)
    with pytest.raises(NotFoundError):
        access_lesson(session, elm_teacher, world.oak_lesson_id)


@pytest.mark.parametrize(
    ("email", "may_edit"),
    [
        (OAK_ADMIN, True),
        (TRUST_ADMIN, True),
        (OAK_TEACHER, False),
        (OAK_ASSISTANT, False),
        (OAK_DSL, False),
        (ELM_TEACHER, False),
        (BIRCH_ADMIN, False),
    ],
)
def test_only_school_and_trust_admins_edit_a_schools_policy(
    session: Session, world: World, email: str, may_edit: bool
) -> None:
    staff = _staff(session, email)
    if may_edit:
        assert access_school_for_policy_edit(session, staff, world.oak_id).id == world.oak_id
    else:
        with pytest.raises(NotFoundError):
            access_school_for_policy_edit(session, staff, world.oak_id)


@pytest.mark.parametrize(
    ("email", "may_see"),
    [
        (OAK_ADMIN, True),
        (OAK_DSL, True),
        (TRUST_ADMIN, True),
        (OAK_TEACHER, False),
        (OAK_ASSISTANT, False),
        (BIRCH_ADMIN, False),
    ],
)
def test_parent_contacts_are_for_admins_and_safeguarding_leads(
    session: Session, world: World, email: str, may_see: bool
) -> None:
    oak = session.get(School, world.oak_id)
    assert oak is not None
    assert may_see_parent_contacts(_staff(session, email), oak) is may_see


def test_switched_off_staff_see_nothing(session: Session, world: World) -> None:
    former = _staff(session, FORMER_TEACHER)
    assert visible_schools(session, former) == []
    with pytest.raises(NotFoundError):
        access_school(session, former, world.oak_id)
