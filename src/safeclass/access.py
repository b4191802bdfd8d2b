"""Fetch an object and authorise the caller in one step.

Every function here answers a missing object and a forbidden one with the same `NotFoundError`,
so nobody can learn what exists elsewhere by trying ids. A trust admin sees every school of their
own trust; other staff see the schools where they hold a role. Nobody sees another trust's data.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.store.models import (
    ClassGroup,
    Incident,
    JoinLink,
    Lesson,
    Recording,
    School,
    StaffMember,
    StaffRole,
)


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


def may_run_lesson(staff: StaffMember, lesson: Lesson) -> bool:
    """The lesson's host and the other staff booked on it: the people the lesson engine lets into
    the room as staff (`actions.live.lesson_roster`). Each condition on its own line."""
    if not may_see_school(staff, lesson.school):
        return False
    if staff.id == lesson.host_id:
        return True
    return any(member.staff_id == staff.id for member in lesson.other_staff)


def access_lesson_to_run(session: Session, staff: StaffMember, lesson_id: int) -> Lesson:
    """A lesson whose live console the caller may open (`may_run_lesson`)."""
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or not may_run_lesson(staff, lesson):
        raise NotFoundError(f"Lesson {lesson_id}")
    return lesson


def access_join_link(session: Session, staff: StaffMember, link_id: int) -> JoinLink:
    """A pupil's or parent's join link, for staff of its school (to revoke or replace it)."""
    link = session.get(JoinLink, link_id)
    if link is None or not may_see_school(staff, link.school):
        raise NotFoundError(f"Join link {link_id}")
    return link


# --- Incidents (safeguarding records: `safeclass.actions.incidents`) ----------------------------


def is_dsl_for(staff: StaffMember, school: School) -> bool:
    """The school's designated safeguarding lead, or a DSL across its trust (a trust-wide grant).
    Trust and school admins are not DSLs unless they also hold the role."""
    if not staff.active:
        return False
    if school.trust_id != staff.trust_id:
        return False
    if staff.has_role(StaffRole.SAFEGUARDING_LEAD, school.id):
        return True
    return any(
        grant.role is StaffRole.SAFEGUARDING_LEAD and grant.school_id is None
        for grant in staff.roles
    )


def dsl_school_ids(session: Session, staff: StaffMember) -> set[int]:
    """The schools whose incidents this person reviews as their DSL."""
    schools = session.scalars(select(School).where(School.trust_id == staff.trust_id))
    return {school.id for school in schools if is_dsl_for(staff, school)}


def may_see_incident(staff: StaffMember, incident: Incident) -> bool:
    """The school's DSLs; the member of staff who reported it (for a removal, who removed); and,
    for one the chat check opened that nobody has taken up yet, the lesson's own staff. Each
    condition on its own line."""
    if is_dsl_for(staff, incident.school):
        return True  # a trust-wide DSL holds no role at the school itself
    if not may_see_school(staff, incident.school):
        return False
    if incident.reported_by_staff_id is not None:
        return incident.reported_by_staff_id == staff.id
    lesson = incident.lesson
    if lesson is None:
        return False
    return may_run_lesson(staff, lesson)


def access_incident(session: Session, staff: StaffMember, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None or not may_see_incident(staff, incident):
        raise NotFoundError(f"Incident {incident_id}")
    return incident


# --- Recordings of lessons (`safeclass.actions.recordings`) --------------------------------------


def may_download_recording(staff: StaffMember, recording: Recording) -> bool:
    """The lesson's own staff (`may_run_lesson`) and the school's DSLs. Not the school's other
    teachers, nor admins without one of those roles. Each condition on its own line."""
    if is_dsl_for(staff, recording.school):
        return True  # a trust-wide DSL holds no role at the school itself
    return may_run_lesson(staff, recording.lesson)


def access_recording(session: Session, staff: StaffMember, recording_id: int) -> Recording:
    recording = session.get(Recording, recording_id)
    if recording is None or not may_download_recording(staff, recording):
        raise NotFoundError(f"Recording {recording_id}")
    return recording
