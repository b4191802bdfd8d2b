"""What may flow: media and chat, derived from the lesson's state alone.

The media layer asks these questions after every change and enforces the answers at the SFU, so a
client that ignores a mute still has nothing forwarded.
"""

from __future__ import annotations

import enum

from safeclass.domain.lesson.events import ChatSent
from safeclass.domain.lesson.model import ChatTo, LessonState, Phase, Role
from safeclass.domain.policy import PupilVideoVisibility


class MediaKind(enum.StrEnum):
    AUDIO = "audio"
    VIDEO = "video"
    SCREEN = "screen"


def may_publish(state: LessonState, pid: str, kind: MediaKind) -> bool:
    """Whether the SFU should forward this participant's stream of this kind to anyone at all."""
    participant = state.participants.get(pid)
    if participant is None or not participant.in_room or state.phase is not Phase.OPEN:
        return False
    if not participant.is_staff and not state.pupils_active():
        return False
    if kind is MediaKind.AUDIO:
        return participant.mic_on and participant.mic_allowed
    if kind is MediaKind.VIDEO:
        return participant.camera_on and participant.camera_allowed
    return participant.screen_sharing and (participant.is_staff or participant.screen_share_granted)


def may_receive(state: LessonState, viewer_pid: str, source_pid: str, kind: MediaKind) -> bool:
    """Whether `viewer` may be given `source`'s stream of this kind."""
    viewer = state.participants.get(viewer_pid)
    source = state.participants.get(source_pid)
    if viewer is None or source is None or viewer_pid == source_pid or not viewer.in_room:
        return False
    if not may_publish(state, source_pid, kind):
        return False
    if not viewer.is_staff and not state.pupils_active():
        return False
    if state.one_to_one():
        return False
    return not (
        kind is MediaKind.VIDEO
        and source.person.role is Role.PUPIL
        and not viewer.is_staff
        and state.rules.pupil_video is PupilVideoVisibility.STAFF_ONLY
    )


def chat_recipients(state: LessonState, message: ChatSent) -> set[str]:
    """Who sees a message: the class, or every member of staff present (never just one)."""
    recipients = set()
    for participant in state.in_room():
        if not participant.is_staff and not state.pupils_active():
            continue
        if message.to is ChatTo.CLASS or participant.is_staff or participant.pid == message.pid:
            recipients.add(participant.pid)
    return recipients
