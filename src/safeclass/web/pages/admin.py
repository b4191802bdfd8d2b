"""The staff overview pages: schools, classes and lessons, with consent coverage and policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from starlette.requests import Request
from starlette.responses import Response

from safeclass.access import (
    access_class_group,
    access_lesson,
    access_school,
    may_edit_school_policy,
    may_run_lesson,
    may_see_parent_contacts,
    visible_schools,
)
from safeclass.actions.retention import lesson_register
from safeclass.domain.consent import ConsentCoverage, ConsentScope
from safeclass.domain.scheduling import check_lesson_staffing
from safeclass.store import event_log
from safeclass.store.models import ClassGroup, Lesson, Parent, ParentLink, Pupil, School
from safeclass.store.queries import (
    coverage_for_pupils,
    current_consent_versions,
    lesson_consent_coverage,
    lesson_policy,
    school_policy,
)
from safeclass.web.context import web_context
from safeclass.web.pages.common import ObjectId, page_context, require_signed_in
from safeclass.web.pages.guests import guest_section
from safeclass.web.pages.recordings import recording_section
from safeclass.web.pages.typed_codes import typed_code_section
from safeclass.web.wording import day_bounds, school_today

router = APIRouter(prefix="/admin")

UPCOMING_DAYS = 14
MAX_LESSONS_LISTED = 50


@dataclass(frozen=True)
class SchoolSummary:
    school: School
    classes: int
    pupils: int
    pupils_without_consent: int
    lessons_today: int


@dataclass(frozen=True)
class ClassSummary:
    class_group: ClassGroup
    pupils: int
    can_join: int
    cannot_join: int


@dataclass(frozen=True)
class ParentContact:
    name: str
    relationship: str
    email: str | None


@router.get("")
def home(request: Request) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        start, end = day_bounds(school_today())
        versions_by_trust: dict[int, dict[ConsentScope, str]] = {}
        summaries = []
        for school in visible_schools(session, signed_in.staff):
            if school.trust_id not in versions_by_trust:
                versions_by_trust[school.trust_id] = current_consent_versions(
                    session, school.trust_id
                )
            coverage = _school_coverage(session, school, versions_by_trust[school.trust_id])
            summaries.append(
                SchoolSummary(
                    school=school,
                    # Practice rooms' class and lessons are not the school's (`actions.practice`).
                    classes=sum(1 for group in school.class_groups if not group.practice),
                    pupils=len(coverage.pupils),
                    pupils_without_consent=len(coverage.cannot_join),
                    lessons_today=_count_lessons(session, school, start, end),
                )
            )
        return context.renderer.page(
            "admin_home.html", page_context(signed_in, "Your schools", summaries=summaries)
        )


@router.get("/schools/{school_id}")
def school_page(request: Request, school_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        school = access_school(session, signed_in.staff, school_id)
        policy = school_policy(school)
        versions = current_consent_versions(session, school.trust_id)
        classes = []
        for class_group in school.class_groups:
            if class_group.practice:
                continue  # practice rooms' class: no pupils, not one of the school's classes
            coverage = coverage_for_pupils(
                session, policy, class_group.pupils, school.trust_id, versions
            )
            classes.append(
                ClassSummary(
                    class_group=class_group,
                    pupils=len(coverage.pupils),
                    can_join=len(coverage.can_join),
                    cannot_join=len(coverage.cannot_join),
                )
            )
        today_start, today_end = day_bounds(school_today())
        lessons = _lessons(session, school, today_start, today_end + timedelta(days=UPCOMING_DAYS))
        return context.renderer.page(
            "school.html",
            page_context(
                signed_in,
                school.name,
                school=school,
                classes=classes,
                lessons_today=[lesson for lesson in lessons if lesson.starts_at < today_end],
                # Today's lessons this person may start (the pre-lesson check, then the console).
                startable={
                    lesson.id
                    for lesson in lessons
                    if lesson.starts_at < today_end
                    and lesson.ends_at > context.now()
                    and may_run_lesson(signed_in.staff, lesson)
                },
                lessons_upcoming=[lesson for lesson in lessons if lesson.starts_at >= today_end],
                upcoming_days=UPCOMING_DAYS,
                policy=list(policy),
                may_edit_policy=may_edit_school_policy(signed_in.staff, school),
            ),
        )


@router.get("/classes/{class_group_id}")
def class_page(request: Request, class_group_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        class_group = access_class_group(session, signed_in.staff, class_group_id)
        school = class_group.school
        coverage = coverage_for_pupils(
            session, school_policy(school), class_group.pupils, school.trust_id
        )
        show_contacts = may_see_parent_contacts(signed_in.staff, school)
        contacts = _parent_contacts(session, class_group) if show_contacts else {}
        return context.renderer.page(
            "class_group.html",
            page_context(
                signed_in,
                class_group.name,
                school=school,
                class_group=class_group,
                coverage=coverage,
                show_contacts=show_contacts,
                contacts=contacts,
            ),
        )


@router.get("/lessons/{lesson_id}")
def lesson_page(request: Request, lesson_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        lesson = access_lesson(session, signed_in.staff, lesson_id)
        policy = lesson_policy(lesson)
        coverage = lesson_consent_coverage(session, lesson)
        staffing = check_lesson_staffing(
            policy, pupils=len(lesson.class_group.pupils), staff=1 + len(lesson.other_staff)
        )
        register = lesson_register(session, lesson.id)
        chain = event_log.verify(session, lesson.id)
        return context.renderer.page(
            "lesson.html",
            page_context(
                signed_in,
                lesson.title,
                lesson=lesson,
                school=lesson.school,
                policy=list(policy),
                coverage=coverage,
                staffing=staffing,
                register=register,
                chain=chain,
                now=context.now(),
                may_run=may_run_lesson(signed_in.staff, lesson),
                typed_code=typed_code_section(request, lesson),
                guests=guest_section(request, session, signed_in.staff, lesson),
                recordings=recording_section(session, signed_in.staff, lesson),
            ),
        )


def _school_coverage(
    session: Session, school: School, versions: dict[ConsentScope, str]
) -> ConsentCoverage:
    pupils = session.scalars(
        select(Pupil).where(Pupil.school_id == school.id).options(selectinload(Pupil.consents))
    ).all()
    return coverage_for_pupils(session, school_policy(school), pupils, school.trust_id, versions)


def _count_lessons(session: Session, school: School, start: datetime, end: datetime) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Lesson)
        .where(Lesson.school_id == school.id, Lesson.starts_at >= start, Lesson.starts_at < end)
        .where(Lesson.practice.is_(False))
    )
    return count or 0


def _lessons(session: Session, school: School, start: datetime, end: datetime) -> list[Lesson]:
    return list(
        session.scalars(
            select(Lesson)
            .where(Lesson.school_id == school.id, Lesson.starts_at >= start, Lesson.starts_at < end)
            .where(Lesson.practice.is_(False))
            .order_by(Lesson.starts_at, Lesson.id)
            .limit(MAX_LESSONS_LISTED)
        )
    )


def _parent_contacts(session: Session, class_group: ClassGroup) -> dict[int, list[ParentContact]]:
    pupil_ids = [pupil.id for pupil in class_group.pupils]
    rows = session.execute(
        select(ParentLink.pupil_id, ParentLink.relationship_to_pupil, Parent)
        .join(Parent, Parent.id == ParentLink.parent_id)
        .where(ParentLink.pupil_id.in_(pupil_ids))
        .order_by(Parent.display_name)
    )
    contacts: dict[int, list[ParentContact]] = {}
    for pupil_id, relationship, parent in rows:
        contacts.setdefault(pupil_id, []).append(
            ParentContact(parent.display_name, relationship, parent.email)
        )
    return contacts
