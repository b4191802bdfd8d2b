"""Fetch an object and authorise the caller in one step.

Every function here answers a missing object and a forbidden one with the same `NotFoundError`,
so nobody can learn what exists elsewhere by trying ids. A trust admin sees every school of their
own trust; other staff see the schools where they hold a role. Nobody sees another trust's data.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.store.models import ClassGroup, JoinLink, Lesson, School, StaffMember, StaffRole


class NotFoundError(LookupError):
    """Missing, or not the caller's to see. Deliberately the same error for both."""


_CONTACT_ROLES = (StaffRole.SCHOOL_ADMIN, StaffRole.SAFEGUARDING_LEAD)


def may_see_school(staff: StaffMember, school: School) -> bool:
    if not staff.active:
        return False
    if school.trust_id != staff.trust_id:
        return False
    if staff.is_trust_admin:
        return True
    return school.id in staff.school_ids()


def may_edit_school_policy(staff: StaffMember, school: School) -> bool:
    if not may_see_school(staff, school):
        return False
    if staff.is_trust_admin:
        return True
    return staff.has_role(StaffRole.SCHOOL_ADMIN, school.id)


def may_see_parent_contacts(staff: StaffMember, school: School) -> bool:
    """Parents' contact details: school admins, safeguarding leads and trust admins only."""
    if not may_see_school(staff, school):
        return False
    if staff.is_trust_admin:
        return True
    return any(staff.has_role(role, school.id) for role in _CONTACT_ROLES)


def visible_schools(session: Session, staff: StaffMember) -> list[School]:
    schools = session.scalars(
        select(School).where(School.trust_id == staff.trust_id).order_by(School.name, School.id)
    )
    return [school for school in schools if may_see_school(staff, school)]


def access_school(session: Session, staff: StaffMember, school_id: int) -> School:
    school = session.get(School, school_id)
    if school is None or not may_see_school(staff, school):
        raise NotFoundError(f"School {school_id}")
    return school


def access_school_for_policy_edit(session: Session, staff: StaffMember, school_id: int) -> School:
    school = session.get(School, school_id)
    if school is None or not may_edit_school_policy(staff, school):
        raise NotFoundError(f"School {school_id}")
    return school


def access_class_group(session: Session, staff: StaffMember, class_group_id: int) -> ClassGroup:
    class_group = session.get(ClassGroup, class_group_id)
    if class_group is None or not may_see_school(staff, class_group.school):
        raise NotFoundError(f"Class {class_group_id}")
    return class_group


def access_lesson(session: Session, staff: StaffMember, lesson_id: int) -> Lesson:
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or not may_see_school(staff, lesson.school):
        raise NotFoundError(f"Lesson {lesson_id}")
    return lesson


def access_join_link(session: Session, staff: StaffMember, link_id: int) -> JoinLink:
    """A pupil's or parent's join link, for staff of its school (to revoke or replace it)."""
    link = session.get(JoinLink, link_id)
    if link is None or not may_see_school(staff, link.school):
        raise NotFoundError(f"Join link {link_id}")
    return link
