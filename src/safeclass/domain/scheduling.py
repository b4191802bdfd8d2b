"""Checks made when a lesson is booked: enough adults for the group, sensible times."""

from __future__ import annotations

from datetime import datetime

from safeclass.domain.decisions import Decision, ReasonCode
from safeclass.domain.policy import MIN_PUPILS_WITHOUT_SECOND_STAFF, EffectivePolicy


def check_lesson_staffing(policy: EffectivePolicy, *, pupils: int, staff: int) -> Decision:
    """No 1:1 lessons: a small group needs a second member of staff (trust precaution 2)."""
    minimum = policy.get(MIN_PUPILS_WITHOUT_SECOND_STAFF)
    if staff < 1:
        return Decision.refuse(ReasonCode.NO_STAFF, "A lesson needs a member of staff to host it.")
    if pupils < 1:
        return Decision.refuse(
            ReasonCode.NO_PUPILS, "This class has no pupils yet, so there is nobody to teach."
        )
    if staff >= 2:
        return Decision.allow(ReasonCode.STAFFING_OK, "Two or more staff are in this lesson.")
    if pupils >= minimum:
        return Decision.allow(
            ReasonCode.STAFFING_OK, f"{pupils} pupils with one member of staff is allowed."
        )
    return Decision.refuse(
        ReasonCode.ONE_TO_ONE,
        f"With fewer than {minimum} pupils, a second member of staff must join the lesson. "
        "Add another member of staff, or teach a larger group.",
    )


def check_lesson_times(starts_at: datetime, ends_at: datetime) -> Decision:
    if ends_at <= starts_at:
        return Decision.refuse(ReasonCode.BAD_TIMES, "A lesson must end after it starts.")
    if (ends_at - starts_at).total_seconds() > 6 * 3600:
        return Decision.refuse(ReasonCode.BAD_TIMES, "A lesson can last at most six hours.")
    return Decision.allow(ReasonCode.TIMES_OK, "The lesson times are fine.")
