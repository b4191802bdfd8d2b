"""How the lesson's door recognises pupils and guests: by the token of their personal link.

The reader is a `Protocol` so that the lesson's WebSocket does not care where links come from: the
server uses `link_reader.DatabaseJoinLinks`, and tests may pass their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from safeclass.domain.lesson.model import Person, Via


@dataclass(frozen=True, slots=True)
class Entrant:
    """Who a link belongs to, for one lesson, and which link it was (for spotting a second
    device on the same link)."""

    person: Person
    via: Via
    device: str


class JoinTokenReader(Protocol):
    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        """The entrant for this token and lesson, or None for a token that is unknown, revoked,
        expired or for another lesson (all the same to the caller)."""
        ...


class FirstThatKnows:
    """Several readers asked in turn (personal links, guests' invitations, typed codes): the
    first entrant any of them recognises. Their tokens never overlap, so the order is only for
    speed."""

    def __init__(self, *readers: JoinTokenReader) -> None:
        self._readers = readers

    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        for reader in self._readers:
            entrant = reader.read(session, lesson_id, token)
            if entrant is not None:
                return entrant
        return None
