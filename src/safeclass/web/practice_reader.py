"""The door of practice rooms (`safeclass.actions.practice`), kept apart from the real one.

`PracticeDoor` wraps the server's real `JoinTokenReader` (personal links, guests' invitations, typed
codes): for a practice lesson it asks only `SimulatedPupilTokens`, for every other lesson only the
real readers. So a pupil's link, a guest's invitation or a typed code never opens a practice
lesson, and a simulated pupil's token never opens a real one. `SimulatedPupilTokens` checks the
lesson again itself, so it refuses real lessons even used on its own. Behind both, the lesson
engine's roster is the last word: a practice lesson expects only its simulated pupils, a real
lesson never expects one (their ids are never a real pupil's).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.actions.practice import hash_practice_token, practice_person_id
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.store.models import Lesson, PracticePupil
from safeclass.web.join_tokens import Entrant, JoinTokenReader

MAX_TOKEN_LENGTH = 64


class SimulatedPupilTokens:
    """Knows a simulated pupil by the token its bot was given, for its own practice lesson only."""

    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        """None for an unknown token, a token of another lesson, or any lesson that is not a
        practice lesson. Each condition on its own line."""
        if not 0 < len(token) <= MAX_TOKEN_LENGTH:
            return None
        pupil = session.scalar(
            select(PracticePupil).where(PracticePupil.token_hash == hash_practice_token(token))
        )
        if pupil is None:
            return None
        if pupil.lesson_id != lesson_id:
            return None
        lesson = session.get(Lesson, lesson_id)
        if lesson is None:
            return None
        if not lesson.practice:
            return None
        return Entrant(
            person=Person(Role.PUPIL, practice_person_id(pupil)),
            via=Via.PUPIL_LINK,
            device=f"practice:{pupil.id}",
        )


class PracticeDoor:
    """Practice lessons to the simulated pupils' reader, every other lesson to the real one."""

    def __init__(self, real: JoinTokenReader, practice: JoinTokenReader | None = None) -> None:
        self._real = real
        self._practice = practice if practice is not None else SimulatedPupilTokens()

    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        lesson = session.get(Lesson, lesson_id)
        if lesson is not None and lesson.practice:
            return self._practice.read(session, lesson_id, token)
        # Every other lesson, and no lesson at all (the real readers answer as they always do).
        return self._real.read(session, lesson_id, token)
