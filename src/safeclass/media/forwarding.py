"""What the SFU must forward in one state of a lesson, and the changes that take it from one state
to the next, in a safe order.

The lesson engine decides; this module turns its state into the facts Janus enforces:
- which publications are forwarded at all (a staff mute, a held lesson, a camera stopped by staff:
  the stream is moderated to silence at the SFU, whatever the client does);
- who may ever hold a subscription to whom (the lesson's rules alone: a pupil is never given a
  subscription to another pupil's camera where pupils' video is for staff only), and who receives
  what now (a held or one-to-one lesson pauses pupils' subscriptions without tearing them down);
- who may hold media handles at all (someone removed, denied or gone has theirs hung up).

Every change is computed as a difference between two `Forwarding`s. Restrictions come first, so
that while a change is being applied nothing flows that neither state allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from safeclass.domain.lesson.media import MediaKind, MediaPlan
from safeclass.domain.lesson.model import LessonRules, LessonState, Participant, Role
from safeclass.domain.policy import PupilVideoVisibility

Publication = tuple[str, MediaKind]  # (participant id, kind)
Stream = tuple[str, str, MediaKind]  # (viewer id, source id, kind)


def may_ever_receive(
    rules: LessonRules, viewer: Participant, source: Participant, kind: MediaKind
) -> bool:
    """Whether `viewer` may hold a subscription to `source`'s stream of this kind at all, in any
    state of this lesson. What flows through it at a given moment is `Forwarding.received`."""
    if viewer.pid == source.pid:
        return False
    return not (
        kind is MediaKind.VIDEO
        and source.person.role is Role.PUPIL
        and not viewer.is_staff
        and rules.pupil_video is PupilVideoVisibility.STAFF_ONLY
    )


@dataclass(frozen=True, slots=True)
class Forwarding:
    """Everything the SFU may forward in one state of a lesson."""

    in_room: frozenset[str]
    published: frozenset[Publication]
    received: frozenset[Stream]

    @classmethod
    def nothing(cls) -> Forwarding:
        return cls(frozenset(), frozenset(), frozenset())

    @classmethod
    def of(cls, state: LessonState) -> Forwarding:
        plan = MediaPlan.of(state)
        published = frozenset(
            (participant.pid, kind)
            for participant in plan.present
            for kind in MediaKind
            if plan.publishes(participant, kind)
        )
        received = frozenset(
            (viewer.pid, source.pid, kind)
            for viewer in plan.present
            for source, kind in plan.received_by(viewer)
        )
        return cls(frozenset(p.pid for p in plan.present), published, received)


@dataclass(frozen=True, slots=True)
class Changes:
    """What to do at the SFU to go from one `Forwarding` to another, in this order: hang up those
    who left the room, silence publications, pause streams; then resume streams and unsilence
    publications."""

    hang_up: frozenset[str]
    silence: frozenset[Publication]
    pause: frozenset[Stream]
    resume: frozenset[Stream]
    unsilence: frozenset[Publication]

    @property
    def empty(self) -> bool:
        return not (self.hang_up or self.silence or self.pause or self.resume or self.unsilence)


def changes(before: Forwarding, after: Forwarding) -> Changes:
    left = before.in_room - after.in_room
    return Changes(
        hang_up=left,
        # Someone who left is hung up whole: no need to silence or pause their streams one by one.
        silence=frozenset(p for p in before.published - after.published if p[0] not in left),
        pause=frozenset(
            s for s in before.received - after.received if s[0] not in left and s[1] not in left
        ),
        resume=after.received - before.received,
        unsilence=after.published - before.published,
    )
