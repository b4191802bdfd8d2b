"""Deciding: the events a command causes, or one refusal event with a reason code.

Every check that keeps pupils safe is here, each condition on its own line. Nothing a client can
send makes `decide` raise: an unknown or badly aimed command is refused and recorded like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from safeclass.domain.chat_checks import check_chat, reminder
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.commands import (
    Acting,
    Admit,
    AdmitAll,
    AdmitNext,
    AllowCamera,
    AllowMic,
    AskToSpeak,
    Command,
    Deny,
    Disconnect,
    EndLesson,
    GrantScreenShare,
    Join,
    Leave,
    Lock,
    LowerHand,
    MuteAll,
    MuteMic,
    NoteMediaRefusal,
    PauseChat,
    RaiseHand,
    Reconnect,
    Remove,
    Resume,
    ResumeChat,
    RevokeScreenShare,
    SendChat,
    SetCamera,
    SetMic,
    StartRecording,
    StartScreenShare,
    StopCamera,
    StopRecording,
    StopScreenShare,
    Suspend,
    Tick,
    Unlock,
    UpdateRoster,
)
from safeclass.domain.lesson.events import (
    SYSTEM,
    Admitted,
    AnyEvent,
    CameraChanged,
    ChatFlagged,
    ChatPauseChanged,
    ChatSent,
    CommandRefused,
    Denied,
    Disconnected,
    HandChanged,
    Joined,
    JoinRefused,
    Left,
    LockChanged,
    MediaRefused,
    MicChanged,
    PhaseChanged,
    Reconnected,
    RecordingChanged,
    Removed,
    RosterUpdated,
    ScreenShareChanged,
    ScreenShareGrantChanged,
    SuspendChanged,
)
from safeclass.domain.lesson.evolve import evolve
from safeclass.domain.lesson.model import (
    MAX_CHAT_LENGTH,
    ChatTo,
    LessonRules,
    LessonState,
    Participant,
    Person,
    Phase,
    Presence,
    Role,
    RosterPupil,
    RosterStaff,
    Via,
)
from safeclass.domain.policy import AdmissionMode, ChatCheckAction, PupilUnmute, ScreenSharing


class Refusal(Exception):  # noqa: N818 - a refusal is an answer, not an error
    """Why a command is refused: raised by the checks, turned into a refusal event by `decide`."""

    def __init__(self, reason: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _require(condition: bool, reason: ReasonCode, message: str) -> None:
    if not condition:
        raise Refusal(reason, message)


def decide(state: LessonState, command: Command, at: datetime) -> list[AnyEvent]:
    """The events a command causes. Never raises for anything a client can send."""
    try:
        primary = _decide(state, command, at)
    except Refusal as refusal:
        return [_refusal_event(state, command, refusal, at)]
    after = state
    for event in primary:
        after = evolve(after, event)
    return primary + _consequences(state, after, at)


def _refusal_event(
    state: LessonState, command: Command, refusal: Refusal, at: datetime
) -> AnyEvent:
    if isinstance(command, Join):
        return JoinRefused(
            at=at,
            person=command.person,
            display_name=_roster_name(state, command.person) or "Someone not expected",
            device=command.device,
            reason=refusal.reason,
            message=refusal.message,
        )
    return CommandRefused(
        at=at,
        actor=_who_asked(command),
        command=type(command).__name__,
        reason=refusal.reason,
        message=refusal.message,
    )


def _who_asked(command: Command) -> str:
    """The participant a refusal is sent back to; the system for time and roster changes."""
    if isinstance(command, Acting):
        return command.actor
    if isinstance(command, Disconnect | Reconnect):
        return command.pid
    return SYSTEM


def _roster_name(state: LessonState, person: Person) -> str | None:
    if person.role is Role.PUPIL:
        pupil = state.pupils.get(person.id)
        return pupil.display_name if pupil else None
    if person.role is Role.STAFF:
        staff = state.staff.get(person.id)
        return staff.display_name if staff else None
    return state.guests.get(person.id)


def _decide(state: LessonState, command: Command, at: datetime) -> list[AnyEvent]:
    if isinstance(command, Tick):
        return []  # time passing only has consequences
    _require(state.phase is not Phase.ENDED, ReasonCode.LESSON_ENDED, "This lesson has ended.")
    if isinstance(command, UpdateRoster):
        return _decide_roster(state, command, at)
    if isinstance(command, Join):
        return _decide_join(state, command, at)
    if isinstance(command, Disconnect):
        current = _known(state, command.pid)
        _require(current.connected, ReasonCode.NO_CHANGE, "Already disconnected.")
        return [Disconnected(at=at, pid=current.pid)]
    if isinstance(command, Reconnect):
        current = _known(state, command.pid)
        _require(not current.connected, ReasonCode.NO_CHANGE, "Already connected.")
        _require(
            current.presence in (Presence.WAITING, Presence.ADMITTED),
            ReasonCode.NOT_IN_LESSON,
            "You are no longer in this lesson. Join again from your link.",
        )
        # Coming back keeps one's place, but never makes one pupil two people in the room.
        _require(
            current.presence is Presence.WAITING
            or current.is_staff
            or not _in_room_elsewhere(state, current),
            ReasonCode.DUPLICATE_DEVICE,
            "You are already in the lesson on another device.",
        )
        return [Reconnected(at=at, pid=current.pid)]
    actor = _known(state, command.actor)
    _require(actor.connected, ReasonCode.NOT_IN_LESSON, "You are not connected to this lesson.")
    _require(
        actor.presence in (Presence.WAITING, Presence.ADMITTED),
        ReasonCode.NOT_IN_LESSON,
        "You are not in this lesson.",
    )
    if isinstance(command, Leave):
        return [Left(at=at, pid=actor.pid)]
    if isinstance(command, NoteMediaRefusal):
        return [
            MediaRefused(
                at=at,
                pid=actor.pid,
                request=command.request,
                reason=command.reason,
                message=command.message,
            )
        ]
    if actor.is_staff:
        staff_events = _decide_staff(state, actor, command, at)
        if staff_events is not None:
            return staff_events
    return _decide_own(state, actor, command, at)


def _known(state: LessonState, pid: str) -> Participant:
    participant = state.participants.get(pid)
    if participant is None:
        raise Refusal(ReasonCode.NOT_IN_LESSON, "You are not in this lesson.")
    return participant


def _in_room_elsewhere(state: LessonState, participant: Participant) -> bool:
    return any(
        p.in_room for p in state.participants_of(participant.person) if p.pid != participant.pid
    )


def _decide_roster(state: LessonState, command: UpdateRoster, at: datetime) -> list[AnyEvent]:
    unchanged = (
        dict(command.pupils) == dict(state.pupils)
        and dict(command.staff) == dict(state.staff)
        and dict(command.guests) == dict(state.guests)
    )
    if unchanged:
        return []
    events: list[AnyEvent] = [
        RosterUpdated(at=at, pupils=command.pupils, staff=command.staff, guests=command.guests)
    ]
    # Someone who may no longer come (consent withdrawn, taken off the class list, invitation
    # withdrawn) leaves the waiting room at once; someone already in the room leaves too. Staff
    # see each of them in the list of people turned away, with the reason.
    for participant in state.participants.values():
        if participant.presence not in (Presence.WAITING, Presence.ADMITTED):
            continue
        refusal = _not_welcome(participant.person, command.pupils, command.staff, command.guests)
        if refusal is not None:
            events.append(Left(at=at, pid=participant.pid))
            events.append(
                JoinRefused(
                    at=at,
                    person=participant.person,
                    display_name=participant.display_name,
                    device=participant.device,
                    reason=refusal.reason,
                    message=refusal.message,
                )
            )
    return events


def _not_welcome(
    person: Person,
    pupils: Mapping[str, RosterPupil],
    staff: Mapping[str, RosterStaff],
    guests: Mapping[str, str],
) -> Refusal | None:
    """Why someone who came in may not be in this lesson (any more), or None while they may."""
    if person.role is Role.STAFF:
        if person.id in staff:
            return None
        return Refusal(ReasonCode.NOT_ON_ROSTER, "Not one of this lesson's staff.")
    if person.role is Role.GUEST:
        if person.id in guests:
            return None
        return Refusal(ReasonCode.NOT_INVITED, "This guest's invitation was withdrawn.")
    pupil = pupils.get(person.id)
    if pupil is None:
        return Refusal(ReasonCode.NOT_ON_ROSTER, "Not on the class list for this lesson.")
    if pupil.consent_ok:
        return None
    return Refusal(pupil.consent_reason, pupil.consent_message)


def _decide_join(state: LessonState, command: Join, at: datetime) -> list[AnyEvent]:
    person = command.person
    _require(command.pid not in state.participants, ReasonCode.NO_CHANGE, "Already joined.")
    _require(
        person not in state.barred,
        ReasonCode.REMOVED,
        "You were removed from this lesson, so you cannot come back to it.",
    )
    if person.role is Role.STAFF:
        return [_staff_joins(state, command, at)]
    if person.role is Role.PUPIL:
        _check_pupil_at_door(state, command)
    else:
        _check_guest_at_door(state, command)
    _require(
        command.reminder_accepted or not state.rules.reminder_required,
        ReasonCode.REMINDER_NOT_ACCEPTED,
        "Please read the reminder about keeping personal details private, and say OK.",
    )
    rules = state.rules
    mic_allowed = rules.pupil_unmute is PupilUnmute.SELF
    other_device = next(
        (
            p.pid
            for p in state.participants_of(person)
            if p.presence in (Presence.WAITING, Presence.ADMITTED) and p.connected
        ),
        None,
    )
    return [
        Joined(
            at=at,
            pid=command.pid,
            person=person,
            display_name=_roster_name(state, person) or "",
            device=command.device,
            via=command.via,
            presence=Presence.WAITING,
            mic_on=mic_allowed and not rules.join_muted,
            camera_on=not rules.join_camera_off,
            mic_allowed=mic_allowed,
            camera_allowed=True,
            duplicate_of=other_device,
            parent_present=command.parent_present,
        )
    ]


def _staff_joins(state: LessonState, command: Join, at: datetime) -> Joined:
    roster = state.staff.get(command.person.id)
    if roster is None:
        raise Refusal(ReasonCode.NOT_ON_ROSTER, "You are not one of this lesson's staff.")
    _require(
        command.via is Via.STAFF_SIGN_IN,
        ReasonCode.WRONG_DOOR,
        "Staff join lessons after signing in.",
    )
    return Joined(
        at=at,
        pid=command.pid,
        person=command.person,
        display_name=roster.display_name,
        device=command.device,
        via=command.via,
        presence=Presence.ADMITTED,
        mic_on=False,
        camera_on=False,
        mic_allowed=True,
        camera_allowed=True,
        duplicate_of=None,
        parent_present=False,
    )


def _check_pupil_at_door(state: LessonState, command: Join) -> None:
    pupil = state.pupils.get(command.person.id)
    if pupil is None:
        raise Refusal(
            ReasonCode.NOT_ON_ROSTER,
            "You are not on the class list for this lesson. Check you used your own link.",
        )
    _require(
        command.via in (Via.PUPIL_LINK, Via.PARENT_LINK, Via.TYPED_CODE),
        ReasonCode.WRONG_DOOR,
        "Pupils join from their own link.",
    )
    _require(
        not state.locked,
        ReasonCode.LOCKED,
        "The lesson is locked, so nobody new can come in. Ask your teacher.",
    )
    _require(pupil.consent_ok, pupil.consent_reason, pupil.consent_message)
    _require(
        not pupil.parent_mediated or (command.via is Via.PARENT_LINK and command.parent_present),
        ReasonCode.PARENT_REQUIRED,
        "A parent or carer needs to join with you, from their own link, and say they are there.",
    )


def _check_guest_at_door(state: LessonState, command: Join) -> None:
    _require(
        state.rules.named_guests,
        ReasonCode.GUESTS_NOT_ALLOWED,
        "Guests cannot join lessons at this school.",
    )
    _require(
        command.person.id in state.guests,
        ReasonCode.NOT_INVITED,
        "This invitation is not for this lesson, or it was withdrawn.",
    )
    _require(
        command.via in (Via.GUEST_INVITE, Via.TYPED_CODE),
        ReasonCode.WRONG_DOOR,
        "Guests join from their invitation.",
    )
    _require(
        not state.locked,
        ReasonCode.LOCKED,
        "The lesson is locked, so nobody new can come in.",
    )


STAFF_ONLY_COMMANDS = (
    Admit,
    Deny,
    AdmitNext,
    AdmitAll,
    Lock,
    Unlock,
    MuteMic,
    AllowMic,
    StopCamera,
    AllowCamera,
    MuteAll,
    GrantScreenShare,
    RevokeScreenShare,
    Suspend,
    Resume,
    Remove,
    PauseChat,
    ResumeChat,
    StartRecording,
    StopRecording,
    EndLesson,
)


def _decide_staff(
    state: LessonState, actor: Participant, command: Command, at: datetime
) -> list[AnyEvent] | None:
    """Commands only staff may give. None when the command is not one of them."""
    by = actor.pid
    if isinstance(command, Admit):
        return _admit(state, _target(state, command.target), by, at)
    if isinstance(command, AdmitNext):
        for candidate in state.waiting():
            if admission_refusal(state, candidate) is None:
                return _admit(state, candidate, by, at)
        raise Refusal(ReasonCode.NOTHING_WAITING, "Nobody in the waiting room can be let in.")
    if isinstance(command, AdmitAll):
        _require(
            state.rules.admission_mode is AdmissionMode.ALL_AT_ONCE_ALLOWED,
            ReasonCode.ONE_AT_A_TIME,
            "At this school, staff let people in one at a time.",
        )
        events: list[AnyEvent] = []
        after = state
        for candidate in state.waiting():
            if admission_refusal(after, after.participants[candidate.pid]) is None:
                admitted = Admitted(at=at, pid=candidate.pid, by=by)
                after = evolve(after, admitted)
                events.append(admitted)
        _require(bool(events), ReasonCode.NOTHING_WAITING, "Nobody waiting can be let in.")
        return events
    if isinstance(command, Deny):
        target = _target(state, command.target)
        _require(
            target.presence is Presence.WAITING,
            ReasonCode.NOT_WAITING,
            f"{target.display_name} is not in the waiting room.",
        )
        return [Denied(at=at, pid=target.pid, by=by)]
    if isinstance(command, Lock | Unlock):
        locked = isinstance(command, Lock)
        if state.locked == locked:
            return []
        return [LockChanged(at=at, locked=locked, by=by, automatic=False)]
    if isinstance(command, MuteMic):
        return _mute(_target(state, command.target), by=by, at=at, rules=state.rules)
    if isinstance(command, AllowMic):
        target = _learner_target(state, command.target)
        if target.mic_allowed and not target.wants_to_speak:
            return []
        events = [MicChanged(at=at, pid=target.pid, on=target.mic_on, allowed=True, by=by)]
        if target.wants_to_speak or target.hand_raised:
            events.append(
                HandChanged(at=at, pid=target.pid, raised=False, wants_to_speak=False, by=by)
            )
        return events
    if isinstance(command, StopCamera):
        target = _target(state, command.target)
        allowed = target.is_staff
        if not target.camera_on and target.camera_allowed == allowed:
            return []
        return [CameraChanged(at=at, pid=target.pid, on=False, allowed=allowed, by=by)]
    if isinstance(command, LowerHand):
        target = _target(state, command.target)
        if not target.hand_raised:
            return []
        return [HandChanged(at=at, pid=target.pid, raised=False, wants_to_speak=False, by=by)]
    if isinstance(command, AllowCamera):
        target = _learner_target(state, command.target)
        if target.camera_allowed:
            return []
        return [CameraChanged(at=at, pid=target.pid, on=False, allowed=True, by=by)]
    if isinstance(command, MuteAll):
        events = []
        for learner in _learners_present(state):
            events += _mute(learner, by=by, at=at, rules=state.rules)
        return events
    if isinstance(command, GrantScreenShare):
        target = _learner_target(state, command.target)
        _require(
            state.rules.screen_sharing is ScreenSharing.STAFF_AND_GRANTED_PUPILS,
            ReasonCode.PUPILS_MAY_NOT_SHARE,
            "At this school, only staff share their screens.",
        )
        _require(
            target.presence is Presence.ADMITTED,
            ReasonCode.NOT_ADMITTED,
            f"{target.display_name} is not in the lesson yet.",
        )
        if target.screen_share_granted:
            return []
        return [ScreenShareGrantChanged(at=at, pid=target.pid, granted=True, by=by)]
    if isinstance(command, RevokeScreenShare):
        target = _learner_target(state, command.target)
        return _revoke_share(target, by, at)
    if isinstance(command, Suspend):
        return _suspend(state, by, at)
    if isinstance(command, Resume):
        return _resume(state, by, at)
    if isinstance(command, Remove):
        target = _target(state, command.target)
        _require(
            not target.is_staff,
            ReasonCode.STAFF_CANNOT_BE_REMOVED,
            "Staff cannot remove other staff from a lesson.",
        )
        return [
            Removed(at=at, pid=p.pid, by=by, reason=command.reason[:500])
            for p in state.participants_of(target.person)
            if p.presence is not Presence.REMOVED
        ]
    if isinstance(command, PauseChat | ResumeChat):
        paused = isinstance(command, PauseChat)
        if state.chat_paused == paused:
            return []
        return [ChatPauseChanged(at=at, paused=paused, by=by)]
    if isinstance(command, StartRecording):
        return _start_recording(state, actor, at)
    if isinstance(command, StopRecording):
        if not state.recording:
            return []
        return [_recording_stopped(state, at, "stopped", by=by, person=actor.person)]
    if isinstance(command, EndLesson):
        return [PhaseChanged(at=at, phase=Phase.ENDED, reason="ended_by_staff")]
    if isinstance(command, StartScreenShare):
        _require(
            state.may_share(actor),
            ReasonCode.HOST_ONLY_SHARE,
            "At this school, only the lesson's host shares their screen.",
        )
        if actor.screen_sharing:
            return []
        current = state.sharing()
        events = [] if current is None else _stop_share(current, by, at)
        return [*events, ScreenShareChanged(at=at, pid=actor.pid, sharing=True, by=by)]
    return None


def _target(state: LessonState, pid: str) -> Participant:
    target = state.participants.get(pid)
    if target is None:
        raise Refusal(ReasonCode.NOT_IN_LESSON, "That person is not in this lesson.")
    return target


def _learner_target(state: LessonState, pid: str) -> Participant:
    target = _target(state, pid)
    _require(not target.is_staff, ReasonCode.NOT_A_PUPIL, "That only applies to pupils and guests.")
    return target


def _learners_present(state: LessonState) -> list[Participant]:
    return [
        p
        for p in state.participants.values()
        if not p.is_staff and p.presence in (Presence.WAITING, Presence.ADMITTED)
    ]


def _mute(
    target: Participant,
    *,
    by: str,
    at: datetime,
    rules: LessonRules,
) -> list[AnyEvent]:
    """Mute: the mic goes off. A pupil who must ask also loses permission to turn it back on."""
    allowed = target.is_staff or rules.pupil_unmute is PupilUnmute.SELF
    if not target.mic_on and target.mic_allowed == allowed:
        return []
    return [MicChanged(at=at, pid=target.pid, on=False, allowed=allowed, by=by)]


def _stop_share(target: Participant, by: str, at: datetime) -> list[AnyEvent]:
    if not target.screen_sharing:
        return []
    return [ScreenShareChanged(at=at, pid=target.pid, sharing=False, by=by)]


def _revoke_share(target: Participant, by: str, at: datetime) -> list[AnyEvent]:
    events = _stop_share(target, by, at)
    if target.screen_share_granted:
        events.append(ScreenShareGrantChanged(at=at, pid=target.pid, granted=False, by=by))
    return events


def _start_recording(state: LessonState, actor: Participant, at: datetime) -> list[AnyEvent]:
    _require(
        state.rules.recording_allowed,
        ReasonCode.RECORDING_NOT_ALLOWED,
        "Recording is not allowed for this lesson.",
    )
    if state.recording:
        return []
    _require(
        state.phase is Phase.OPEN,
        ReasonCode.LESSON_NOT_RUNNING,
        "A recording can start once the lesson is running.",
    )
    refusal = recording_refusal(state)
    if refusal is not None:
        raise refusal
    return [
        RecordingChanged(
            at=at,
            recording=True,
            number=state.recording_number + 1,
            by=actor.pid,
            person=actor.person,
            reason="started",
        )
    ]


def recording_refusal(state: LessonState) -> Refusal | None:
    """Why a recording may not start now because of who is in the lesson, or None."""
    missing = sorted({p.display_name for p in state.not_recordable()})
    if not missing:
        return None
    names = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    return Refusal(
        ReasonCode.NO_RECORDING_CONSENT,
        f"Not recording: no parent or carer has said yes to recording for {names}. "
        "Carry on without recording, or record once they have left.",
    )


def _recording_stopped(
    state: LessonState, at: datetime, reason: str, *, by: str = SYSTEM, person: Person | None = None
) -> RecordingChanged:
    return RecordingChanged(
        at=at, recording=False, number=state.recording_number, by=by, person=person, reason=reason
    )


def _recording_must_stop(state: LessonState) -> str | None:
    """Why the rules stop a running recording now, or None while it may go on."""
    if not state.recording:
        return None
    if state.phase is Phase.ENDED:
        return "lesson_ended"
    if state.phase is not Phase.OPEN:
        return "no_staff"
    if state.not_recordable():
        return "consent_withdrawn"
    return None


def admission_refusal(state: LessonState, target: Participant) -> Refusal | None:
    """Why someone in the waiting room may not be let in now, or None when they may. Consent
    and the class list are checked again here, not only at the door."""
    if target.presence is not Presence.WAITING or not target.connected:
        return Refusal(ReasonCode.NOT_WAITING, f"{target.display_name} is not waiting.")
    unwelcome = _not_welcome(target.person, state.pupils, state.staff, state.guests)
    if unwelcome is not None:
        return unwelcome
    if state.recording and not state.may_be_recorded(target.person):
        return Refusal(
            ReasonCode.NO_RECORDING_CONSENT,
            f"No parent or carer has said yes to recording for {target.display_name}, so they "
            "cannot come in while the lesson is being recorded. Stop the recording to let them in.",
        )
    other = [p for p in state.participants_of(target.person) if p.pid != target.pid and p.in_room]
    if other:
        return Refusal(
            ReasonCode.DUPLICATE_DEVICE,
            f"{target.display_name} is already in the lesson on another device. Check which one "
            "is really them before letting this one in.",
        )
    return None


def _admit(state: LessonState, target: Participant, by: str, at: datetime) -> list[AnyEvent]:
    refusal = admission_refusal(state, target)
    if refusal is not None:
        raise refusal
    return [Admitted(at=at, pid=target.pid, by=by)]


def _suspend(state: LessonState, by: str, at: datetime) -> list[AnyEvent]:
    """One click: every pupil's mic and camera off, every screen share stopped (staff's too),
    chat paused, locked."""
    if state.suspended:
        return []
    events: list[AnyEvent] = [SuspendChanged(at=at, suspended=True, by=by)]
    for staff_member in state.in_room(Role.STAFF):
        events += _stop_share(staff_member, by, at)
    for learner in _learners_present(state):
        if learner.mic_on or learner.mic_allowed:
            events.append(MicChanged(at=at, pid=learner.pid, on=False, allowed=False, by=by))
        if learner.camera_on or learner.camera_allowed:
            events.append(CameraChanged(at=at, pid=learner.pid, on=False, allowed=False, by=by))
        events += _revoke_share(learner, by, at)
        if learner.hand_raised or learner.wants_to_speak:
            events.append(
                HandChanged(at=at, pid=learner.pid, raised=False, wants_to_speak=False, by=by)
            )
    if not state.chat_paused:
        events.append(ChatPauseChanged(at=at, paused=True, by=by))
    if not state.locked:
        events.append(LockChanged(at=at, locked=True, by=by, automatic=False))
    return events


def _resume(state: LessonState, by: str, at: datetime) -> list[AnyEvent]:
    """Lift a suspension. Mics and cameras stay off: pupils turn them on again as the rules
    allow."""
    if not state.suspended:
        return []
    events: list[AnyEvent] = [SuspendChanged(at=at, suspended=False, by=by)]
    mic_allowed = state.rules.pupil_unmute is PupilUnmute.SELF
    for learner in _learners_present(state):
        if learner.mic_allowed != mic_allowed:
            events.append(MicChanged(at=at, pid=learner.pid, on=False, allowed=mic_allowed, by=by))
        if not learner.camera_allowed:
            events.append(CameraChanged(at=at, pid=learner.pid, on=False, allowed=True, by=by))
    if state.chat_paused and not state.chat_paused_before_suspend:
        events.append(ChatPauseChanged(at=at, paused=False, by=by))
    if state.locked and not state.locked_before_suspend:
        events.append(LockChanged(at=at, locked=False, by=by, automatic=False))
    return events


def _decide_own(
    state: LessonState, actor: Participant, command: Command, at: datetime
) -> list[AnyEvent]:
    """Commands about oneself, open to everyone in the lesson within the rules."""
    _require(
        not isinstance(command, STAFF_ONLY_COMMANDS),
        ReasonCode.NOT_STAFF,
        "Only staff can do that.",
    )
    by = actor.pid
    learner = not actor.is_staff
    if learner:
        _require(
            actor.presence is Presence.ADMITTED,
            ReasonCode.NOT_ADMITTED,
            "You are in the waiting room. Your teacher will let you in soon.",
        )
    if isinstance(command, SetMic):
        if command.on and learner:
            _require(
                actor.mic_allowed,
                ReasonCode.MIC_NEEDS_PERMISSION,
                "Ask to speak first: your teacher will let you turn your microphone on.",
            )
        if actor.mic_on == command.on:
            return []
        return [MicChanged(at=at, pid=by, on=command.on, allowed=actor.mic_allowed, by=by)]
    if isinstance(command, SetCamera):
        if command.on and learner:
            _require(
                actor.camera_allowed,
                ReasonCode.CAMERA_STOPPED_BY_STAFF,
                "Your teacher has turned your camera off for now.",
            )
        if actor.camera_on == command.on:
            return []
        return [CameraChanged(at=at, pid=by, on=command.on, allowed=actor.camera_allowed, by=by)]
    if isinstance(command, RaiseHand | AskToSpeak):
        wants = isinstance(command, AskToSpeak)
        if actor.hand_raised and (actor.wants_to_speak or not wants):
            return []
        return [HandChanged(at=at, pid=by, raised=True, wants_to_speak=wants, by=by)]
    if isinstance(command, LowerHand):
        _require(
            command.target == by, ReasonCode.NOT_STAFF, "Only staff can lower someone else's hand."
        )
        if not actor.hand_raised:
            return []
        return [HandChanged(at=at, pid=by, raised=False, wants_to_speak=False, by=by)]
    if isinstance(command, StartScreenShare):
        _require(
            actor.screen_share_granted,
            ReasonCode.NO_SHARE_GRANT,
            "Your teacher needs to let you share your screen first.",
        )
        _require(
            state.sharing() in (None, actor),
            ReasonCode.SOMEONE_SHARING,
            "Someone else is sharing their screen. Wait until they stop.",
        )
        if actor.screen_sharing:
            return []
        return [ScreenShareChanged(at=at, pid=by, sharing=True, by=by)]
    if isinstance(command, StopScreenShare):
        return _stop_share(actor, by, at)
    if isinstance(command, SendChat):
        return _chat(state, actor, command, at)
    raise Refusal(ReasonCode.UNKNOWN_COMMAND, "SafeClass does not know that request.")


def _chat(
    state: LessonState, actor: Participant, command: SendChat, at: datetime
) -> list[AnyEvent]:
    text = command.text.strip()
    _require(bool(text), ReasonCode.BAD_MESSAGE, "Write something first.")
    _require(
        len(text) <= MAX_CHAT_LENGTH,
        ReasonCode.BAD_MESSAGE,
        f"Messages can be at most {MAX_CHAT_LENGTH} characters long.",
    )
    if not actor.is_staff:
        _require(
            state.pupils_active(),
            ReasonCode.MEDIA_HELD,
            "Chat is closed while the lesson is paused.",
        )
        _require(not state.chat_paused, ReasonCode.CHAT_PAUSED, "Your teacher has paused the chat.")
        allowed = (
            state.rules.class_chat
            if command.to is ChatTo.CLASS
            else state.rules.pupil_to_staff_chat
        )
        _require(allowed, ReasonCode.CHAT_OFF, "That chat is switched off for this lesson.")
    sent = ChatSent(
        at=at,
        message_id=state.chat_count + 1,
        pid=actor.pid,
        person=actor.person,
        display_name=actor.display_name,
        to=command.to,
        text=text,
    )
    if actor.is_staff:
        # Staff messages are not checked. Staff share worksheet links, the school office's number
        # and pupils' own words back to them all the time: alerts on those would teach staff to
        # ignore the alerts about pupils. Every staff message is in the lesson's log for the DSL.
        return [sent]
    return _checked(state, sent, at)


def _checked(state: LessonState, sent: ChatSent, at: datetime) -> list[AnyEvent]:
    """A pupil's or a guest's message through the chat checks. What they find, staff are told.
    By policy the message is stopped (its sender gets a kind reminder) or let through."""
    findings = check_chat(sent.text, state.rules.chat_extra_words)
    if not findings:
        return [sent]
    blocking = any(
        state.rules.chat_check_action(finding.kind) is ChatCheckAction.BLOCK for finding in findings
    )
    # A message to staff is never stopped: only staff see it, and a child telling staff about a
    # worry, or what someone said or sent to them, must always get through.
    stopped = blocking and sent.to is ChatTo.CLASS
    flagged = ChatFlagged(
        at=at,
        pid=sent.pid,
        person=sent.person,
        display_name=sent.display_name,
        to=sent.to,
        text=sent.text,
        findings=findings,
        blocked=stopped,
        message_id=None if stopped else sent.message_id,
        reminder=None,
    )
    if not stopped:
        return [sent, flagged]
    words = reminder(flagged.kinds, can_write_to_staff=state.rules.pupil_to_staff_chat)
    return [replace(flagged, reminder=words)]


# --- Consequences: what follows by itself from a change ---------------------------------------


def _consequences(before: LessonState, after: LessonState, at: datetime) -> list[AnyEvent]:
    """Events the rules add after a command: the phase follows who is in the room, pupils lose
    screen-share grants when staff are gone, the room locks when everyone is in, a lesson
    without staff ends after the grace period, and a recording stops when the rules say so."""
    events = _phase_consequences(before, after, at)
    state = after
    for event in events:
        state = evolve(state, event)
    stop = _recording_must_stop(state)
    if stop is not None:
        events.append(_recording_stopped(state, at, stop))
    return events


def _phase_consequences(before: LessonState, after: LessonState, at: datetime) -> list[AnyEvent]:
    events: list[AnyEvent] = []
    state = after
    if state.phase is Phase.ENDED:
        return events
    staff_here = state.staff_in_room() > 0
    if staff_here and state.phase is not Phase.OPEN:
        events.append(PhaseChanged(at=at, phase=Phase.OPEN, reason="staff_present"))
    elif not staff_here and state.phase is Phase.OPEN:
        # Fail closed: pupils wait with everything off, and come back to a lesson where they
        # turn their microphone and camera on again as the rules allow.
        events.append(PhaseChanged(at=at, phase=Phase.HELD, reason="no_staff"))
        for learner in _learners_present(state):
            events += _revoke_share(learner, SYSTEM, at)
            events += _mute(learner, by=SYSTEM, at=at, rules=state.rules)
            if learner.camera_on:
                events.append(
                    CameraChanged(
                        at=at, pid=learner.pid, on=False, allowed=learner.camera_allowed, by=SYSTEM
                    )
                )
    elif state.phase is Phase.HELD and state.held_since is not None:
        grace = timedelta(seconds=state.rules.staff_absence_grace_seconds)
        if at - state.held_since >= grace:
            events.append(PhaseChanged(at=at, phase=Phase.ENDED, reason="no_staff_returned"))
            return events
    for event in events:
        state = evolve(state, event)
    if (
        state.rules.auto_lock
        and not state.locked
        and not before.roster_complete()
        and state.roster_complete()
    ):
        events.append(LockChanged(at=at, locked=True, by=SYSTEM, automatic=True))
    return events
