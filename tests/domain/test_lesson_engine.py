"""The lesson engine, rule by rule: the waiting room and the door, supervision, no 1:1 lessons,
moderation, chat, the end of a lesson, and what each participant is shown.

Each test drives a small lesson one command at a time through `decide` and `evolve`, the way the
server does, and checks after every command that the log replays to the same state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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
    StartScreenShare,
    StopCamera,
    StopScreenShare,
    Suspend,
    Targeted,
    Tick,
    Unlock,
    UpdateRoster,
)
from safeclass.domain.lesson.decide import STAFF_ONLY_COMMANDS, admission_refusal, decide
from safeclass.domain.lesson.events import (
    SYSTEM,
    Admitted,
    AnyEvent,
    CameraChanged,
    ChatSent,
    CommandRefused,
    HandChanged,
    JoinRefused,
    LessonPrepared,
    LockChanged,
    MicChanged,
    PhaseChanged,
    Removed,
    RosterUpdated,
    ScreenShareChanged,
    ScreenShareGrantChanged,
)
from safeclass.domain.lesson.evolve import evolve, replay, start
from safeclass.domain.lesson.media import MediaKind, chat_recipients, may_publish, may_receive
from safeclass.domain.lesson.model import (
    MAX_CHAT_LENGTH,
    ChatTo,
    HoldReason,
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
    new_lesson,
)
from safeclass.domain.lesson.view import hold_words, view_for, views_for
from safeclass.domain.policy import (
    AdmissionMode,
    PupilUnmute,
    PupilVideoVisibility,
    ScreenSharing,
    TrustPolicy,
    resolve,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

HOST = Person(Role.STAFF, "1")
ASSISTANT = Person(Role.STAFF, "2")
OTHER_TEACHER = Person(Role.STAFF, "7")  # teaches another lesson
AMY = Person(Role.PUPIL, "1")
BEN = Person(Role.PUPIL, "2")
CARA = Person(Role.PUPIL, "3")  # no consent
DEV = Person(Role.PUPIL, "4")  # young: comes with a parent
ELLA = Person(Role.PUPIL, "5")
ZED = Person(Role.PUPIL, "9")  # not in this class
VISITOR = Person(Role.GUEST, "g1")
GATECRASHER = Person(Role.GUEST, "g2")

PID = {
    HOST: "host",
    ASSISTANT: "assistant",
    OTHER_TEACHER: "other-teacher",
    AMY: "amy",
    BEN: "ben",
    CARA: "cara",
    DEV: "dev",
    ELLA: "ella",
    ZED: "zed",
    VISITOR: "visitor",
    GATECRASHER: "gatecrasher",
}

NO_CONSENT = "Cara's parent or carer has not given consent for live lessons."


def pupil(name: str, *, parent_mediated: bool = False) -> RosterPupil:
    return RosterPupil(name, True, ReasonCode.CONSENT_GIVEN, "Consent recorded.", parent_mediated)


CLASS = {
    "1": pupil("Amy Adams"),
    "2": pupil("Ben Brown"),
    "3": RosterPupil("Cara Clark", False, ReasonCode.CONSENT_MISSING, NO_CONSENT, False),
    "4": pupil("Dev Dhillon", parent_mediated=True),
    "5": pupil("Ella Evans"),
}
STAFF = {"1": RosterStaff("Ms Host", is_host=True), "2": RosterStaff("Mr Assistant", is_host=False)}
GUESTS = {"g1": "Dr Visitor"}


def proper_door(person: Person) -> Via:
    if person.role is Role.STAFF:
        return Via.STAFF_SIGN_IN
    if person.role is Role.GUEST:
        return Via.GUEST_INVITE
    pupil = CLASS.get(person.id)
    return Via.PARENT_LINK if pupil is not None and pupil.parent_mediated else Via.PUPIL_LINK


class Lesson:
    """One lesson and its log, driven the way the server drives it, on a clock the test moves."""

    def __init__(self, **rules: Any) -> None:
        self.now = T0
        prepared = LessonPrepared(
            at=T0,
            lesson_id="L1",
            rules=replace(LessonRules(), **rules),
            pupils=CLASS,
            staff=STAFF,
            guests=GUESTS,
        )
        self.state = start(prepared)
        self.log: list[AnyEvent] = [prepared]

    def do(self, command: Command) -> list[AnyEvent]:
        events = decide(self.state, command, self.now)
        for event in events:
            self.state = evolve(self.state, event)
        self.log += events
        assert replay(self.log) == self.state
        return events

    def refused(self, command: Command) -> ReasonCode:
        """The reason a command is refused; it must be refused with one event and nothing else."""
        events = self.do(command)
        assert len(events) == 1, events
        refusal = events[0]
        assert isinstance(refusal, CommandRefused | JoinRefused), refusal
        return refusal.reason

    def later(self, seconds: int) -> list[AnyEvent]:
        self.now += timedelta(seconds=seconds)
        return self.do(Tick())

    # People coming in.

    def knock(
        self,
        person: Person,
        pid: str | None = None,
        *,
        via: Via | None = None,
        reminder: bool = True,
        parent: bool | None = None,
    ) -> list[AnyEvent]:
        via = via or proper_door(person)
        return self.do(
            Join(
                pid=pid or PID[person],
                person=person,
                device=f"link-of-{pid or PID[person]}",
                via=via,
                reminder_accepted=reminder,
                parent_present=via is Via.PARENT_LINK if parent is None else parent,
            )
        )

    def staff_in(self, person: Person = HOST, pid: str | None = None) -> str:
        self.knock(person, pid)
        pid = pid or PID[person]
        assert self.p(pid).in_room
        return pid

    def pupil_in(self, person: Person, pid: str | None = None, *, by: str = "host") -> str:
        pid = pid or PID[person]
        self.knock(person, pid)
        self.do(Admit(actor=by, target=pid))
        assert self.p(pid).in_room
        return pid

    # Looking.

    def p(self, pid: str) -> Participant:
        return self.state.participants[pid]

    def view(self, pid: str) -> dict[str, Any]:
        return view_for(self.state, pid)

    def receives(self, viewer: str) -> set[tuple[str, str]]:
        return {(item["pid"], item["kind"]) for item in self.view(viewer)["media"]["receive"]}

    def hold(self) -> HoldReason | None:
        return self.state.hold_reason()

    def phase(self) -> Phase:
        return self.state.phase


def class_in_session(**rules: Any) -> Lesson:
    """The host teaching Amy and Ben."""
    lesson = Lesson(**rules)
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.pupil_in(BEN)
    assert lesson.hold() is None
    return lesson


def types(events: list[AnyEvent]) -> list[str]:
    return [event.type for event in events]


def roster_with(**changes: RosterPupil) -> dict[str, RosterPupil]:
    return {**CLASS, **changes}


WITHDRAWN = RosterPupil(
    "Ben Brown", False, ReasonCode.CONSENT_WITHDRAWN, "Ben's consent was withdrawn.", False
)


# --- At the door ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    person: Person
    reason: ReasonCode
    shown_as: str
    via: Via | None = None
    reminder: bool = True
    parent: bool | None = None
    rules: tuple[tuple[str, Any], ...] = ()
    before: Callable[[Lesson], object] = lambda lesson: None


def remove_amy(lesson: Lesson) -> None:
    lesson.pupil_in(AMY)
    lesson.do(Remove(actor="host", target="amy"))


def withdraw_bens_consent(lesson: Lesson) -> None:
    lesson.do(UpdateRoster(pupils=roster_with(**{"2": WITHDRAWN}), staff=STAFF, guests=GUESTS))


DOORS = {
    "no consent": Door(CARA, ReasonCode.CONSENT_MISSING, "Cara Clark"),
    "consent withdrawn": Door(
        BEN, ReasonCode.CONSENT_WITHDRAWN, "Ben Brown", before=withdraw_bens_consent
    ),
    "not on the class list": Door(ZED, ReasonCode.NOT_ON_ROSTER, "Someone not expected"),
    "removed, on a new device": Door(AMY, ReasonCode.REMOVED, "Amy Adams", before=remove_amy),
    "locked": Door(
        AMY, ReasonCode.LOCKED, "Amy Adams", before=lambda lesson: lesson.do(Lock(actor="host"))
    ),
    "locked, for a guest too": Door(
        VISITOR,
        ReasonCode.LOCKED,
        "Dr Visitor",
        rules=(("named_guests", True),),
        before=lambda lesson: lesson.do(Lock(actor="host")),
    ),
    "young pupil on their own link": Door(
        DEV, ReasonCode.PARENT_REQUIRED, "Dev Dhillon", via=Via.PUPIL_LINK
    ),
    "young pupil, parent not there": Door(
        DEV, ReasonCode.PARENT_REQUIRED, "Dev Dhillon", parent=False
    ),
    "reminder not accepted": Door(
        AMY, ReasonCode.REMINDER_NOT_ACCEPTED, "Amy Adams", reminder=False
    ),
    "guests are off": Door(VISITOR, ReasonCode.GUESTS_NOT_ALLOWED, "Dr Visitor"),
    "uninvited guest": Door(
        GATECRASHER,
        ReasonCode.NOT_INVITED,
        "Someone not expected",
        rules=(("named_guests", True),),
    ),
    "guest on a pupil's link": Door(
        VISITOR,
        ReasonCode.WRONG_DOOR,
        "Dr Visitor",
        via=Via.PUPIL_LINK,
        rules=(("named_guests", True),),
    ),
    "pupil at the staff door": Door(AMY, ReasonCode.WRONG_DOOR, "Amy Adams", via=Via.STAFF_SIGN_IN),
    "staff on a pupil's link": Door(
        ASSISTANT, ReasonCode.WRONG_DOOR, "Mr Assistant", via=Via.PUPIL_LINK
    ),
    "staff of another lesson": Door(
        OTHER_TEACHER, ReasonCode.NOT_ON_ROSTER, "Someone not expected"
    ),
}


@pytest.mark.parametrize("door", DOORS.values(), ids=DOORS.keys())
def test_refused_at_the_door_with_a_reason_that_staff_see(door: Door) -> None:
    lesson = Lesson(**dict(door.rules))
    lesson.staff_in()
    door.before(lesson)
    pid = "knocking"
    events = lesson.knock(
        door.person, pid, via=door.via, reminder=door.reminder, parent=door.parent
    )

    assert len(events) == 1
    refused = events[0]
    assert isinstance(refused, JoinRefused)
    assert refused.reason is door.reason
    assert refused.person == door.person
    assert pid not in lesson.state.participants
    turned_away = lesson.view("host")["turned_away"][-1]
    assert turned_away["name"] == door.shown_as
    assert turned_away["reason"] == door.reason.value
    assert turned_away["message"] == refused.message
    assert lesson.view("host")["waiting"] == []


def test_a_pupil_without_consent_hears_why_in_words() -> None:
    lesson = Lesson()
    events = lesson.knock(CARA)
    assert isinstance(events[0], JoinRefused)
    assert events[0].message == NO_CONSENT


def test_the_reminder_is_needed_only_when_the_policy_asks_for_it() -> None:
    lesson = Lesson(reminder_required=False)
    lesson.knock(AMY, reminder=False)
    assert lesson.p("amy").is_waiting


def test_a_young_pupil_comes_in_with_a_parent_on_the_parents_link() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.knock(DEV)
    assert lesson.p("dev").parent_present
    assert lesson.view("host")["waiting"][0]["parent_present"] is True


def test_an_invited_guest_waits_like_everyone_else() -> None:
    lesson = Lesson(named_guests=True)
    lesson.staff_in()
    lesson.knock(VISITOR)
    assert lesson.p("visitor").is_waiting
    lesson.do(Admit(actor="host", target="visitor"))
    assert lesson.p("visitor").in_room


def test_joining_twice_with_one_connection_is_refused() -> None:
    lesson = Lesson()
    lesson.knock(AMY)
    assert lesson.refused(Join(pid="amy", person=AMY, device="x", via=Via.PUPIL_LINK)) is (
        ReasonCode.NO_CHANGE
    )


def test_everyone_but_staff_waits_and_pupils_join_muted_with_cameras_off() -> None:
    lesson = Lesson()
    lesson.knock(AMY)
    amy = lesson.p("amy")
    assert amy.presence is Presence.WAITING
    assert (amy.mic_on, amy.mic_allowed, amy.camera_on) == (False, False, False)


def test_when_the_policy_lets_pupils_unmute_they_may_join_with_sound_and_video() -> None:
    lesson = Lesson(pupil_unmute=PupilUnmute.SELF, join_muted=False, join_camera_off=False)
    lesson.knock(AMY)
    amy = lesson.p("amy")
    assert (amy.mic_on, amy.mic_allowed, amy.camera_on) == (True, True, True)


# --- Consent and the class list changing during the lesson ------------------------------------


def test_consent_withdrawn_mid_lesson_removes_a_waiting_pupil() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.knock(BEN)
    events = lesson.do(
        UpdateRoster(pupils=roster_with(**{"2": WITHDRAWN}), staff=STAFF, guests=GUESTS)
    )
    assert types(events) == ["roster_updated", "left", "join_refused"]
    assert lesson.p("ben").presence is Presence.LEFT
    panel = lesson.view("host")
    assert panel["waiting"] == []
    assert panel["turned_away"][-1]["name"] == "Ben Brown"
    assert panel["turned_away"][-1]["reason"] == "consent_withdrawn"
    assert panel["turned_away"][-1]["message"] == "Ben's consent was withdrawn."


def test_consent_withdrawn_mid_lesson_takes_a_pupil_out_of_the_room() -> None:
    lesson = class_in_session()
    lesson.do(UpdateRoster(pupils=roster_with(**{"2": WITHDRAWN}), staff=STAFF, guests=GUESTS))
    assert lesson.p("ben").presence is Presence.LEFT
    assert lesson.hold() is HoldReason.ONE_TO_ONE  # only Amy is left with the host


def test_a_pupil_taken_off_the_class_list_leaves() -> None:
    lesson = class_in_session()
    pupils = {k: v for k, v in CLASS.items() if k != "2"}
    lesson.do(UpdateRoster(pupils=pupils, staff=STAFF, guests=GUESTS))
    assert lesson.p("ben").presence is Presence.LEFT
    assert lesson.view("host")["turned_away"][-1]["reason"] == "not_on_roster"


def test_a_guest_whose_invitation_is_withdrawn_leaves() -> None:
    lesson = Lesson(named_guests=True)
    lesson.staff_in()
    lesson.knock(VISITOR)
    lesson.do(UpdateRoster(pupils=CLASS, staff=STAFF, guests={}))
    assert lesson.p("visitor").presence is Presence.LEFT
    assert lesson.view("host")["turned_away"][-1]["reason"] == "not_invited"


def test_staff_taken_off_the_lesson_leave_and_pupils_are_held() -> None:
    lesson = class_in_session()
    lesson.do(UpdateRoster(pupils=CLASS, staff={"2": STAFF["2"]}, guests=GUESTS))
    assert lesson.p("host").presence is Presence.LEFT
    assert lesson.phase() is Phase.HELD


def test_an_unchanged_roster_writes_nothing() -> None:
    lesson = class_in_session()
    assert lesson.do(UpdateRoster(pupils=dict(CLASS), staff=dict(STAFF), guests=GUESTS)) == []


def test_a_new_roster_with_everyone_still_welcome_is_recorded_and_sends_nobody_away() -> None:
    lesson = class_in_session(named_guests=True)
    lesson.pupil_in(VISITOR)
    lesson.do(Leave(actor="ben"))
    cara_may_come = replace(CLASS["3"], consent_ok=True, consent_reason=ReasonCode.CONSENT_GIVEN)
    events = lesson.do(
        UpdateRoster(pupils=roster_with(**{"3": cara_may_come}), staff=STAFF, guests=GUESTS)
    )
    assert types(events) == ["roster_updated"]
    assert isinstance(events[0], RosterUpdated)
    lesson.knock(CARA)
    assert lesson.p("cara").is_waiting


def test_consent_is_checked_again_when_someone_is_let_in() -> None:
    # The roster update takes a pupil whose consent is withdrawn out of the waiting room; were
    # it ever missed, letting them in would still be refused.
    lesson = Lesson(named_guests=True)
    lesson.staff_in()
    lesson.knock(BEN)
    lesson.knock(ZED, via=Via.PUPIL_LINK)  # refused at the door, kept out of the room
    lesson.knock(VISITOR)
    stale = replace(lesson.state, pupils=roster_with(**{"2": WITHDRAWN}), guests={})
    for pid, reason in (("ben", ReasonCode.CONSENT_WITHDRAWN), ("visitor", ReasonCode.NOT_INVITED)):
        refusal = admission_refusal(stale, stale.participants[pid])
        assert refusal is not None
        assert refusal.reason is reason
        events = decide(stale, Admit(actor="host", target=pid), T0)
        assert isinstance(events[0], CommandRefused)
        assert events[0].reason is reason
    gone = replace(lesson.state, pupils={})
    refusal = admission_refusal(gone, gone.participants["ben"])
    assert refusal is not None
    assert refusal.reason is ReasonCode.NOT_ON_ROSTER


# --- A second device --------------------------------------------------------------------------


def test_a_refused_media_request_is_kept_in_the_log_and_changes_nothing() -> None:
    lesson = class_in_session()
    before = lesson.state
    events = lesson.do(
        NoteMediaRefusal(
            actor="amy", request="publish screen", reason="no_grant", message="Ask first."
        )
    )
    assert types(events) == ["media_refused"]
    assert lesson.state == before
    lesson.do(Leave(actor="amy"))
    assert (
        lesson.refused(
            NoteMediaRefusal(actor="amy", request="publish camera", reason="x", message="x")
        )
        is ReasonCode.NOT_IN_LESSON
    )


def test_second_device_is_flagged_and_never_admitted_while_the_first_is_in() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.pupil_in(BEN)
    lesson.knock(AMY, "amy-phone")
    assert lesson.p("amy-phone").duplicate_of == "amy"

    waiting = lesson.view("host")["waiting"][0]
    assert waiting["flags"] == ["second_device"]
    assert waiting["can_admit"] is False
    assert "another device" in waiting["why_not"]
    assert lesson.refused(Admit(actor="host", target="amy-phone")) is ReasonCode.DUPLICATE_DEVICE
    assert lesson.refused(AdmitNext(actor="host")) is ReasonCode.NOTHING_WAITING

    lesson.do(Leave(actor="amy"))
    lesson.do(Admit(actor="host", target="amy-phone"))
    assert lesson.p("amy-phone").in_room


def test_two_devices_waiting_at_once_are_flagged_and_only_one_comes_in() -> None:
    lesson = Lesson(admission_mode=AdmissionMode.ALL_AT_ONCE_ALLOWED)
    lesson.knock(AMY)
    lesson.knock(AMY, "amy-phone")
    assert lesson.p("amy-phone").duplicate_of == "amy"
    lesson.staff_in()
    events = lesson.do(AdmitAll(actor="host"))
    assert [e.pid for e in events if isinstance(e, Admitted)] == ["amy"]
    assert lesson.view("host")["waiting"][0]["flags"] == ["second_device"]


def test_an_old_device_coming_back_while_the_pupil_is_in_on_another_is_refused() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.pupil_in(BEN)
    lesson.do(Disconnect(pid="amy"))
    lesson.pupil_in(AMY, "amy-phone")

    events = lesson.do(Reconnect(pid="amy"))
    assert len(events) == 1
    assert isinstance(events[0], CommandRefused)
    assert events[0].reason is ReasonCode.DUPLICATE_DEVICE
    assert events[0].actor == "amy"  # the refusal goes back to that device
    assert [p.pid for p in lesson.state.in_room(Role.PUPIL)] == ["ben", "amy-phone"]


def test_a_waiting_device_may_come_back_while_the_pupil_is_in_on_another() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.knock(AMY, "amy-phone")
    lesson.do(Disconnect(pid="amy-phone"))
    lesson.pupil_in(AMY)
    lesson.do(Reconnect(pid="amy-phone"))
    assert lesson.p("amy-phone").is_waiting
    waiting = lesson.view("host")["waiting"][0]
    assert waiting["flags"] == ["second_device"]  # flagged now, though not when it knocked
    assert waiting["can_admit"] is False


def test_a_teacher_on_two_devices_is_still_one_member_of_staff() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.staff_in(HOST, "host-phone")
    lesson.pupil_in(AMY)
    assert lesson.state.staff_in_room() == 1
    assert lesson.hold() is HoldReason.ONE_TO_ONE
    lesson.do(SetCamera(actor="host", on=True))
    assert not may_receive(lesson.state, "host-phone", "host", MediaKind.VIDEO)
    lesson.do(Disconnect(pid="host-phone"))
    lesson.do(Reconnect(pid="host-phone"))  # staff may keep two devices in
    assert lesson.p("host-phone").in_room


# --- Letting people in ------------------------------------------------------------------------


def test_staff_who_join_are_admitted_at_once_host_or_not() -> None:
    lesson = Lesson()
    lesson.knock(AMY)
    lesson.staff_in(ASSISTANT)
    assert lesson.p("assistant").presence is Presence.ADMITTED
    assert lesson.phase() is Phase.OPEN
    lesson.do(Lock(actor="assistant"))
    lesson.staff_in()  # a locked lesson is locked to newcomers, not to its own staff
    assert lesson.view("host")["you"]["is_host"] is True
    assert lesson.view("assistant")["you"]["is_host"] is False


def test_only_staff_admit_one_at_a_time() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.knock(AMY)
    lesson.knock(BEN)
    assert lesson.refused(Admit(actor="ben", target="amy")) is ReasonCode.NOT_STAFF
    events = lesson.do(Admit(actor="host", target="amy"))
    assert events == [Admitted(at=T0, pid="amy", by="host")]
    assert lesson.p("ben").is_waiting


def test_admit_next_lets_in_whoever_came_first_and_can_come_in() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.knock(AMY, "amy-phone")  # first, but Amy is already in
    lesson.later(1)
    lesson.knock(ELLA)
    lesson.later(1)
    lesson.knock(BEN)
    lesson.do(AdmitNext(actor="host"))
    assert lesson.p("ella").in_room
    assert lesson.p("ben").is_waiting
    lesson.do(AdmitNext(actor="host"))
    assert lesson.p("ben").in_room
    assert lesson.refused(AdmitNext(actor="host")) is ReasonCode.NOTHING_WAITING


def test_admit_all_only_when_the_policy_allows_it() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.knock(AMY)
    lesson.knock(BEN)
    assert lesson.refused(AdmitAll(actor="host")) is ReasonCode.ONE_AT_A_TIME
    assert lesson.state.waiting() != []

    lesson = Lesson(admission_mode=AdmissionMode.ALL_AT_ONCE_ALLOWED)
    lesson.staff_in()
    lesson.knock(AMY)
    lesson.knock(BEN)
    events = lesson.do(AdmitAll(actor="host"))
    assert [e.pid for e in events if isinstance(e, Admitted)] == ["amy", "ben"]
    assert lesson.refused(AdmitAll(actor="host")) is ReasonCode.NOTHING_WAITING


def test_admitting_someone_who_is_not_waiting_is_refused() -> None:
    lesson = class_in_session()
    assert lesson.refused(Admit(actor="host", target="amy")) is ReasonCode.NOT_WAITING
    assert lesson.refused(Admit(actor="host", target="nobody")) is ReasonCode.NOT_IN_LESSON


def test_someone_waiting_whose_connection_dropped_cannot_be_admitted() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.knock(AMY)
    lesson.do(Disconnect(pid="amy"))
    assert lesson.refused(Admit(actor="host", target="amy")) is ReasonCode.NOT_WAITING


def test_deny_sends_someone_waiting_away() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.knock(AMY)
    lesson.do(Deny(actor="host", target="amy"))
    assert lesson.p("amy").presence is Presence.DENIED
    assert lesson.view("host")["waiting"] == []
    assert lesson.refused(Deny(actor="host", target="amy")) is ReasonCode.NOT_WAITING
    lesson.do(Disconnect(pid="amy"))
    assert lesson.refused(Reconnect(pid="amy")) is ReasonCode.NOT_IN_LESSON


def test_auto_lock_when_the_roster_is_complete() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.pupil_in(BEN)
    lesson.pupil_in(DEV)
    lesson.knock(ELLA)
    events = lesson.do(Admit(actor="host", target="ella"))
    assert events[-1] == LockChanged(at=T0, locked=True, by=SYSTEM, automatic=True)
    assert lesson.state.locked
    assert lesson.refused(Join(pid="amy-2", person=AMY, device="x", via=Via.PUPIL_LINK)) is (
        ReasonCode.LOCKED
    )


def test_no_auto_lock_when_the_policy_turns_it_off() -> None:
    lesson = Lesson(auto_lock=False)
    lesson.staff_in()
    for person in (AMY, BEN, DEV, ELLA):
        lesson.pupil_in(person)
    assert not lesson.state.locked


def test_lock_and_unlock() -> None:
    lesson = Lesson()
    lesson.staff_in()
    assert types(lesson.do(Lock(actor="host"))) == ["lock_changed"]
    assert lesson.do(Lock(actor="host")) == []
    assert lesson.knock(AMY)[0].type == "join_refused"
    lesson.do(Unlock(actor="host"))
    assert lesson.do(Unlock(actor="host")) == []
    lesson.knock(AMY)
    assert lesson.p("amy").is_waiting


def test_someone_already_waiting_can_be_let_in_after_the_lock() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.knock(AMY)
    lesson.do(Lock(actor="host"))
    lesson.do(Admit(actor="host", target="amy"))
    assert lesson.p("amy").in_room


# --- Supervision: pupils are never in the room without staff -----------------------------------


def test_pupils_wait_until_staff_arrive() -> None:
    lesson = Lesson()
    lesson.knock(AMY)
    lesson.knock(BEN)
    assert lesson.phase() is Phase.SCHEDULED
    assert lesson.hold() is HoldReason.NOT_STARTED
    assert "not here yet" in lesson.view("amy")["lesson"]["hold_message"]
    assert lesson.later(3600) == []  # no grace period runs before staff have come
    lesson.staff_in()
    assert lesson.phase() is Phase.OPEN


def test_last_staff_leaving_returns_pupils_to_waiting_room() -> None:
    lesson = class_in_session(pupil_unmute=PupilUnmute.SELF)
    lesson.do(SetMic(actor="amy", on=True))
    lesson.do(SetCamera(actor="amy", on=True))
    events = lesson.do(Leave(actor="host"))

    assert PhaseChanged(at=T0, phase=Phase.HELD, reason="no_staff") in events
    assert lesson.hold() is HoldReason.NO_STAFF
    amy = lesson.view("amy")
    assert amy["in_room"] == []  # back in a waiting room: nobody sees who else is there
    assert amy["media"] == {
        "publish": {"audio": False, "video": False, "screen": False},
        "receive": [],
    }
    assert "stepped out" in amy["lesson"]["hold_message"]
    # Fail closed: microphones and cameras are switched off, not just not forwarded.
    assert (lesson.p("amy").mic_on, lesson.p("amy").camera_on) == (False, False)
    assert lesson.refused(SendChat(actor="amy", to=ChatTo.CLASS, text="hi")) is (
        ReasonCode.MEDIA_HELD
    )

    lesson.staff_in(HOST, "host-again")
    assert lesson.phase() is Phase.OPEN
    assert lesson.p("amy").in_room  # back without being let in again
    assert not may_publish(lesson.state, "amy", MediaKind.AUDIO)  # until she turns it on


def test_last_staff_dropping_holds_pupils_too() -> None:
    lesson = class_in_session()
    lesson.do(Disconnect(pid="host"))
    assert lesson.phase() is Phase.HELD
    lesson.do(Reconnect(pid="host"))
    assert lesson.phase() is Phase.OPEN


def test_one_member_of_staff_leaving_while_another_stays_keeps_the_lesson_open() -> None:
    lesson = class_in_session()
    lesson.staff_in(ASSISTANT)
    lesson.do(Leave(actor="host"))
    assert lesson.phase() is Phase.OPEN
    assert lesson.hold() is None


def test_lesson_ends_after_grace_when_no_staff_return() -> None:
    lesson = class_in_session(staff_absence_grace_seconds=300)
    lesson.do(Leave(actor="host"))
    assert lesson.later(299) == []
    events = lesson.later(1)
    assert events == [PhaseChanged(at=lesson.now, phase=Phase.ENDED, reason="no_staff_returned")]
    assert lesson.state.ended_reason == "no_staff_returned"
    assert lesson.view("amy")["lesson"]["hold_message"] == (
        "This lesson has ended. Thank you for joining."
    )


def test_staff_returning_within_the_grace_period_carry_on_the_lesson() -> None:
    lesson = class_in_session(staff_absence_grace_seconds=300)
    lesson.do(Leave(actor="host"))
    lesson.later(200)
    lesson.staff_in(ASSISTANT)
    assert lesson.later(600) == []
    assert lesson.phase() is Phase.OPEN


def test_time_passing_in_a_running_lesson_changes_nothing() -> None:
    lesson = class_in_session()
    assert lesson.later(10_000) == []


# --- No 1:1 lessons ---------------------------------------------------------------------------


def test_one_pupil_with_one_staff_holds_media_and_says_why() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.do(SetCamera(actor="host", on=True))
    lesson.do(SetCamera(actor="amy", on=True))

    assert lesson.hold() is HoldReason.ONE_TO_ONE
    pupil_view, staff_view = lesson.view("amy"), lesson.view("host")
    assert pupil_view["lesson"]["hold"] == staff_view["lesson"]["hold"] == "one_to_one"
    assert "waiting for another pupil or a second teacher" in pupil_view["lesson"]["hold_message"]
    assert "no one-to-one lessons" in staff_view["lesson"]["hold_message"]
    assert pupil_view["media"]["receive"] == []
    assert staff_view["media"]["receive"] == []
    assert lesson.refused(SendChat(actor="amy", to=ChatTo.STAFF, text="hi")) is (
        ReasonCode.MEDIA_HELD
    )


def test_a_second_pupil_lifts_the_one_to_one_hold() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.pupil_in(BEN)
    assert lesson.hold() is None
    assert lesson.view("amy")["lesson"]["hold_message"] is None


def test_second_staff_member_lifts_the_one_to_one_hold() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.do(SetCamera(actor="host", on=True))
    assert lesson.hold() is HoldReason.ONE_TO_ONE
    lesson.staff_in(ASSISTANT)
    assert lesson.hold() is None
    assert ("host", "video") in lesson.receives("amy")
    lesson.do(Leave(actor="assistant"))
    assert lesson.hold() is HoldReason.ONE_TO_ONE


def test_a_guest_is_an_adult_but_not_staff_so_the_hold_stays() -> None:
    lesson = Lesson(named_guests=True)
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.pupil_in(VISITOR)
    lesson.do(SetCamera(actor="visitor", on=True))
    assert lesson.hold() is HoldReason.ONE_TO_ONE
    assert lesson.receives("host") == set()
    assert lesson.receives("visitor") == set()


@pytest.mark.parametrize(
    ("pupils", "staff", "minimum", "held"),
    [
        (1, 1, 2, True),
        (2, 1, 2, False),
        (1, 2, 2, False),
        (2, 1, 3, True),
        (3, 1, 3, False),
        (2, 2, 3, False),
    ],
)
def test_how_many_pupils_one_member_of_staff_needs(
    pupils: int, staff: int, minimum: int, held: bool
) -> None:
    lesson = Lesson(min_pupils_without_second_staff=minimum, auto_lock=False)
    for member in (HOST, ASSISTANT)[:staff]:
        lesson.staff_in(member)
    for person in (AMY, BEN, ELLA)[:pupils]:
        lesson.pupil_in(person)
    assert (lesson.hold() is HoldReason.ONE_TO_ONE) is held


def test_staff_alone_with_each_other_are_not_held() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.staff_in(ASSISTANT)
    lesson.do(SetMic(actor="host", on=True))
    assert lesson.hold() is None
    assert lesson.receives("assistant") == {("host", "audio")}


# --- Microphones and cameras ------------------------------------------------------------------


def test_mute_and_unmute_with_ask_to_speak() -> None:
    lesson = class_in_session()
    assert lesson.refused(SetMic(actor="amy", on=True)) is ReasonCode.MIC_NEEDS_PERMISSION

    assert lesson.do(AskToSpeak(actor="amy")) == [
        HandChanged(at=T0, pid="amy", raised=True, wants_to_speak=True, by="amy")
    ]
    assert lesson.do(AskToSpeak(actor="amy")) == []
    assert lesson.view("host")["in_room"][1]["wants_to_speak"] is True

    events = lesson.do(AllowMic(actor="host", target="amy"))
    assert events == [
        MicChanged(at=T0, pid="amy", on=False, allowed=True, by="host"),
        HandChanged(at=T0, pid="amy", raised=False, wants_to_speak=False, by="host"),
    ]
    assert lesson.do(AllowMic(actor="host", target="amy")) == []
    lesson.do(SetMic(actor="amy", on=True))
    assert may_publish(lesson.state, "amy", MediaKind.AUDIO)
    assert ("amy", "audio") in lesson.receives("ben")

    lesson.do(MuteMic(actor="host", target="amy"))
    assert (lesson.p("amy").mic_on, lesson.p("amy").mic_allowed) == (False, False)
    assert not may_publish(lesson.state, "amy", MediaKind.AUDIO)
    assert ("amy", "audio") not in lesson.receives("ben")
    assert lesson.do(MuteMic(actor="host", target="amy")) == []
    assert lesson.refused(SetMic(actor="amy", on=True)) is ReasonCode.MIC_NEEDS_PERMISSION


def test_a_raised_hand_then_asking_to_speak() -> None:
    lesson = class_in_session()
    lesson.do(RaiseHand(actor="amy"))
    assert (lesson.p("amy").hand_raised, lesson.p("amy").wants_to_speak) == (True, False)
    assert lesson.do(RaiseHand(actor="amy")) == []
    lesson.do(AskToSpeak(actor="amy"))
    assert lesson.p("amy").wants_to_speak
    assert lesson.do(RaiseHand(actor="amy")) == []  # asking to speak is a raised hand already


def test_allowing_a_mic_lowers_a_raised_hand_and_only_then() -> None:
    lesson = class_in_session()
    lesson.do(RaiseHand(actor="amy"))
    assert types(lesson.do(AllowMic(actor="host", target="amy"))) == [
        "mic_changed",
        "hand_changed",
    ]
    assert types(lesson.do(AllowMic(actor="host", target="ben"))) == ["mic_changed"]


def test_hands_are_lowered_by_their_owner_or_by_staff() -> None:
    lesson = class_in_session()
    lesson.do(RaiseHand(actor="amy"))
    lesson.do(RaiseHand(actor="ben"))
    assert lesson.refused(LowerHand(actor="ben", target="amy")) is ReasonCode.NOT_STAFF
    assert lesson.do(LowerHand(actor="host", target="amy")) == [
        HandChanged(at=T0, pid="amy", raised=False, wants_to_speak=False, by="host")
    ]
    assert lesson.do(LowerHand(actor="host", target="amy")) == []
    lesson.do(LowerHand(actor="ben", target="ben"))
    assert not lesson.p("ben").hand_raised
    assert lesson.do(LowerHand(actor="ben", target="ben")) == []


def test_pupils_who_may_unmute_themselves_stay_allowed_after_a_mute() -> None:
    lesson = class_in_session(pupil_unmute=PupilUnmute.SELF)
    lesson.do(SetMic(actor="amy", on=True))
    lesson.do(MuteMic(actor="host", target="amy"))
    assert (lesson.p("amy").mic_on, lesson.p("amy").mic_allowed) == (False, True)
    lesson.do(SetMic(actor="amy", on=True))
    assert lesson.p("amy").mic_on
    assert lesson.do(SetMic(actor="amy", on=True)) == []


def test_staff_mute_each_other_but_keep_their_own_microphone() -> None:
    lesson = class_in_session()
    lesson.staff_in(ASSISTANT)
    lesson.do(SetMic(actor="assistant", on=True))
    lesson.do(MuteMic(actor="host", target="assistant"))
    assert (lesson.p("assistant").mic_on, lesson.p("assistant").mic_allowed) == (False, True)
    assert lesson.refused(AllowMic(actor="host", target="assistant")) is ReasonCode.NOT_A_PUPIL


def test_stop_and_allow_camera() -> None:
    lesson = class_in_session()
    lesson.do(SetCamera(actor="amy", on=True))
    assert may_publish(lesson.state, "amy", MediaKind.VIDEO)
    assert lesson.do(SetCamera(actor="amy", on=True)) == []

    assert lesson.do(StopCamera(actor="host", target="amy")) == [
        CameraChanged(at=T0, pid="amy", on=False, allowed=False, by="host")
    ]
    assert lesson.do(StopCamera(actor="host", target="amy")) == []
    assert not may_publish(lesson.state, "amy", MediaKind.VIDEO)
    assert lesson.refused(SetCamera(actor="amy", on=True)) is ReasonCode.CAMERA_STOPPED_BY_STAFF
    lesson.do(SetCamera(actor="amy", on=False))  # switching off is always allowed

    lesson.do(AllowCamera(actor="host", target="amy"))
    assert (lesson.p("amy").camera_on, lesson.p("amy").camera_allowed) == (False, True)
    assert lesson.do(AllowCamera(actor="host", target="amy")) == []
    lesson.do(SetCamera(actor="amy", on=True))
    assert lesson.p("amy").camera_on


def test_stopping_a_staff_camera_does_not_forbid_it() -> None:
    lesson = class_in_session()
    lesson.staff_in(ASSISTANT)
    lesson.do(SetCamera(actor="assistant", on=True))
    lesson.do(StopCamera(actor="host", target="assistant"))
    assert (lesson.p("assistant").camera_on, lesson.p("assistant").camera_allowed) == (False, True)
    assert lesson.refused(AllowCamera(actor="host", target="assistant")) is ReasonCode.NOT_A_PUPIL


def test_mute_all_mutes_every_pupil_but_not_staff() -> None:
    lesson = class_in_session(pupil_unmute=PupilUnmute.SELF)
    lesson.knock(ELLA)
    lesson.do(SetMic(actor="host", on=True))
    lesson.do(SetMic(actor="amy", on=True))
    lesson.do(SetMic(actor="ben", on=True))
    events = lesson.do(MuteAll(actor="host"))
    assert {e.pid for e in events if isinstance(e, MicChanged)} == {"amy", "ben"}
    assert lesson.p("host").mic_on
    assert not lesson.p("amy").mic_on
    assert lesson.do(MuteAll(actor="host")) == []


def test_pupils_in_the_waiting_room_do_nothing_but_wait_or_leave() -> None:
    lesson = class_in_session()
    lesson.knock(ELLA)
    for command in (
        RaiseHand(actor="ella"),
        SetMic(actor="ella", on=False),
        SendChat(actor="ella", to=ChatTo.STAFF, text="hello?"),
    ):
        assert lesson.refused(command) is ReasonCode.NOT_ADMITTED
    lesson.do(Leave(actor="ella"))
    assert lesson.p("ella").presence is Presence.LEFT


# --- Screen sharing ---------------------------------------------------------------------------


def test_staff_share_and_pupils_share_only_while_a_grant_stands() -> None:
    lesson = class_in_session()
    lesson.do(StartScreenShare(actor="host"))
    assert lesson.do(StartScreenShare(actor="host")) == []
    assert ("host", "screen") in lesson.receives("amy")
    assert lesson.refused(StartScreenShare(actor="amy")) is ReasonCode.NO_SHARE_GRANT

    assert lesson.do(GrantScreenShare(actor="host", target="amy")) == [
        ScreenShareGrantChanged(at=T0, pid="amy", granted=True, by="host")
    ]
    assert lesson.do(GrantScreenShare(actor="host", target="amy")) == []
    assert lesson.refused(StartScreenShare(actor="amy")) is ReasonCode.SOMEONE_SHARING
    lesson.do(StopScreenShare(actor="host"))
    lesson.do(StartScreenShare(actor="amy"))
    assert may_publish(lesson.state, "amy", MediaKind.SCREEN)
    assert lesson.do(StartScreenShare(actor="amy")) == []

    lesson.do(RevokeScreenShare(actor="host", target="amy"))
    amy = lesson.p("amy")
    assert (amy.screen_sharing, amy.screen_share_granted) == (False, False)
    assert lesson.do(RevokeScreenShare(actor="host", target="amy")) == []
    assert lesson.do(StopScreenShare(actor="amy")) == []


def test_one_sharer_at_a_time_and_staff_take_over() -> None:
    lesson = class_in_session()
    lesson.do(GrantScreenShare(actor="host", target="amy"))
    lesson.do(StartScreenShare(actor="amy"))
    lesson.do(GrantScreenShare(actor="host", target="ben"))
    assert lesson.refused(StartScreenShare(actor="ben")) is ReasonCode.SOMEONE_SHARING
    assert lesson.do(StartScreenShare(actor="host")) == [
        ScreenShareChanged(at=T0, pid="amy", sharing=False, by="host"),
        ScreenShareChanged(at=T0, pid="host", sharing=True, by="host"),
    ]
    assert lesson.state.sharing() == lesson.p("host")


@pytest.mark.parametrize(
    ("mode", "assistant_may_share", "pupils_may_share"),
    [
        (ScreenSharing.HOST_ONLY, False, False),
        (ScreenSharing.STAFF, True, False),
        (ScreenSharing.STAFF_AND_GRANTED_PUPILS, True, True),
    ],
)
def test_who_may_share_follows_the_policy(
    mode: ScreenSharing, assistant_may_share: bool, pupils_may_share: bool
) -> None:
    lesson = class_in_session(screen_sharing=mode)
    lesson.staff_in(ASSISTANT)
    assert lesson.view("assistant")["you"]["share_granted"] is assistant_may_share
    events = lesson.do(StartScreenShare(actor="assistant"))
    assert lesson.p("assistant").screen_sharing is assistant_may_share
    if not assistant_may_share:
        assert isinstance(events[0], CommandRefused)
        assert events[0].reason is ReasonCode.HOST_ONLY_SHARE
    events = lesson.do(GrantScreenShare(actor="host", target="amy"))
    assert lesson.view("amy")["you"]["share_granted"] is pupils_may_share
    if not pupils_may_share:
        assert isinstance(events[0], CommandRefused)
        assert events[0].reason is ReasonCode.PUPILS_MAY_NOT_SHARE
    lesson.do(StartScreenShare(actor="host"))
    assert lesson.p("host").screen_sharing


def test_a_grant_is_for_someone_in_the_lesson_and_not_for_staff() -> None:
    lesson = class_in_session()
    lesson.knock(ELLA)
    lesson.staff_in(ASSISTANT)
    assert lesson.refused(GrantScreenShare(actor="host", target="ella")) is ReasonCode.NOT_ADMITTED
    assert lesson.refused(GrantScreenShare(actor="host", target="assistant")) is (
        ReasonCode.NOT_A_PUPIL
    )


def test_staff_gone_revokes_grants_and_stops_shares() -> None:
    lesson = class_in_session()
    lesson.do(GrantScreenShare(actor="host", target="amy"))
    lesson.do(StartScreenShare(actor="amy"))
    lesson.do(GrantScreenShare(actor="host", target="ben"))
    lesson.do(Leave(actor="host"))
    for pid in ("amy", "ben"):
        assert not lesson.p(pid).screen_share_granted
        assert not lesson.p(pid).screen_sharing
    lesson.staff_in(HOST, "host-again")
    assert lesson.refused(StartScreenShare(actor="amy")) is ReasonCode.NO_SHARE_GRANT


def test_a_dropped_connection_stops_a_share() -> None:
    lesson = class_in_session()
    lesson.do(StartScreenShare(actor="host"))
    lesson.staff_in(ASSISTANT)
    lesson.do(Disconnect(pid="host"))
    assert lesson.state.sharing() is None


# --- Suspend everything -----------------------------------------------------------------------


@pytest.mark.parametrize("locked_before", [False, True])
@pytest.mark.parametrize("paused_before", [False, True])
def test_suspend_everything_and_resume_restoring_the_lock_and_chat_from_before(
    locked_before: bool, paused_before: bool
) -> None:
    lesson = class_in_session(auto_lock=False)
    lesson.knock(ELLA)
    if locked_before:
        lesson.do(Lock(actor="host"))
    if paused_before:
        lesson.do(PauseChat(actor="host"))
    lesson.do(AllowMic(actor="host", target="amy"))
    lesson.do(SetMic(actor="amy", on=True))
    lesson.do(SetCamera(actor="amy", on=True))
    lesson.do(RaiseHand(actor="ben"))
    lesson.do(GrantScreenShare(actor="host", target="ben"))
    lesson.do(StartScreenShare(actor="ben"))
    lesson.do(StopCamera(actor="host", target="ben"))

    lesson.do(Suspend(actor="host"))
    state = lesson.state
    assert (state.suspended, state.locked, state.chat_paused) == (True, True, True)
    assert lesson.hold() is HoldReason.SUSPENDED
    for pid in ("amy", "ben", "ella"):
        learner = lesson.p(pid)
        assert (learner.mic_on, learner.mic_allowed) == (False, False)
        assert (learner.camera_on, learner.camera_allowed) == (False, False)
        assert not learner.screen_sharing
        assert not learner.screen_share_granted
        assert not learner.hand_raised
    assert "paused the lesson" in lesson.view("amy")["lesson"]["hold_message"]
    assert "Everything is suspended" in lesson.view("host")["lesson"]["hold_message"]
    assert lesson.do(Suspend(actor="host")) == []

    lesson.do(Resume(actor="host"))
    assert lesson.hold() is None
    assert lesson.state.locked is locked_before
    assert lesson.state.chat_paused is paused_before
    amy = lesson.p("amy")
    assert (amy.mic_on, amy.mic_allowed) == (False, False)  # she asks to speak again
    assert (amy.camera_on, amy.camera_allowed) == (False, True)  # and turns it on herself
    assert lesson.do(Resume(actor="host")) == []


def test_suspend_stops_a_staff_share_too_and_resume_lets_pupils_unmute_if_they_may() -> None:
    lesson = class_in_session(pupil_unmute=PupilUnmute.SELF)
    lesson.do(StartScreenShare(actor="host"))
    lesson.do(Suspend(actor="host"))
    assert lesson.state.sharing() is None
    lesson.do(Resume(actor="host"))
    assert lesson.p("amy").mic_allowed
    assert not lesson.p("amy").mic_on


def test_what_staff_allow_during_a_suspension_stays_allowed_after_it() -> None:
    lesson = class_in_session()
    lesson.do(Suspend(actor="host"))
    lesson.do(AllowCamera(actor="host", target="amy"))
    lesson.do(SetCamera(actor="amy", on=True))
    assert not may_publish(lesson.state, "amy", MediaKind.VIDEO)  # nothing flows while suspended
    lesson.do(Resume(actor="host"))
    assert may_publish(lesson.state, "amy", MediaKind.VIDEO)


def test_unlocking_or_resuming_chat_during_a_suspension_is_kept_on_resume() -> None:
    lesson = class_in_session()
    lesson.do(Suspend(actor="host"))
    lesson.do(Unlock(actor="host"))
    lesson.do(ResumeChat(actor="host"))
    events = lesson.do(Resume(actor="host"))
    assert "lock_changed" not in types(events)
    assert "chat_pause_changed" not in types(events)
    assert not lesson.state.locked
    assert not lesson.state.chat_paused


# --- Removing someone -------------------------------------------------------------------------


def test_removed_person_is_out_on_every_device_and_cannot_return() -> None:
    lesson = class_in_session()
    lesson.knock(AMY, "amy-phone")
    lesson.do(GrantScreenShare(actor="host", target="amy"))
    events = lesson.do(Remove(actor="host", target="amy", reason="Shared something unkind."))
    assert [e.pid for e in events if isinstance(e, Removed)] == ["amy", "amy-phone"]
    assert AMY in lesson.state.barred
    assert not lesson.p("amy").screen_share_granted

    assert lesson.knock(AMY, "amy-tablet")[0].type == "join_refused"
    assert lesson.refused(RaiseHand(actor="amy")) is ReasonCode.NOT_IN_LESSON
    lesson.do(Disconnect(pid="amy"))  # the connection closing is still recorded
    assert not lesson.p("amy").connected
    assert lesson.refused(Reconnect(pid="amy")) is ReasonCode.NOT_IN_LESSON
    assert lesson.do(Remove(actor="host", target="amy")) == []


def test_someone_who_left_can_be_removed_so_they_cannot_come_back() -> None:
    lesson = class_in_session()
    lesson.do(Leave(actor="ben"))
    lesson.do(Remove(actor="host", target="ben"))
    assert lesson.knock(BEN, "ben-again")[0].type == "join_refused"


def test_a_long_removal_reason_is_cut_short() -> None:
    lesson = class_in_session()
    events = lesson.do(Remove(actor="host", target="amy", reason="x" * 600))
    assert isinstance(events[0], Removed)
    assert len(events[0].reason) == 500


def test_staff_cannot_be_removed() -> None:
    lesson = class_in_session()
    lesson.staff_in(ASSISTANT)
    assert lesson.refused(Remove(actor="host", target="assistant")) is (
        ReasonCode.STAFF_CANNOT_BE_REMOVED
    )


# --- Chat -------------------------------------------------------------------------------------


def chat(lesson: Lesson, pid: str, to: ChatTo, text: str) -> ChatSent:
    events = lesson.do(SendChat(actor=pid, to=to, text=text))
    assert len(events) == 1
    assert isinstance(events[0], ChatSent), events
    return events[0]


def test_chat_to_the_class_reaches_everyone_in_the_room() -> None:
    lesson = class_in_session()
    lesson.knock(ELLA)
    message = chat(lesson, "amy", ChatTo.CLASS, "  Hello!  ")
    assert (message.message_id, message.text, message.display_name) == (1, "Hello!", "Amy Adams")
    assert chat_recipients(lesson.state, message) == {"host", "amy", "ben"}
    assert chat(lesson, "ben", ChatTo.CLASS, "Hi").message_id == 2


def test_chat_to_staff_reaches_every_member_of_staff_and_the_sender_only() -> None:
    lesson = class_in_session()
    lesson.staff_in(ASSISTANT)
    message = chat(lesson, "amy", ChatTo.STAFF, "I feel unwell")
    assert chat_recipients(lesson.state, message) == {"host", "assistant", "amy"}
    staff_only = chat(lesson, "host", ChatTo.STAFF, "Can you check on Amy?")
    assert chat_recipients(lesson.state, staff_only) == {"host", "assistant"}


def test_no_pupil_to_pupil_private_messages() -> None:
    # There is no way to address one pupil: a message goes to the class or to all staff.
    assert set(ChatTo) == {ChatTo.CLASS, ChatTo.STAFF}
    lesson = class_in_session()
    message = chat(lesson, "amy", ChatTo.STAFF, "just for Ben")
    assert "ben" not in chat_recipients(lesson.state, message)


def test_chat_pause_stops_pupils_but_not_staff() -> None:
    lesson = class_in_session()
    assert types(lesson.do(PauseChat(actor="host"))) == ["chat_pause_changed"]
    assert lesson.do(PauseChat(actor="host")) == []
    assert lesson.refused(SendChat(actor="amy", to=ChatTo.CLASS, text="hi")) is (
        ReasonCode.CHAT_PAUSED
    )
    chat(lesson, "host", ChatTo.CLASS, "Quiet, please.")
    lesson.do(ResumeChat(actor="host"))
    assert lesson.do(ResumeChat(actor="host")) == []
    chat(lesson, "amy", ChatTo.CLASS, "hi")


@pytest.mark.parametrize(
    ("rules", "to"),
    [({"class_chat": False}, ChatTo.CLASS), ({"pupil_to_staff_chat": False}, ChatTo.STAFF)],
)
def test_chat_that_the_policy_switches_off(rules: dict[str, bool], to: ChatTo) -> None:
    lesson = class_in_session(**rules)
    assert lesson.refused(SendChat(actor="amy", to=to, text="hi")) is ReasonCode.CHAT_OFF
    chat(lesson, "host", to, "Staff still write")
    other = ChatTo.STAFF if to is ChatTo.CLASS else ChatTo.CLASS
    chat(lesson, "amy", other, "the other chat is on")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("", False),
        ("   \n\t ", False),
        ("x" * MAX_CHAT_LENGTH, True),
        ("x" * (MAX_CHAT_LENGTH + 1), False),
        ("  " + "x" * MAX_CHAT_LENGTH + "  ", True),
    ],
)
def test_empty_and_too_long_messages_are_refused(text: str, ok: bool) -> None:
    lesson = class_in_session()
    events = lesson.do(SendChat(actor="host", to=ChatTo.CLASS, text=text))
    if ok:
        assert types(events) == ["chat_sent"]
    else:
        assert isinstance(events[0], CommandRefused)
        assert events[0].reason is ReasonCode.BAD_MESSAGE


def test_while_held_only_staff_get_chat() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    message = chat(lesson, "host", ChatTo.CLASS, "Waiting for the others")
    assert chat_recipients(lesson.state, message) == {"host"}


# --- Pupils trying staff commands -------------------------------------------------------------


def staff_command(kind: type[Acting], actor: str) -> Acting:
    if issubclass(kind, Targeted):
        return kind(actor=actor, target="ben")
    return kind(actor=actor)


@pytest.mark.parametrize("kind", STAFF_ONLY_COMMANDS, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("actor", ["amy", "ella", "visitor"])
def test_staff_commands_are_refused_for_pupils_and_guests_and_recorded(
    kind: type[Acting], actor: str
) -> None:
    lesson = class_in_session(named_guests=True)
    lesson.pupil_in(VISITOR)
    lesson.knock(ELLA)  # still waiting
    before = lesson.state
    events = lesson.do(staff_command(kind, actor))
    assert events == [
        CommandRefused(
            at=T0,
            actor=actor,
            command=kind.__name__,
            reason=ReasonCode.NOT_STAFF,
            message="Only staff can do that.",
        )
    ]
    assert lesson.state == before
    assert lesson.log[-1] == events[0]


def test_a_request_the_engine_does_not_know_is_refused() -> None:
    lesson = class_in_session()
    for actor in ("amy", "host"):
        assert lesson.refused(Acting(actor=actor)) is ReasonCode.UNKNOWN_COMMAND


def test_commands_from_strangers_are_refused() -> None:
    lesson = class_in_session()
    assert lesson.refused(Lock(actor="nobody")) is ReasonCode.NOT_IN_LESSON
    assert lesson.refused(Disconnect(pid="nobody")) is ReasonCode.NOT_IN_LESSON
    assert lesson.refused(MuteMic(actor="host", target="nobody")) is ReasonCode.NOT_IN_LESSON


# --- Leaving, dropping out, coming back -------------------------------------------------------


def test_a_pupil_may_leave_while_held() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    assert lesson.hold() is HoldReason.ONE_TO_ONE
    lesson.do(Leave(actor="amy"))
    assert lesson.p("amy").presence is Presence.LEFT

    lesson = class_in_session()
    lesson.do(Leave(actor="host"))
    lesson.do(Leave(actor="ben"))
    assert lesson.p("ben").presence is Presence.LEFT
    assert lesson.refused(Leave(actor="ben")) is ReasonCode.NOT_IN_LESSON


def test_disconnect_and_reconnect_keep_admission() -> None:
    lesson = class_in_session()
    lesson.do(Disconnect(pid="amy"))
    assert lesson.p("amy").presence is Presence.ADMITTED
    assert not lesson.p("amy").in_room
    assert lesson.refused(RaiseHand(actor="amy")) is ReasonCode.NOT_IN_LESSON
    assert lesson.refused(Disconnect(pid="amy")) is ReasonCode.NO_CHANGE
    lesson.do(Reconnect(pid="amy"))
    assert lesson.p("amy").in_room
    assert lesson.refused(Reconnect(pid="amy")) is ReasonCode.NO_CHANGE


def test_someone_who_left_cannot_reconnect_but_may_knock_again() -> None:
    lesson = class_in_session()
    lesson.do(Leave(actor="amy"))
    lesson.do(Disconnect(pid="amy"))
    assert lesson.refused(Reconnect(pid="amy")) is ReasonCode.NOT_IN_LESSON
    lesson.knock(AMY, "amy-again")
    assert lesson.p("amy-again").is_waiting


# --- The end of the lesson --------------------------------------------------------------------


AFTER_THE_END: list[Command] = [
    Join(pid="late", person=ELLA, device="x", via=Via.PUPIL_LINK, reminder_accepted=True),
    Join(pid="host-2", person=HOST, device="x", via=Via.STAFF_SIGN_IN),
    Admit(actor="host", target="ella"),
    SendChat(actor="amy", to=ChatTo.CLASS, text="bye"),
    SetMic(actor="host", on=True),
    Leave(actor="amy"),
    Disconnect(pid="amy"),
    Reconnect(pid="amy"),
    Unlock(actor="host"),
    EndLesson(actor="host"),
    UpdateRoster(pupils={}, staff=STAFF, guests={}),
]


@pytest.mark.parametrize("command", AFTER_THE_END, ids=lambda c: type(c).__name__)
def test_after_the_end_everything_is_refused(command: Command) -> None:
    lesson = class_in_session()
    lesson.knock(ELLA)
    events = lesson.do(EndLesson(actor="host"))
    assert events == [PhaseChanged(at=T0, phase=Phase.ENDED, reason="ended_by_staff")]
    assert lesson.refused(command) is ReasonCode.LESSON_ENDED
    assert lesson.later(3600) == []


def test_the_end_of_a_lesson_is_the_end_of_all_media_and_every_view_says_so() -> None:
    lesson = class_in_session()
    lesson.do(SetMic(actor="host", on=True))
    lesson.do(EndLesson(actor="host"))
    assert lesson.hold() is HoldReason.ENDED
    assert lesson.view("host")["lesson"]["hold_message"] == "This lesson has ended."
    assert not may_publish(lesson.state, "host", MediaKind.AUDIO)
    assert lesson.view("amy")["in_room"] == []


def test_pupils_cannot_end_the_lesson() -> None:
    lesson = class_in_session()
    assert lesson.refused(EndLesson(actor="amy")) is ReasonCode.NOT_STAFF
    assert lesson.phase() is Phase.OPEN


# --- What each participant is shown -----------------------------------------------------------


def test_a_pupils_view_never_shows_the_waiting_room_or_the_door() -> None:
    lesson = class_in_session()
    lesson.knock(ELLA)
    lesson.knock(CARA)  # turned away
    for pid in ("amy", "ella"):
        view = lesson.view(pid)
        assert {"waiting", "turned_away", "expected"}.isdisjoint(view)
        shown = json.dumps(view)
        assert "Cara" not in shown
    assert "Ella" not in json.dumps(lesson.view("amy"))
    assert "Amy" not in json.dumps(lesson.view("ella"))
    assert lesson.view("ella")["in_room"] == []
    assert lesson.view("ella")["you"]["presence"] == "waiting"


def test_pupils_in_class_see_who_is_in_the_room_but_not_how() -> None:
    lesson = class_in_session()
    assert [p.pid for p in lesson.state.learners_in_room()] == ["amy", "ben"]
    names = [person["name"] for person in lesson.view("amy")["in_room"]]
    assert names == ["Ms Host", "Amy Adams", "Ben Brown"]  # staff first
    assert set(lesson.view("amy")["in_room"][2]) == {"pid", "name", "role", "sharing"}


def test_staff_see_the_waiting_room_the_door_and_who_is_still_expected() -> None:
    lesson = class_in_session()
    lesson.knock(ELLA)
    lesson.knock(CARA)
    view = lesson.view("host")
    assert [w["name"] for w in view["waiting"]] == ["Ella Evans"]
    assert view["waiting"][0] == {
        "pid": "ella",
        "name": "Ella Evans",
        "role": "pupil",
        "joined_at": T0.isoformat(),
        "parent_present": False,
        "flags": [],
        "can_admit": True,
        "why_not": None,
    }
    assert view["turned_away"][0]["name"] == "Cara Clark"
    expected = {e["name"]: e for e in view["expected"]}
    assert set(expected) == {"Cara Clark", "Dev Dhillon"}
    assert expected["Cara Clark"]["can_join"] is False
    assert expected["Cara Clark"]["why_not"] == NO_CONSENT
    assert expected["Dev Dhillon"]["parent_mediated"] is True
    assert view["in_room"][1]["mic_allowed"] is False


def test_a_removed_pupil_is_not_expected_and_the_class_can_be_complete_without_them() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(AMY)
    lesson.pupil_in(BEN)
    lesson.do(Remove(actor="host", target="amy"))
    expected = {e["name"]: e for e in lesson.view("host")["expected"]}
    assert expected["Amy Adams"]["can_join"] is False
    assert expected["Amy Adams"]["why_not"] == "Removed from this lesson."
    lesson.pupil_in(DEV)
    lesson.pupil_in(ELLA)
    assert lesson.state.locked  # everyone who may still come is in


def test_a_member_of_staff_whose_connection_dropped_gets_no_panel() -> None:
    lesson = class_in_session()
    lesson.staff_in(ASSISTANT)
    lesson.do(Disconnect(pid="assistant"))
    assert "waiting" not in lesson.view("assistant")


def test_pupil_video_is_for_staff_only_by_default() -> None:
    lesson = class_in_session()
    for pid in ("host", "amy", "ben"):
        lesson.do(SetCamera(actor=pid, on=True))
    assert not may_receive(lesson.state, "amy", "ben", MediaKind.VIDEO)
    assert lesson.receives("amy") == {("host", "video")}
    assert lesson.receives("host") == {("amy", "video"), ("ben", "video")}


def test_pupil_video_for_everyone_when_the_policy_says_so() -> None:
    lesson = class_in_session(pupil_video=PupilVideoVisibility.EVERYONE)
    for pid in ("host", "amy", "ben"):
        lesson.do(SetCamera(actor=pid, on=True))
    assert may_receive(lesson.state, "amy", "ben", MediaKind.VIDEO)
    assert lesson.receives("amy") == {("host", "video"), ("ben", "video")}


def test_a_guest_does_not_see_pupils_video_unless_everyone_may() -> None:
    lesson = class_in_session(named_guests=True)
    lesson.pupil_in(VISITOR)
    lesson.do(SetCamera(actor="amy", on=True))
    lesson.do(SetCamera(actor="visitor", on=True))
    assert lesson.receives("visitor") == set()
    assert ("visitor", "video") in lesson.receives("amy")


def test_nobody_receives_their_own_stream_or_one_that_does_not_exist() -> None:
    lesson = class_in_session()
    lesson.do(SetCamera(actor="host", on=True))
    assert not may_receive(lesson.state, "host", "host", MediaKind.VIDEO)
    assert not may_receive(lesson.state, "nobody", "host", MediaKind.VIDEO)
    assert not may_receive(lesson.state, "amy", "nobody", MediaKind.VIDEO)
    assert not may_publish(lesson.state, "nobody", MediaKind.AUDIO)


def test_hold_words() -> None:
    assert hold_words(None, for_staff=True) is None
    for reason in HoldReason:
        assert hold_words(reason, for_staff=True) != hold_words(reason, for_staff=False)


# --- The model and the log --------------------------------------------------------------------


def test_a_person_is_written_and_read_as_role_and_id() -> None:
    assert str(AMY) == "pupil:1"
    assert Person.parse("guest:g1") == VISITOR


def test_lesson_rules_come_from_the_policy() -> None:
    assert LessonRules.from_policy(resolve(TrustPolicy.defaults())) == LessonRules()


def test_a_new_lesson_is_the_start_of_its_log() -> None:
    prepared = LessonPrepared(
        at=T0, lesson_id="L1", rules=LessonRules(), pupils=CLASS, staff=STAFF, guests=GUESTS
    )
    assert new_lesson("L1", LessonRules(), CLASS, STAFF, GUESTS) == start(prepared)
    assert evolve(new_lesson("L1", LessonRules(), {}, {}), prepared) == start(prepared)
    assert new_lesson("L1", LessonRules(), {}, {}).guests == {}


def test_a_class_with_nobody_who_may_come_is_never_complete() -> None:
    lesson = Lesson()
    empty = replace(lesson.state, pupils={"3": CLASS["3"]})
    assert not empty.roster_complete()


def test_a_log_must_start_with_the_lesson() -> None:
    lesson = class_in_session()
    with pytest.raises(ValueError, match="lesson_prepared"):
        replay(lesson.log[1:])


def test_refused_commands_are_in_the_log_but_change_nothing() -> None:
    lesson = class_in_session()
    before: LessonState = lesson.state
    lesson.do(Lock(actor="amy"))
    assert lesson.log[-1].type == "command_refused"
    assert lesson.state is before


def test_the_turned_away_list_keeps_the_latest() -> None:
    lesson = Lesson()
    lesson.staff_in()
    for n in range(60):
        lesson.knock(ZED, f"zed-{n}")
    assert len(lesson.state.turned_away) == 50
    assert lesson.view("host")["turned_away"][-1]["reason"] == "not_on_roster"


def test_views_built_together_match_views_built_one_by_one() -> None:
    lesson = class_in_session()
    lesson.staff_in(ASSISTANT)
    everyone = list(lesson.state.participants)
    together = views_for(lesson.state, everyone)
    assert together == {pid: view_for(lesson.state, pid) for pid in everyone}
    staff_views = [v for v in together.values() if v["you"]["role"] == "staff"]
    pupil_views = [v for v in together.values() if v["you"]["role"] == "pupil"]
    assert len(staff_views) == 2
    assert len(pupil_views) == 2
    assert staff_views[0]["waiting"] == staff_views[1]["waiting"]
    assert pupil_views[0]["in_room"] == pupil_views[1]["in_room"]
