"""Booking a lesson: the times, the lesson's own options and its staffing are checked first.

A lesson with too few pupils for one adult (by default: one pupil and one member of staff) is
refused at booking, with the reason in plain words (trust precaution 2: no 1:1 lessons).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from safeclass.actions.audit import record_audit
from safeclass.domain.decisions import Decision, ReasonCode
from safeclass.domain.policy import (
    check_lesson_option,
    overrides_to_json,
    parse_overrides,
    resolve,
    setting_for_key,
)
from safeclass.domain.scheduling import check_lesson_staffing, check_lesson_times
from safeclass.store.models import (
    ClassGroup,
    Lesson,
    LessonStaff,
    LessonStaffRole,
    School,
    StaffMember,
)
from safeclass.store.queries import school_policy, trust_policy

MAX_TITLE = 200


class LessonRefused(Exception):  # noqa: N818 - the name other modules and the brief use
    """The lesson was not booked. `decision` says why, in words a teacher can act on."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        super().__init__(decision.message)


def schedule_lesson(
    session: Session,
    *,
    school: School,
    class_group: ClassGroup,
    host: StaffMember,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    other_staff: Sequence[tuple[StaffMember, LessonStaffRole]] = (),
    options: Mapping[str, object] | None = None,
    actor: StaffMember | None,
) -> Lesson:
    """Book a lesson, or raise LessonRefused. Options are lesson settings by key, either typed
    values or text as a person typed it. A missing title or a bad option value raises ValueError
    (SettingValueError for options) with a message for the person who typed it. The caller commits.
    """
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValueError("Lesson times must be timezone-aware")
    title = " ".join(title.split())
    if not title:
        raise ValueError("A lesson needs a title.")
    if len(title) > MAX_TITLE:
        raise ValueError(f"A lesson title can be at most {MAX_TITLE} characters.")
    _refuse_unless(check_lesson_times(starts_at, ends_at))
    _refuse_unless(_check_class(school, class_group))
    _refuse_unless(_check_works_here(school, host, as_host=True))
    staff_by_id: dict[int, tuple[StaffMember, LessonStaffRole]] = {}
    for member, role in other_staff:
        if member.id == host.id:
            continue
        _refuse_unless(_check_works_here(school, member, as_host=False))
        staff_by_id.setdefault(member.id, (member, role))

    parsed_options = _checked_options(school, options or {})
    school_overrides, _ = parse_overrides(school.policy_overrides)
    policy = resolve(trust_policy(school.trust), school_overrides, parsed_options)
    pupils = len(class_group.pupils)
    staffing = check_lesson_staffing(policy, pupils=pupils, staff=1 + len(staff_by_id))
    _refuse_unless(staffing)

    lesson = Lesson(
        school_id=school.id,
        class_group_id=class_group.id,
        host_id=host.id,
        title=title,
        starts_at=starts_at,
        ends_at=ends_at,
        options=overrides_to_json(parsed_options),
        other_staff=[
            LessonStaff(staff_id=member.id, role=role) for member, role in staff_by_id.values()
        ],
    )
    session.add(lesson)
    session.flush()
    record_audit(
        session,
        "lesson_scheduled",
        actor=actor,
        school_id=school.id,
        data={
            "lesson_id": lesson.id,
            "class_group_id": class_group.id,
            "host_id": host.id,
            "other_staff_ids": sorted(staff_by_id),
            "pupils": pupils,
            "options": overrides_to_json(parsed_options),
        },
    )
    return lesson


def _refuse_unless(decision: Decision) -> None:
    if not decision.allowed:
        raise LessonRefused(decision)


def _check_class(school: School, class_group: ClassGroup) -> Decision:
    if class_group.school_id != school.id:
        return Decision.refuse(
            ReasonCode.NOT_AT_SCHOOL, f'The class "{class_group.name}" is not at {school.name}.'
        )
    return Decision.allow(ReasonCode.STAFFING_OK, "The class is at this school.")


def _check_works_here(school: School, member: StaffMember, *, as_host: bool) -> Decision:
    """Only active staff with a role at this school take part: a trust-wide role is not enough."""
    doing = "host" if as_host else "join"
    refusal = Decision.refuse(
        ReasonCode.NOT_AT_SCHOOL,
        f"{member.display_name} does not work at {school.name}, so cannot {doing} its lessons.",
    )
    if not member.active:
        return Decision.refuse(
            ReasonCode.NO_STAFF,
            f"{member.display_name}'s account is switched off, so they cannot {doing} lessons.",
        )
    if member.trust_id != school.trust_id:
        return refusal
    if school.id not in member.school_ids():
        return refusal
    return Decision.allow(ReasonCode.STAFFING_OK, f"{member.display_name} works here.")


def _checked_options(school: School, options: Mapping[str, object]) -> dict[str, Any]:
    policy = school_policy(school)
    parsed: dict[str, Any] = {}
    for key, raw in options.items():
        setting = setting_for_key(key)
        value = setting.parse(raw) if isinstance(raw, str) else setting.coerce(raw)
        _refuse_unless(check_lesson_option(policy, setting, value))
        parsed[key] = value
    return parsed
