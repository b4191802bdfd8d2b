"""What each participant is shown: their own view of the lesson, built from the state alone.

A pupil's view never holds what the policy hides from pupils: nobody in the waiting room but
themselves, no one turned away at the door, no other pupil's video unless the policy shows
pupils' video to the whole class, and no chat-check alert about anyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.decide import admission_refusal, recording_refusal
from safeclass.domain.lesson.events import ChatFlagged
from safeclass.domain.lesson.media import MediaKind, MediaPlan
from safeclass.domain.lesson.model import (
    HoldReason,
    LessonState,
    Participant,
    Person,
    Phase,
    Presence,
    Role,
    RosterPupil,
)

_HOLD_WORDS_FOR_PUPILS = {
    HoldReason.NOT_STARTED: "Your teacher is not here yet. Please wait: they will let you in.",
    HoldReason.NO_STAFF: "Your teacher has stepped out. Please wait here: the lesson carries on "
    "when they are back.",
    HoldReason.ONE_TO_ONE: "We are waiting for another pupil or a second teacher before the "
    "lesson can carry on.",
    HoldReason.SUSPENDED: "Your teacher has paused the lesson for a moment.",
    HoldReason.ENDED: "This lesson has ended. Thank you for joining.",
}

_HOLD_WORDS_FOR_STAFF = {
    HoldReason.NOT_STARTED: "The lesson has not started.",
    HoldReason.NO_STAFF: "No member of staff is in the lesson: pupils are waiting, with sound "
    "and video stopped.",
    HoldReason.ONE_TO_ONE: "Sound, video and chat are paused: with one pupil and one member of "
    "staff, a second pupil or a second member of staff must join first (no one-to-one "
    "lessons).",
    HoldReason.SUSPENDED: "Everything is suspended: pupils' microphones and cameras are off, "
    "screen sharing is stopped, chat is paused and the lesson is locked.",
    HoldReason.ENDED: "This lesson has ended.",
}


def hold_words(reason: HoldReason | None, *, for_staff: bool) -> str | None:
    if reason is None:
        return None
    return (_HOLD_WORDS_FOR_STAFF if for_staff else _HOLD_WORDS_FOR_PUPILS)[reason]


def view_for(state: LessonState, pid: str) -> dict[str, Any]:
    return views_for(state, [pid])[pid]


def views_for(state: LessonState, pids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The views of several participants at once. What is the same for every member of staff,
    or for every pupil, is built once, so a whole class's views cost one pass each."""
    plan = MediaPlan.of(state)
    hold = state.hold_reason()
    staff_panel: dict[str, Any] | None = None
    class_list: list[dict[str, Any]] | None = None
    views = {}
    for pid in pids:
        viewer = state.participants[pid]
        view: dict[str, Any] = {
            "lesson": {
                "id": state.lesson_id,
                "phase": state.phase.value,
                "hold": hold.value if hold else None,
                "hold_message": hold_words(hold, for_staff=viewer.is_staff),
                "locked": state.locked,
                "suspended": state.suspended,
                "chat_paused": state.chat_paused,
                "ended_reason": state.ended_reason,
                "recording": state.recording,
                "recording_message": recording_words(state, viewer),
            },
            "you": _own(state, viewer),
            "media": _media(plan, viewer),
        }
        if viewer.is_staff and viewer.in_room:
            if staff_panel is None:
                staff_panel = _staff_panel(state, plan)
            view |= staff_panel
        elif viewer.in_room and state.phase is Phase.OPEN:
            # Pupils see who is in the class only while staff are running it: while held, the
            # room is a waiting room again, where nobody sees who else is waiting.
            if class_list is None:
                class_list = [_person(p, full=False) for p in plan.present]
            view["in_room"] = class_list
        else:
            view["in_room"] = []
        views[pid] = view
    return views


def recording_words(state: LessonState, viewer: Participant) -> str | None:
    """What a participant is told while the lesson is being recorded."""
    if not state.recording:
        return None
    if viewer.is_staff:
        kept = (
            "pupils' cameras and sound are left out"
            if state.rules.recording_excludes_pupils
            else ("pupils' cameras and sound are recorded too")
        )
        return f"This lesson is being recorded: staff video and sound and shared screens; {kept}."
    if viewer.presence is Presence.WAITING and not state.may_be_recorded(viewer.person):
        return (
            "This lesson is being recorded just now, and your parent or carer has not said yes "
            "to recording. You can come in when the recording stops: wait here, or leave."
        )
    if viewer.person.role is not Role.PUPIL:
        return "This lesson is being recorded. Guests are not recorded."
    if state.rules.recording_excludes_pupils:
        return (
            "This lesson is being recorded. Only your teachers' video and sound and shared "
            "screens are kept, not you."
        )
    return (
        "This lesson is being recorded. Your camera, your voice and any screen you share are "
        "recorded too."
    )


def _recording_panel(state: LessonState) -> dict[str, Any]:
    """The recording controls' state for staff."""
    why_not: str | None = None
    if not state.rules.recording_allowed:
        why_not = "Recording is not allowed for this lesson."
    elif not state.recording:
        if state.phase is not Phase.OPEN:
            why_not = "A recording can start once the lesson is running."
        else:
            refusal = recording_refusal(state)
            why_not = refusal.message if refusal is not None else None
    return {
        "allowed": state.rules.recording_allowed,
        "on": state.recording,
        "number": state.recording_number,
        "since": state.recording_since.isoformat() if state.recording_since else None,
        "can_start": state.rules.recording_allowed and not state.recording and why_not is None,
        "why_not": why_not,
        "excludes_pupils": state.rules.recording_excludes_pupils,
    }


