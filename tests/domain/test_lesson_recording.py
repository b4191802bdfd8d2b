"""Recording in the lesson engine: only staff start it, only where the policy allows it and every
pupil in the lesson has a parent's yes to recording; a pupil without that yes waits until it
stops; the rules stop it by themselves when the lesson ends, staff leave or a yes is withdrawn;
and only staff (by default) go into it."""

from __future__ import annotations

from dataclasses import replace

from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.commands import (
    Admit,
    EndLesson,
    Leave,
    StartRecording,
    StopRecording,
    UpdateRoster,
)
from safeclass.domain.lesson.events import SYSTEM, RecordingChanged
from safeclass.domain.lesson.media import MediaPlan
from safeclass.domain.lesson.model import Phase
from tests.domain.test_lesson_engine import (
    AMY,
    BEN,
    CLASS,
    ELLA,
    GUESTS,
    HOST,
    STAFF,
    VISITOR,
    Lesson,
)

RECORDABLE = {"1", "2", "4"}  # Amy, Ben and Dev have a parent's yes to recording; Ella has not


def recording_lesson(**rules: object) -> Lesson:
    """The host teaching Amy and Ben, in a lesson whose policy allows recording."""
    lesson = Lesson(recording_allowed=True, **rules)
    pupils = {
        pid: replace(pupil, may_be_recorded=pid in RECORDABLE) for pid, pupil in CLASS.items()
    }
    lesson.do(UpdateRoster(pupils=pupils, staff=STAFF, guests=GUESTS))
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.pupil_in(BEN)
    return lesson


def changes(lesson: Lesson) -> list[RecordingChanged]:
    return [event for event in lesson.log if isinstance(event, RecordingChanged)]


def test_staff_start_and_stop_a_recording_and_each_has_its_number() -> None:
    lesson = recording_lesson()
    events = lesson.do(StartRecording(actor="host"))
    assert events == [
        RecordingChanged(
            at=lesson.now, recording=True, number=1, by="host", person=HOST, reason="started"
        )
    ]
    assert lesson.view("host")["recording"]["on"] is True
    assert lesson.do(StartRecording(actor="host")) == []  # already on: nothing changes
    lesson.do(StopRecording(actor="host"))
    assert lesson.view("host")["recording"]["on"] is False
    assert lesson.do(StopRecording(actor="host")) == []
    lesson.do(StartRecording(actor="host"))
    assert [(c.recording, c.number, c.reason) for c in changes(lesson)] == [
        (True, 1, "started"),
        (False, 1, "stopped"),
        (True, 2, "started"),
    ]


def test_recording_is_refused_where_the_policy_does_not_allow_it() -> None:
    lesson = Lesson()  # recording_allowed is off by default
    lesson.staff_in()
    assert lesson.refused(StartRecording(actor="host")) is ReasonCode.RECORDING_NOT_ALLOWED
    assert lesson.view("host")["recording"]["allowed"] is False


def test_a_pupil_cannot_start_a_recording() -> None:
    lesson = recording_lesson()
    assert lesson.refused(StartRecording(actor="amy")) is ReasonCode.NOT_STAFF
    assert not lesson.state.recording


def test_no_recording_while_a_pupil_without_a_yes_to_recording_is_in_the_lesson() -> None:
    lesson = recording_lesson()
    lesson.pupil_in(ELLA)
    assert lesson.refused(StartRecording(actor="host")) is ReasonCode.NO_RECORDING_CONSENT
    panel = lesson.view("host")["recording"]
    assert panel["can_start"] is False
    assert "Ella Evans" in panel["why_not"]
    # Once she has left, it may start.
    lesson.do(Leave(actor="ella"))
    assert lesson.view("host")["recording"]["can_start"] is True
    assert lesson.do(StartRecording(actor="host"))[0].recording is True  # type: ignore[union-attr]


def test_a_pupil_without_a_yes_waits_while_recording_and_is_told_why() -> None:
    lesson = recording_lesson()
    lesson.do(StartRecording(actor="host"))
    lesson.knock(ELLA)
    assert lesson.refused(Admit(actor="host", target="ella")) is ReasonCode.NO_RECORDING_CONSENT
    waiting = lesson.view("host")["waiting"][0]
    assert waiting["can_admit"] is False
    assert "recorded" in waiting["why_not"]
    told = lesson.view("ella")["lesson"]
    assert told["recording"] is True
    assert "parent or carer has not said yes" in told["recording_message"]
    # When the recording stops she can be let in.
    lesson.do(StopRecording(actor="host"))
    lesson.do(Admit(actor="host", target="ella"))
    assert lesson.p("ella").in_room


