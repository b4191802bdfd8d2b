"""Commands: what someone asks the lesson to do. The server builds them from checked messages;
each names the participant acting (a `pid`), never trusts a name or a role the client claims."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from safeclass.domain.lesson.model import ChatTo, Person, RosterPupil, RosterStaff, Via


@dataclass(frozen=True, slots=True, kw_only=True)
class Join:
    pid: str  # made by the server for this device
    person: Person
    device: str  # which link or staff session it came through
    via: Via
    reminder_accepted: bool = False
    parent_present: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Acting:
    """A command made by someone already in the lesson (waiting or admitted)."""

    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Targeted(Acting):
    target: str


class Admit(Targeted): ...


class Deny(Targeted): ...


class MuteMic(Targeted): ...


class AllowMic(Targeted): ...


class StopCamera(Targeted): ...


class AllowCamera(Targeted): ...


class LowerHand(Targeted): ...


class GrantScreenShare(Targeted): ...


class RevokeScreenShare(Targeted): ...


class AdmitNext(Acting): ...


class AdmitAll(Acting): ...


class Lock(Acting): ...


class Unlock(Acting): ...


class MuteAll(Acting): ...


class RaiseHand(Acting): ...


class AskToSpeak(Acting): ...


class StartScreenShare(Acting): ...


class StopScreenShare(Acting): ...


class Suspend(Acting): ...


class Resume(Acting): ...


class PauseChat(Acting): ...


class ResumeChat(Acting): ...


class StartRecording(Acting): ...


class StopRecording(Acting): ...


class EndLesson(Acting): ...


class Leave(Acting): ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMic(Acting):
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SetCamera(Acting):
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteMediaRefusal(Acting):
    """The media layer refused something this participant's client asked for (a second camera,
    a screen share without a grant, a malformed offer): it goes in the lesson's log."""

    request: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Remove(Targeted):
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendChat(Acting):
    to: ChatTo
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect:
    pid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnect:
    pid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """Time passes: ends a lesson whose staff have been gone longer than the grace period."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRoster:
    """The class list, staff or consent changed while the lesson is on."""

    pupils: Mapping[str, RosterPupil]
    staff: Mapping[str, RosterStaff]
    guests: Mapping[str, str]


Command: TypeAlias = Join | Acting | Disconnect | Reconnect | Tick | UpdateRoster