def _staff_panel(state: LessonState, plan: MediaPlan) -> dict[str, Any]:
    return {
        "recording": _recording_panel(state),
        "in_room": [_person(p, full=True) for p in plan.present],
        "waiting": [_waiting(state, p) for p in state.waiting()],
        "turned_away": [
            {
                "name": t.display_name,
                "role": t.person.role.value,
                "reason": t.reason.value,
                "message": t.message,
                "at": t.at.isoformat(),
            }
            for t in state.turned_away
        ],
        "expected": _expected(state),
    }


def _own(state: LessonState, viewer: Participant) -> dict[str, Any]:
    return {
        "pid": viewer.pid,
        "name": viewer.display_name,
        "role": viewer.person.role.value,
        "is_host": state.is_host(viewer),
        "presence": viewer.presence.value,
        "mic_on": viewer.mic_on,
        "mic_allowed": viewer.mic_allowed,
        "camera_on": viewer.camera_on,
        "camera_allowed": viewer.camera_allowed,
        "hand_raised": viewer.hand_raised,
        "wants_to_speak": viewer.wants_to_speak,
        "share_granted": state.may_share(viewer),
        "sharing": viewer.screen_sharing,
    }


def _person(participant: Participant, *, full: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "pid": participant.pid,
        "name": participant.display_name,
        "role": participant.person.role.value,
        "sharing": participant.screen_sharing,
    }
    if full:
        shown |= {
            "mic_on": participant.mic_on,
            "mic_allowed": participant.mic_allowed,
            "camera_on": participant.camera_on,
            "camera_allowed": participant.camera_allowed,
            "hand_raised": participant.hand_raised,
            "wants_to_speak": participant.wants_to_speak,
            "share_granted": participant.screen_share_granted,
            "parent_present": participant.parent_present,
            "via": participant.via.value,
        }
    return shown


def _waiting(state: LessonState, participant: Participant) -> dict[str, Any]:
    refusal = admission_refusal(state, participant)
    flags = []
    if participant.duplicate_of is not None or (
        refusal is not None and refusal.reason is ReasonCode.DUPLICATE_DEVICE
    ):
        flags.append("second_device")
    return {
        "pid": participant.pid,
        "name": participant.display_name,
        "role": participant.person.role.value,
        "joined_at": participant.joined_at.isoformat(),
        "parent_present": participant.parent_present,
        "flags": flags,
        "can_admit": refusal is None,
        "why_not": refusal.message if refusal is not None else None,
    }


def _expected(state: LessonState) -> list[dict[str, Any]]:
    """Pupils on the class list who are not in the room or the waiting room."""
    here = {
        p.person.id
        for p in state.participants.values()
        if p.person.role is Role.PUPIL
        and p.presence in (Presence.WAITING, Presence.ADMITTED)
        and p.connected
    }
    expected = []
    for pupil_id, pupil in sorted(state.pupils.items(), key=lambda item: item[1].display_name):
        if pupil_id in here:
            continue
        why_not = _why_not_coming(state, pupil_id, pupil)
        expected.append(
            {
                "pupil_id": pupil_id,
                "name": pupil.display_name,
                "can_join": why_not is None,
                "why_not": why_not,
                "parent_mediated": pupil.parent_mediated,
            }
        )
    return expected


def _why_not_coming(state: LessonState, pupil_id: str, pupil: RosterPupil) -> str | None:
    if Person(Role.PUPIL, pupil_id) in state.barred:
        return "Removed from this lesson."
    return None if pupil.consent_ok else pupil.consent_message


def _media(plan: MediaPlan, viewer: Participant) -> dict[str, Any]:
    return {
        "publish": {kind.value: plan.publishes(viewer, kind) for kind in MediaKind},
        "receive": [
            {"pid": source.pid, "kind": kind.value} for source, kind in plan.received_by(viewer)
        ],
    }


def chat_flag_messages(state: LessonState, event: ChatFlagged) -> dict[str, dict[str, Any]]:
    """Who hears about a message the chat check caught, and what: every member of staff in the
    room gets the alert, with the message and what was found; when the message was stopped, its
    sender gets the kind reminder. Nobody else hears of it: not the class, not the other pupils.
    """
    alert = {
        "type": "chat_alert",
        "alert": {
            "from": event.pid,
            "name": event.display_name,
            "role": event.person.role.value,
            "to": event.to.value,
            "text": event.text,
            "kinds": [kind.value for kind in event.kinds],
            "found": [
                {"kind": f.kind.value, "start": f.start, "end": f.end} for f in event.findings
            ],
            "blocked": event.blocked,
            "message_id": event.message_id,
            "at": event.at.isoformat(),
        },
    }
    messages = {staff.pid: alert for staff in state.in_room(Role.STAFF)}
    if event.reminder is not None:
        messages[event.pid] = {
            "type": "chat_not_sent",
            "text": event.text,
            "kinds": [kind.value for kind in event.kinds],
            "message": event.reminder,
        }
    return messages
