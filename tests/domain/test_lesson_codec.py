"""Lesson events to JSON and back, as they are stored in the lesson's log: every event type comes
back exactly as it went in, and a row altered into something that is not an event is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from safeclass.domain.chat_checks import ChatCheckKind, Finding
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.codec import BadEventError, event_from_json, event_to_json
from safeclass.domain.lesson.events import (
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
    LessonPrepared,
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
from safeclass.domain.lesson.model import (
    ChatTo,
    LessonRules,
    Person,
    Phase,
    Presence,
    Role,
    RosterPupil,
    RosterStaff,
    Via,
)
from safeclass.domain.policy import AdmissionMode, PupilVideoVisibility

AT = datetime(2026, 3, 2, 9, 15, 30, 250_000, tzinfo=UTC)
AMY = Person(Role.PUPIL, "1")
PUPILS = {
    "1": RosterPupil("Amy Adams", True, ReasonCode.CONSENT_GIVEN, "Consent recorded.", False),
    "3": RosterPupil("Cara Clark", False, ReasonCode.CONSENT_MISSING, "No consent yet.", True),
}
STAFF = {"7": RosterStaff("Ms Host", is_host=True)}

ONE_OF_EACH: list[AnyEvent] = [
    LessonPrepared(
        at=AT,
        lesson_id="42",
        rules=LessonRules(
            admission_mode=AdmissionMode.ALL_AT_ONCE_ALLOWED,
            pupil_video=PupilVideoVisibility.EVERYONE,
            staff_absence_grace_seconds=120,
        ),
        pupils=PUPILS,
        staff=STAFF,
        guests={"g1": "Dr Visitor"},
    ),
    RosterUpdated(at=AT, pupils=PUPILS, staff=STAFF, guests={}),
    Joined(
        at=AT,
        pid="p1",
        person=AMY,
        display_name="Amy Adams",
        device="link:1",
        via=Via.PARENT_LINK,
        presence=Presence.WAITING,
        mic_on=False,
        camera_on=True,
        mic_allowed=False,
        camera_allowed=True,
        duplicate_of="p0",
        parent_present=True,
    ),
    JoinRefused(
        at=AT,
        person=Person(Role.GUEST, "g2"),
        display_name="Someone not expected",
        device="invite:g2",
        reason=ReasonCode.NOT_INVITED,
        message="This invitation is not for this lesson, or it was withdrawn.",
    ),
    Admitted(at=AT, pid="p1", by="s1"),
    Denied(at=AT, pid="p2", by="s1"),
    Left(at=AT, pid="p1"),
    Disconnected(at=AT, pid="p1"),
    Reconnected(at=AT, pid="p1"),
    Removed(at=AT, pid="p1", by="s1", reason="Unkind words in chat"),
    LockChanged(at=AT, locked=True, by="system", automatic=True),
    MicChanged(at=AT, pid="p1", on=False, allowed=False, by="s1"),
    CameraChanged(at=AT, pid="p1", on=False, allowed=True, by="s1"),
    HandChanged(at=AT, pid="p1", raised=True, wants_to_speak=True, by="p1"),
    ScreenShareGrantChanged(at=AT, pid="p1", granted=True, by="s1"),
    ScreenShareChanged(at=AT, pid="p1", sharing=True, by="p1"),
    SuspendChanged(at=AT, suspended=True, by="s1"),
    ChatSent(
        at=AT,
        message_id=3,
        pid="p1",
        person=AMY,
        display_name="Amy Adams",
        to=ChatTo.STAFF,
        text='Mr "Quote" — café ✓',
    ),
    ChatFlagged(
        at=AT,
        pid="p1",
        person=AMY,
        display_name="Amy Adams",
        to=ChatTo.CLASS,
        text="ring me 07700 900123 ✓",
        findings=(Finding(ChatCheckKind.PHONE_NUMBER, 8, 20),),
        blocked=True,
        message_id=None,
        reminder="Your message has not been sent.",
    ),
    ChatPauseChanged(at=AT, paused=True, by="s1"),
    RecordingChanged(
        at=AT, recording=True, number=1, by="s1", person=Person(Role.STAFF, "3"), reason="started"
    ),
    RecordingChanged(at=AT, recording=False, number=1, by="system", person=None, reason="no_staff"),
    MediaRefused(
        at=AT,
        pid="p1",
        request="publish screen",
        reason="no_grant",
        message="Ask your teacher before you share your screen.",
    ),
    PhaseChanged(at=AT, phase=Phase.HELD, reason="no_staff"),
    CommandRefused(
        at=AT,
        actor="p1",
        command="Lock",
        reason=ReasonCode.NOT_STAFF,
        message="Only staff can do that.",
    ),
]


def test_the_examples_cover_every_event_type() -> None:
    assert {type(event) for event in ONE_OF_EACH} == set(get_args(AnyEvent))


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda event: event.type)
def test_every_event_type_round_trips_through_json(event: AnyEvent) -> None:
    stored = json.loads(json.dumps(event_to_json(event)))
    assert stored["type"] == event.type
    assert event_from_json(stored) == event


def test_times_are_stored_with_their_timezone() -> None:
    assert event_to_json(Left(at=AT, pid="p1"))["at"] == "2026-03-02T09:15:30.250000Z"


def tampered(change: dict[str, Any], *, drop: str | None = None) -> dict[str, Any]:
    data = {**event_to_json(ONE_OF_EACH[2]), **change}  # a Joined event
    if drop is not None:
        del data[drop]
    return data


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(tampered({"type": "made_up"}), id="unknown type"),
        pytest.param(tampered({"presence": "teleported"}), id="unknown presence"),
        pytest.param(tampered({"at": "yesterday"}), id="not a time"),
        pytest.param(tampered({"mic_on": "maybe"}), id="not a yes or no"),
        pytest.param(tampered({"person": {"role": "headteacher", "id": "1"}}), id="unknown role"),
        pytest.param(tampered({}, drop="pid"), id="missing field"),
        pytest.param(tampered({}, drop="type"), id="missing type"),
        pytest.param({**event_to_json(ONE_OF_EACH[-1]), "reason": "because"}, id="bad reason"),
        pytest.param("joined", id="not an object"),
        pytest.param(None, id="nothing"),
    ],
)
def test_a_tampered_event_is_refused(data: object) -> None:
    with pytest.raises(BadEventError, match="Not a lesson event"):
        event_from_json(data)