def test_everyone_in_the_lesson_is_told_it_is_being_recorded() -> None:
    lesson = recording_lesson(named_guests=True)
    lesson.pupil_in(VISITOR)
    assert lesson.view("amy")["lesson"]["recording_message"] is None
    lesson.do(StartRecording(actor="host"))
    for pid in ("host", "amy", "ben", "visitor"):
        lesson_view = lesson.view(pid)["lesson"]
        assert lesson_view["recording"] is True
        assert "being recorded" in lesson_view["recording_message"]
    assert "not you" in lesson.view("amy")["lesson"]["recording_message"]


def test_withdrawing_the_yes_to_recording_stops_the_recording_at_once() -> None:
    lesson = recording_lesson()
    lesson.do(StartRecording(actor="host"))
    pupils = {pid: replace(pupil, may_be_recorded=pid == "2") for pid, pupil in CLASS.items()}
    events = lesson.do(UpdateRoster(pupils=pupils, staff=STAFF, guests=GUESTS))
    assert events[-1] == RecordingChanged(
        at=lesson.now, recording=False, number=1, by=SYSTEM, person=None, reason="consent_withdrawn"
    )
    assert lesson.p("amy").in_room  # still in the lesson: only the recording stops
    assert not lesson.state.recording


def test_the_recording_stops_when_the_lesson_ends_or_staff_leave() -> None:
    lesson = recording_lesson()
    lesson.do(StartRecording(actor="host"))
    lesson.do(Leave(actor="host"))
    assert lesson.phase() is Phase.HELD
    assert changes(lesson)[-1].reason == "no_staff"
    lesson.staff_in(HOST, pid="host-again")
    lesson.do(StartRecording(actor="host-again"))
    lesson.do(EndLesson(actor="host-again"))
    assert lesson.phase() is Phase.ENDED
    assert [(c.recording, c.number, c.reason) for c in changes(lesson)][-1] == (
        False,
        2,
        "lesson_ended",
    )


def test_only_staff_go_into_a_recording_by_default() -> None:
    lesson = recording_lesson(named_guests=True)
    lesson.pupil_in(VISITOR)
    lesson.do(StartRecording(actor="host"))
    plan = MediaPlan.of(lesson.state)
    recorded = {p.pid for p in plan.present if plan.records(p)}
    assert recorded == {"host"}


def test_a_lesson_may_take_pupils_into_its_recording_but_never_guests() -> None:
    lesson = recording_lesson(named_guests=True, recording_excludes_pupils=False)
    lesson.pupil_in(VISITOR)
    lesson.do(StartRecording(actor="host"))
    plan = MediaPlan.of(lesson.state)
    assert {p.pid for p in plan.present if plan.records(p)} == {"host", "amy", "ben"}
    lesson.do(StopRecording(actor="host"))
    plan = MediaPlan.of(lesson.state)
    assert not any(plan.records(p) for p in plan.present)


def test_a_guest_may_be_let_in_while_recording_as_guests_are_never_recorded() -> None:
    lesson = recording_lesson(named_guests=True)
    lesson.do(StartRecording(actor="host"))
    lesson.knock(VISITOR)
    assert lesson.view("host")["waiting"][0]["can_admit"] is True
    lesson.do(Admit(actor="host", target="visitor"))
    assert lesson.p("visitor").in_room
    assert lesson.view("host")["recording"]["on"] is True


def test_once_the_lesson_has_ended_staff_are_told_a_recording_needs_it_running() -> None:
    lesson = recording_lesson()
    lesson.do(EndLesson(actor="host"))
    panel = lesson.view("host")["recording"]
    assert panel["can_start"] is False
    assert panel["why_not"] == "A recording can start once the lesson is running."


def test_pupils_are_told_when_the_lesson_records_them_and_guests_that_it_does_not() -> None:
    lesson = recording_lesson(named_guests=True, recording_excludes_pupils=False)
    lesson.pupil_in(VISITOR)
    lesson.do(StartRecording(actor="host"))
    assert "Your camera, your voice" in lesson.view("amy")["lesson"]["recording_message"]
    assert "Guests are not recorded" in lesson.view("visitor")["lesson"]["recording_message"]
