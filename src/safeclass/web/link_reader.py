"""The server's `JoinTokenReader`: recognises pupils and parents by their personal join link.

It answers only "who is this, and through which link". Whether they may come in (consent, a parent
being present, the lock, removal) is the lesson engine's decision at the door. Every device on the
same link is the same person to the engine, so a second device while the first is still there is
flagged in the waiting room and never let in silently: nothing here counts or refuses devices.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from safeclass.actions.join_links import working_link
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.store.models import JoinLink, Lesson
from safeclass.timeutil import utc_now
from safeclass.web.join_tokens import Entrant


class DatabaseJoinLinks:
    """Join links as stored by `safeclass.actions.join_links`."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        """None for a token that is unknown, revoked or expired, for another class or lesson,
        for a pupil no longer in the class, or for a parent no longer linked to the pupil."""
        link = working_link(session, token, self._clock())
        if link is None:
            return None
        lesson = session.get(Lesson, lesson_id)
        if lesson is None:
            return None
        if not opens_lesson(link, lesson):
            return None
        # A parent joins with their child, as their child: the engine then asks them to confirm
        # that they are there (via PARENT_LINK), for the year groups that need it.
        return Entrant(
            person=Person(Role.PUPIL, str(link.pupil_id)),
            via=Via.PARENT_LINK if link.for_parent else Via.PUPIL_LINK,
            device=f"link:{link.id}",
        )


def opens_lesson(link: JoinLink, lesson: Lesson) -> bool:
    """Whether this link is for this lesson: made for it, or for its class. Each condition on its
    own line."""
    if link.school_id != lesson.school_id:
        return False
    if link.lesson_id is not None:
        return link.lesson_id == lesson.id
    return link.class_group_id == lesson.class_group_id
