"""Booking lessons: no 1:1 lessons, sensible times, options only tighten, staff of the school."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.actions.lessons import LessonRefused, schedule_lesson
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.policy import SettingValueError
from safeclass.store.db import transaction
from safeclass.store.models import (
    AuditEntry,
    ClassGroup,
    Lesson,
    LessonStaffRole,
    Pupil,
    School,
    StaffMember,
    StaffRole,
    StaffRoleGrant,
    Trust,
)
from safeclass.timeutil import utc_now

STARTS = utc_now().replace(microsecond=0) + timedelta(hours=1)
ENDS = STARTS + timedelta(minutes=45)


def make_school(session: Session, slug: str = "oakfield", trust: Trust | None = None) -> School:
    school = School(trust=trust or Trust(name="Test Trust"), name=f"School {slug}", slug=slug)
    session.add(school)
    session.flush()
    return school


def make_staff(session: Session, school: School, name: str) -> StaffMember:
    member = StaffMember(
        trust_id=school.trust_id,
        email=f"{name.lower()}@example.org",
        display_name=name,
        password_hash=None,
        roles=[StaffRoleGrant(role=StaffRole.TEACHER, school_id=school.id)],
    )
    session.add(member)
    session.flush()
    return member


def make_class(session: Session, school: School, pupils: int) -> ClassGroup:
    group = ClassGroup(school_id=school.id, name=f"Class of {pupils}", year_group=5)
    group.pupils = [
        Pupil(
            school_id=school.id,
            mis_id=f"{pupils}-{n}",
            first_name="P",
            last_name=str(n),
            year_group=5,
        )
        for n in range(pupils)
    ]
    session.add(group)
    session.flush()
    return group


def book(
    session: Session,
    school: School,
    group: ClassGroup,
    host: StaffMember,
    *,
    other_staff: list[tuple[StaffMember, LessonStaffRole]] | None = None,
    options: dict[str, object] | None = None,
    starts_at: datetime = STARTS,
    ends_at: datetime = ENDS,
) -> Lesson:
    return schedule_lesson(
        session,
        school=school,
        class_group=group,
        host=host,
        title="  Fractions   catch-up ",
        starts_at=starts_at,
        ends_at=ends_at,
        other_staff=other_staff or [],
        options=options or {},
        actor=host,
    )


def test_one_pupil_with_one_member_of_staff_is_refused(any_session_factory: Any) -> None:
    with transaction(any_session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        group = make_class(session, school, pupils=1)

        with pytest.raises(LessonRefused) as refused:
            book(session, school, group, teacher)

        assert refused.value.decision.reason_code is ReasonCode.ONE_TO_ONE
        assert "second member of staff" in refused.value.decision.message
        assert session.scalars(select(Lesson)).all() == []
        assert session.scalars(select(AuditEntry)).all() == []


def test_a_second_member_of_staff_makes_a_one_pupil_lesson_allowed(
    any_session_factory: Any,
) -> None:
    with transaction(any_session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        assistant = make_staff(session, school, "Assistant")
        group = make_class(session, school, pupils=1)

        lesson = book(
            session,
            school,
            group,
            teacher,
            other_staff=[(assistant, LessonStaffRole.TEACHING_ASSISTANT)],
        )

        assert lesson.title == "Fractions catch-up"
        assert [(s.staff_id, s.role) for s in lesson.other_staff] == [
            (assistant.id, LessonStaffRole.TEACHING_ASSISTANT)
        ]
        audit = session.scalars(select(AuditEntry)).one()
        assert audit.action == "lesson_scheduled"
        assert audit.data["lesson_id"] == lesson.id
        assert audit.data["other_staff_ids"] == [assistant.id]


def test_listing_the_host_again_does_not_count_as_a_second_adult(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        group = make_class(session, school, pupils=1)

        with pytest.raises(LessonRefused):
            book(
                session, school, group, teacher, other_staff=[(teacher, LessonStaffRole.CO_TEACHER)]
            )


def test_two_pupils_with_one_member_of_staff_is_allowed(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        group = make_class(session, school, pupils=2)

        lesson = book(session, school, group, teacher)

        assert lesson.id is not None
        assert lesson.starts_at == STARTS


def test_a_lesson_option_may_raise_the_smallest_group(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        group = make_class(session, school, pupils=3)

        with pytest.raises(LessonRefused) as refused:
            book(session, school, group, teacher, options={"min_pupils_without_second_staff": "5"})

        assert refused.value.decision.reason_code is ReasonCode.ONE_TO_ONE


def test_lesson_options_are_stored_when_they_tighten(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        group = make_class(session, school, pupils=3)

        lesson = book(session, school, group, teacher, options={"class_chat": "off"})

        assert lesson.options == {"class_chat": False}


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"pupil_video_visibility": "everyone"}, ReasonCode.LESSON_MAY_ONLY_TIGHTEN),
        ({"waiting_room": False}, ReasonCode.SETTING_FIXED),
        ({"parent_mediated_below_year": 5}, ReasonCode.NOT_A_LESSON_OPTION),
    ],
)
def test_lesson_options_that_loosen_or_are_not_lesson_options_are_refused(
    session_factory: Any, options: dict[str, object], reason: ReasonCode
) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        group = make_class(session, school, pupils=3)

        with pytest.raises(LessonRefused) as refused:
            book(session, school, group, teacher, options=options)

        assert refused.value.decision.reason_code is reason


def test_an_unknown_option_or_bad_value_is_a_value_error(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        group = make_class(session, school, pupils=3)

        with pytest.raises(SettingValueError):
            book(session, school, group, teacher, options={"no_such_setting": True})
        with pytest.raises(SettingValueError):
            book(session, school, group, teacher, options={"class_chat": "maybe"})


@pytest.mark.parametrize(
    ("starts_at", "ends_at"),
    [
        (STARTS, STARTS),
        (STARTS, STARTS - timedelta(minutes=1)),
        (STARTS, STARTS + timedelta(hours=7)),
    ],
)
def test_bad_times_are_refused(
    session_factory: Any, starts_at: datetime, ends_at: datetime
) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        group = make_class(session, school, pupils=3)

        with pytest.raises(LessonRefused) as refused:
            book(session, school, group, teacher, starts_at=starts_at, ends_at=ends_at)

        assert refused.value.decision.reason_code is ReasonCode.BAD_TIMES


def test_an_empty_class_is_refused(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        assistant = make_staff(session, school, "Assistant")
        group = make_class(session, school, pupils=0)

        with pytest.raises(LessonRefused) as refused:
            book(
                session,
                school,
                group,
                teacher,
                other_staff=[(assistant, LessonStaffRole.CO_TEACHER)],
            )

        assert refused.value.decision.reason_code is ReasonCode.NO_PUPILS


def test_staff_and_classes_of_another_school_are_refused(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        other = make_school(session, "elmwood", trust=school.trust)
        teacher = make_staff(session, school, "Teacher")
        outsider = make_staff(session, other, "Outsider")
        group = make_class(session, school, pupils=1)
        other_group = make_class(session, other, pupils=4)

        with pytest.raises(LessonRefused) as as_host:
            book(session, school, make_class(session, school, pupils=3), outsider)
        with pytest.raises(LessonRefused) as as_second:
            book(
                session,
                school,
                group,
                teacher,
                other_staff=[(outsider, LessonStaffRole.CO_TEACHER)],
            )
        with pytest.raises(LessonRefused) as wrong_class:
            book(session, school, other_group, teacher)

        assert "does not work at School oakfield" in as_host.value.decision.message
        assert "cannot join" in as_second.value.decision.message
        assert "is not at School oakfield" in wrong_class.value.decision.message
        for refusal in (as_host, as_second, wrong_class):
            assert refusal.value.decision.reason_code is ReasonCode.NOT_AT_SCHOOL


def test_a_switched_off_account_cannot_host(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        teacher.active = False
        group = make_class(session, school, pupils=3)

        with pytest.raises(LessonRefused) as refused:
            book(session, school, group, teacher)

        assert "switched off" in refused.value.decision.message


def test_times_without_a_timezone_are_a_programming_error(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        teacher = make_staff(session, school, "Teacher")
        group = make_class(session, school, pupils=3)

        with pytest.raises(ValueError, match="timezone"):
            book(session, school, group, teacher, starts_at=datetime(2026, 1, 1, 9))
