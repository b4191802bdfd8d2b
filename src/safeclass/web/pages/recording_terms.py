"""What a pupil, a parent or a guest is told about recording before they join a lesson.

The join pages (a pupil's or parent's link, a guest's invitation, and the reminder on the lesson's
own page) say so whenever the lesson's policy lets staff record it: what a recording keeps, that a
pupil without a parent's yes to recording waits while one runs, and how long recordings are kept.
The words themselves are in templates/_recording_terms.html.
"""

from __future__ import annotations

from dataclasses import dataclass

from safeclass.domain.policy import (
    RECORDING_ALLOWED,
    RECORDING_EXCLUDES_PUPIL_VIDEO,
    RETENTION_RECORDINGS,
)
from safeclass.store.models import Lesson
from safeclass.store.queries import lesson_policy


@dataclass(frozen=True)
class RecordingTerms:
    """A lesson that staff may record: what is kept, and for how many days."""

    excludes_pupils: bool
    kept_days: int


def recording_terms(lesson: Lesson) -> RecordingTerms | None:
    """The lesson's recording terms, or None when its policy does not allow recording."""
    policy = lesson_policy(lesson)
    if not policy.get(RECORDING_ALLOWED):
        return None
    return RecordingTerms(
        excludes_pupils=policy.get(RECORDING_EXCLUDES_PUPIL_VIDEO),
        kept_days=policy.get(RETENTION_RECORDINGS),
    )
