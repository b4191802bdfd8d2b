"""Events: what happened in a lesson. Each is stored in the lesson's log exactly as it is, and the
lesson's state is the fold of its events (`evolve`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from safeclass.domain.chat_checks import ChatCheckKind, Finding
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.model import (
    ChatTo,
    LessonRules,
    Person,
    Phase,
    Presence,
    RosterPupil,
    RosterStaff,
    Via,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RosterUpdated(Event):
    type: Literal["roster_updated"] = "roster_updated"
    pupils: Mapping[str, RosterPupil]
    staff: Mapping[str, RosterStaff]
    guests: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined(Event):
    type: Literal["joined"] = "joined"
    pid: str
    person: Person
    display_name: str
    device: str
    via: Via
    presence: Presence
    mic_on: bool
    camera_on: bool
    mic_allowed: bool
    camera_allowed: bool
    duplicate_of: str | None
    parent_present: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinRefused(Event):
    type: Literal["join_refused"] = "join_refused"
    person: Person
    display_name: str
    device: str
    reason: ReasonCode
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Admitted(Event):
    type: Literal["admitted"] = "admitted"
    pid: str
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Denied(Event):
    type: Literal["denied"] = "denied"
    pid: str
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Left(Event):
    type: Literal["left"] = "left"
    pid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected(Event):
    type: Literal["disconnected"] = "disconnected"
    pid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnected(Event):
    type: Literal["reconnected"] = "reconnected"
    pid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Removed(Event):
    type: Literal["removed"] = "removed"
    pid: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LockChanged(Event):
    type: Literal["lock_changed"] = "lock_changed"
    locked: bool
    by: str
    automatic: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MicChanged(Event):
    type: Literal["mic_changed"] = "mic_changed"
    pid: str
    on: bool
    allowed: bool
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraChanged(Event):
    type: Literal["camera_changed"] = "camera_changed"
    pid: str
    on: bool
    allowed: bool
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HandChanged(Event):
    type: Literal["hand_changed"] = "hand_changed"
    pid: str
    raised: bool
    wants_to_speak: bool
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenShareGrantChanged(Event):
    type: Literal["screen_share_grant_changed"] = "screen_share_grant_changed"
    pid: str
    granted: bool
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenShareChanged(Event):
    type: Literal["screen_share_changed"] = "screen_share_changed"
    pid: str
    sharing: bool
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspendChanged(Event):
    type: Literal["suspend_changed"] = "suspend_changed"
    suspended: bool
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatSent(Event):
    type: Literal["chat_sent"] = "chat_sent"
    message_id: int
    pid: str
    person: Person
    display_name: str
    to: ChatTo
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaRefused(Event):
    """The media layer refused a participant's request; nothing changed. Kept for staff and
    auditors: a pupil's client trying to send what it may not is worth knowing about."""

    type: Literal["media_refused"] = "media_refused"
    pid: str
    request: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatFlagged(Event):
    """The chat check found personal details or bad language in a pupil's or a guest's message.

    Staff in the room are alerted with the message and what was found, whether it was stopped
    (`blocked`, and `reminder` is what its sender was told) or let through (`message_id` is the
    ChatSent that carried it). No other pupil ever sees this event."""

    type: Literal["chat_flagged"] = "chat_flagged"
    pid: str
    person: Person
    display_name: str
    to: ChatTo
    text: str
    findings: tuple[Finding, ...]
    blocked: bool
    message_id: int | None
    reminder: str | None

    @property
    def kinds(self) -> tuple[ChatCheckKind, ...]:
        return tuple(kind for kind in ChatCheckKind if any(f.kind is kind for f in self.findings))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatPauseChanged(Event):
    type: Literal["chat_pause_changed"] = "chat_pause_changed"
    paused: bool
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingChanged(Event):
    """A recording started or stopped. Each has its number in the lesson (1, 2, ...): one file
    each. `person` is the member of staff who asked; None when the rules stopped it (the lesson
    ended, no staff were left, a pupil in the room lost their parent's yes to recording)."""

    type: Literal["recording_changed"] = "recording_changed"
    recording: bool
    number: int
    by: str
    person: Person | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseChanged(Event):
    type: Literal["phase_changed"] = "phase_changed"
    phase: Phase
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRefused(Event):
    type: Literal["command_refused"] = "command_refused"
    actor: str
    command: str
    reason: ReasonCode
    message: str


LessonEvent: TypeAlias = (
    RosterUpdated
    | Joined
    | JoinRefused
    | Admitted
    | Denied
    | Left
    | Disconnected
    | Reconnected
    | Removed
    | LockChanged
    | MicChanged
    | CameraChanged
    | HandChanged
    | ScreenShareGrantChanged
    | ScreenShareChanged
    | SuspendChanged
    | ChatSent
    | ChatFlagged
    | MediaRefused
    | ChatPauseChanged
    | RecordingChanged
    | PhaseChanged
    | CommandRefused
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LessonPrepared(Event):
    """The first event of every lesson: its rules and who may come."""

    type: Literal["lesson_prepared"] = "lesson_prepared"
    lesson_id: str
    rules: LessonRules
    pupils: Mapping[str, RosterPupil]
    staff: Mapping[str, RosterStaff]
    guests: Mapping[str, str]


AnyEvent: TypeAlias = LessonPrepared | LessonEvent

SYSTEM = "system"
