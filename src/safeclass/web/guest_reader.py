"""The `JoinTokenReader` for named guests: knows a guest by the token of their invitation's link.

It answers only "which guest is this". Whether they may come in (guests allowed in this lesson,
still on its roster, the lock, removal) is the lesson engine's decision at the door, and a guest
always waits to be let in. Every device on the same invitation is the same guest to the engine, so
a second device is flagged in the waiting room; the device name is the one the typed-code door
uses for the same invitation (`web.typed_entries`), so the link and its passcode count as one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from safeclass.actions.guests import invitation_opens, working_invitation
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.store.models import Lesson
from safeclass.timeutil import utc_now
from safeclass.web.join_tokens import Entrant


class GuestInvitations:
    """Guests' invitations as stored by `safeclass.actions.guests`."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        """None for a token that is unknown, withdrawn or expired, or for another lesson."""
        invitation = working_invitation(session, token, self._clock())
        if invitation is None:
            return None
        lesson = session.get(Lesson, lesson_id)
        if lesson is None:
            return None
        if not invitation_opens(invitation, lesson):
            return None
        return Entrant(
            person=Person(Role.GUEST, str(invitation.id)),
            via=Via.GUEST_INVITE,
            device=f"guest:{invitation.id}",
        )
