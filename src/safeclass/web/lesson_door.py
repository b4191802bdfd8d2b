"""When a pupil, a parent or a guest may come to a lesson's door: what the pages say, and the
same times the door itself keeps (`actions.live`, which has the last word at `join`)."""

from __future__ import annotations

from datetime import datetime

from safeclass.actions.live import PUPILS_EARLY, LiveLessons
from safeclass.domain.lesson.model import Phase
from safeclass.store.models import Lesson


def open_to_join(lesson: Lesson, now: datetime, live: LiveLessons) -> bool:
    """Whether a pupil or guest may come to this lesson's door now: from 15 minutes before the
    start until the booked end, or later while the lesson is still going (as the door decides)."""
    if now < lesson.starts_at - PUPILS_EARLY:
        return False
    phase = live_phase(lesson.id, live)
    if phase is Phase.ENDED:
        return False
    if now <= lesson.ends_at:
        return True
    return phase in (Phase.OPEN, Phase.HELD)


def live_phase(lesson_id: int, live: LiveLessons) -> Phase | None:
    """The lesson's phase if the server holds it live, else None."""
    for running in live.live():
        if running.lesson_id == lesson_id:
            return running.state.phase
    return None
