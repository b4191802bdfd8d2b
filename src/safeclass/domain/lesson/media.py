"""What may flow: media and chat, derived from the lesson's state alone.

The media layer asks these questions after every change and enforces the answers at the SFU, so a
client that ignores a mute still has nothing forwarded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from safeclass.domain.lesson.events import ChatSent
from safeclass.domain.lesson.model import ChatTo, LessonState, Participant, Phase, Role
from safeclass.domain.policy import PupilVideoVisibility


class MediaKind(enum.StrEnum):
    AUDIO = "audio"
    VIDEO = "video"
    SCREEN = "screen"


@dataclass(frozen=True, slots=True)
class MediaPlan:
    """Every stream that may flow in one state of the lesson, worked out once: the facts every
    answer depends on (is the lesson running for pupils, is it one-to-one) are read a single time,
    so the views of a whole class cost one pass each rather than one pass per stream."""

    state: LessonState
    pupils_active: bool
    one_to_one: bool
    present: tuple[Participant, ...]  # in the room: staff first, then by name

    @classmethod
    def of(cls, state: LessonState) -> MediaPlan:
        present = sorted(state.in_room(), key=lambda p: (not p.is_staff, p.display_name, p.pid))
        return cls(state, state.pupils_active(), state.one_to_one(), tuple(present))

    def publishes(self, participant: Participant, kind: MediaKind) -> bool:
        """Whether the SFU should forward this stream to anyone at all."""
        if not participant.in_room or self.state.phase is not Phase.OPEN:
            return False
        if not participant.is_staff and not self.pupils_active:
            return False
        if kind is MediaKind.AUDIO:
            return participant.mic_on and participant.mic_allowed
        if kind is MediaKind.VIDEO:
            return participant.camera_on and participant.camera_allowed
        return participant.screen_sharing and (
            participant.is_staff or participant.screen_share_granted
        )

    def records(self, participant: Participant) -> bool:
        """Whether this participant's publications go into the lesson's recording now (what
        flows of them is still `publishes`: a silenced stream records nothing)."""
        return self.state.phase is Phase.OPEN and self.state.recorded(participant)

    def receives(self, viewer: Participant, source: Participant, kind: MediaKind) -> bool:
        """Whether `viewer` may be given `source`'s stream of this kind."""
        if viewer.pid == source.pid or not viewer.in_room:
            return False
        if not self.publishes(source, kind):
            return False
        if not viewer.is_staff and not self.pupils_active:
            return False
        if self.one_to_one:
            return False
        return not (
            kind is MediaKind.VIDEO
            and source.person.role is Role.PUPIL
            and not viewer.is_staff
            and self.state.rules.pupil_video is PupilVideoVisibility.STAFF_ONLY
        )

    def received_by(self, viewer: Participant) -> list[tuple[Participant, MediaKind]]:
        return [
            (source, kind)
            for source in self.present
            for kind in MediaKind
            if self.receives(viewer, source, kind)
        ]


def may_publish(state: LessonState, pid: str, kind: MediaKind) -> bool:
    """Whether the SFU should forward this participant's stream of this kind to anyone at all."""
    participant = state.participants.get(pid)
    return participant is not None and MediaPlan.of(state).publishes(participant, kind)


def may_receive(state: LessonState, viewer_pid: str, source_pid: str, kind: MediaKind) -> bool:
    """Whether `viewer` may be given `source`'s stream of this kind."""
    viewer = state.participants.get(viewer_pid)
    source = state.participants.get(source_pid)
    if viewer is None or source is None:
        return False
    return MediaPlan.of(state).receives(viewer, source, kind)


def chat_recipients(state: LessonState, message: ChatSent) -> set[str]:
    """Who sees a message: the class, or every member of staff present (never just one)."""
    recipients = set()
    for participant in state.in_room():
        if not participant.is_staff and not state.pupils_active():
            continue
        if message.to is ChatTo.CLASS or participant.is_staff or participant.pid == message.pid:
            recipients.add(participant.pid)
    return recipients
