"""Evolving: one event applied to the state. No checks here: they were made when the event was
decided, and a replayed log must rebuild exactly the state it recorded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from safeclass.domain.lesson.events import (
    Admitted,
    AnyEvent,
    CameraChanged,
    ChatPauseChanged,
    ChatSent,
    Denied,
    Disconnected,
    HandChanged,
    Joined,
    JoinRefused,
    Left,
    LessonPrepared,
    LockChanged,
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
from safeclass.domain.lesson.model import (
    TURNED_AWAY_KEPT,
    LessonState,
    Participant,
    Phase,
    Presence,
    TurnedAway,
)


def start(event: LessonPrepared) -> LessonState:
    return LessonState(
        lesson_id=event.lesson_id,
        rules=event.rules,
        pupils=dict(event.pupils),
        staff=dict(event.staff),
        guests=dict(event.guests),
    )


def replay(events: Iterable[AnyEvent]) -> LessonState:
    """Rebuild a lesson from its log. The first event must be its LessonPrepared."""
    iterator = iter(events)
    first = next(iterator)
    if not isinstance(first, LessonPrepared):
        raise ValueError("A lesson's log must start with lesson_prepared")
    state = start(first)
    for event in iterator:
        state = evolve(state, event)
    return state


def _with(state: LessonState, pid: str, **changes: Any) -> LessonState:
    participants = dict(state.participants)
    participants[pid] = replace(participants[pid], **changes)
    return replace(state, participants=participants)


def evolve(state: LessonState, event: AnyEvent) -> LessonState:
    if isinstance(event, LessonPrepared):
        return start(event)
    if isinstance(event, RosterUpdated):
        return replace(
            state, pupils=dict(event.pupils), staff=dict(event.staff), guests=dict(event.guests)
        )
    if isinstance(event, Joined):
        participants = dict(state.participants)
        participants[event.pid] = Participant(
            pid=event.pid,
            person=event.person,
            display_name=event.display_name,
            device=event.device,
            via=event.via,
            presence=event.presence,
            connected=True,
            joined_at=event.at,
            admitted_at=event.at if event.presence is Presence.ADMITTED else None,
            mic_on=event.mic_on,
            camera_on=event.camera_on,
            mic_allowed=event.mic_allowed,
            camera_allowed=event.camera_allowed,
            duplicate_of=event.duplicate_of,
            parent_present=event.parent_present,
        )
        return replace(state, participants=participants)
    if isinstance(event, JoinRefused):
        turned_away = TurnedAway(
            event.person, event.display_name, event.reason, event.message, event.at
        )
        return replace(state, turned_away=(*state.turned_away, turned_away)[-TURNED_AWAY_KEPT:])
    if isinstance(event, Admitted):
        return _with(state, event.pid, presence=Presence.ADMITTED, admitted_at=event.at)
    if isinstance(event, Denied):
        return _with(state, event.pid, presence=Presence.DENIED)
    if isinstance(event, Left):
        return _with(
            state, event.pid, presence=Presence.LEFT, screen_sharing=False, hand_raised=False
        )
    if isinstance(event, Disconnected):
        return _with(state, event.pid, connected=False, screen_sharing=False)
    if isinstance(event, Reconnected):
        return _with(state, event.pid, connected=True)
    if isinstance(event, Removed):
        removed = _with(
            state,
            event.pid,
            presence=Presence.REMOVED,
            screen_sharing=False,
            screen_share_granted=False,
        )
        person = state.participants[event.pid].person
        return replace(removed, barred=removed.barred | {person})
    if isinstance(event, LockChanged):
        return replace(state, locked=event.locked)
    if isinstance(event, MicChanged):
        return _with(state, event.pid, mic_on=event.on, mic_allowed=event.allowed)
    if isinstance(event, CameraChanged):
        return _with(state, event.pid, camera_on=event.on, camera_allowed=event.allowed)
    if isinstance(event, HandChanged):
        return _with(
            state, event.pid, hand_raised=event.raised, wants_to_speak=event.wants_to_speak
        )
    if isinstance(event, ScreenShareGrantChanged):
        return _with(state, event.pid, screen_share_granted=event.granted)
    if isinstance(event, ScreenShareChanged):
        return _with(state, event.pid, screen_sharing=event.sharing)
    if isinstance(event, SuspendChanged):
        if event.suspended:
            return replace(
                state,
                suspended=True,
                locked_before_suspend=state.locked,
                chat_paused_before_suspend=state.chat_paused,
            )
        return replace(state, suspended=False)
    if isinstance(event, ChatSent):
        return replace(state, chat_count=event.message_id)
    if isinstance(event, ChatPauseChanged):
        return replace(state, chat_paused=event.paused)
    if isinstance(event, RecordingChanged):
        return replace(
            state,
            recording=event.recording,
            recording_number=event.number,
            recording_since=event.at if event.recording else None,
        )
    if isinstance(event, PhaseChanged):
        held_since = event.at if event.phase is Phase.HELD else None
        ended_reason = event.reason if event.phase is Phase.ENDED else state.ended_reason
        return replace(state, phase=event.phase, held_since=held_since, ended_reason=ended_reason)
    # CommandRefused, ChatFlagged and MediaRefused change nothing: they are in the log so that
    # staff and auditors see them.
    return state
