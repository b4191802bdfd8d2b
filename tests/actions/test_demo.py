"""The demo trust: loaded once, every role, a realistic mix of consent, lessons today."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from safeclass.actions.demo import DEMO_TRUST_NAME, load_demo
from safeclass.domain.consent import ConsentScope, ConsentStatus
from safeclass.passwords import verify_password
from safeclass.store.db import transaction
from safeclass.store.models import (
    ClassGroup,
    Lesson,
    LessonStaffRole,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
    StaffRole,
    Trust,
)
from safeclass.store.queries import coverage_for_pupils, current_consent_versions, school_policy
from safeclass.timeutil import utc_now

TABLES = (Trust, School, ClassGroup, Pupil, Parent, StaffMember, Lesson)


def test_demo_loads_once(any_session_factory: Any) -> None:
    with transaction(any_session_factory) as session:
        first = load_demo(session)
    with transaction(any_session_factory) as session:
        counts = [session.scalar(select(func.count()).select_from(table)) for table in TABLES]
        second = load_demo(session)
        assert [session.scalar(select(func.count()).select_from(t)) for t in TABLES] == counts

    assert first.created
    assert not second.created
    assert second.trust_name == DEMO_TRUST_NAME
    assert second.accounts == first.accounts


def test_demo_has_every_role_and_a_person_with_two(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        summary = load_demo(session)
        staff = session.scalars(select(StaffMember)).all()

        held = Counter(grant.role for member in staff for grant in member.roles)
        assert set(held) == set(StaffRole)
        assert held[StaffRole.TRUST_ADMIN] == 1
        assert any(len(member.roles) >= 2 for member in staff)
        by_email = {member.email: member for member in staff}
        for account in summary.accounts:
            assert verify_password(by_email[account.email].password_hash, account.password)
        assert "All Saints" not in DEMO_TRUST_NAME


def test_demo_classes_run_from_reception_to_year_11(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        load_demo(session)
        classes = session.scalars(select(ClassGroup)).all()

        assert sorted(group.year_group for group in classes) == list(range(12))
        assert all(6 <= len(group.pupils) <= 8 for group in classes)
        shared = session.scalars(
            select(ParentLink.parent_id).group_by(ParentLink.parent_id).having(func.count() > 1)
        ).all()
        assert shared, "some parents have more than one child at the trust"


def test_demo_consent_is_a_realistic_mix(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        load_demo(session)
        trust = session.scalars(select(Trust)).one()
        school = session.scalars(select(School)).first()
        assert school is not None
        pupils = session.scalars(select(Pupil)).all()
        versions = current_consent_versions(session, trust.id)
        coverage = coverage_for_pupils(session, school_policy(school), pupils, trust.id)

    assert versions == {ConsentScope.LIVE_LESSONS: "2026-09", ConsentScope.RECORDING: "2026-09"}
    live = Counter(pupil.live for pupil in coverage.pupils)
    recording = Counter(pupil.recording for pupil in coverage.pupils)
    assert set(live) == set(ConsentStatus)
    assert live[ConsentStatus.GIVEN] > len(pupils) / 2
    assert 0 < recording[ConsentStatus.GIVEN] < live[ConsentStatus.GIVEN]


def test_demo_lessons_are_today_and_one_has_a_teaching_assistant(session_factory: Any) -> None:
    now = utc_now()
    with transaction(session_factory) as session:
        load_demo(session)
        lessons = session.scalars(select(Lesson).order_by(Lesson.starts_at)).all()

        assert len(lessons) >= 2
        assert now < lessons[0].starts_at <= now + timedelta(hours=1)
        assert all(lesson.starts_at < now + timedelta(hours=6) for lesson in lessons)
        roles = {staff.role for lesson in lessons for staff in lesson.other_staff}
        assert LessonStaffRole.TEACHING_ASSISTANT in roles


def test_demo_is_not_loaded_over_a_real_trust(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        session.add(Trust(name="A Real Trust"))
    with transaction(session_factory) as session:
        summary = load_demo(session)
        assert session.scalar(select(func.count()).select_from(Pupil)) == 0

    assert not summary.created
    assert summary.accounts == ()
