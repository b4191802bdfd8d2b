"""The lesson engine driven by random sequences of every command, given by random actors: the
lesson's staff, pupils with and without consent, removed pupils, strangers and guests.

After every step the invariants of DESIGN.md are checked, each worked out here from the state and
the events rather than from the engine's own helpers: I1 supervision, I2 no 1:1, I3 consent, I4
recognised, I5 removed stays removed, I6 locked means locked, I7 screen share, I8 muted means no
audio, I9 no private pupil-to-pupil messages, I10 pupils' video, I11 every change is an event and
the log replays to the state (and every event survives the trip to JSON and back). What each
participant is shown is checked too: a pupil's view never holds what the policy hides from pupils.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.codec import event_from_json, event_to_json
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
from safeclass.domain.lesson.decide import STAFF_ONLY_COMMANDS, decide
from safeclass.domain.lesson.events import (
    Admitted,
    AnyEvent,
    CameraChanged,
    ChatSent,
    CommandRefused,
    Joined,
    JoinRefused,
    LessonPrepared,
    MicChanged,
    ScreenShareChanged,
)
from safeclass.domain.lesson.evolve import evolve, replay, start
from safeclass.domain.lesson.media import MediaKind, chat_recipients, may_publish, may_receive
from safeclass.domain.lesson.model import (
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
from safeclass.domain.lesson.view import view_for
from safeclass.domain.policy import AdmissionMode, PupilUnmute, PupilVideoVisibility, ScreenSharing

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

PUPIL_IDS = ["1", "2", "3", "4", "5"]
CONSENTING = {"1", "2", "3"}  # 4 and 5 have no consent at first
STAFF = {"1": RosterStaff("Ms Host", is_host=True), "2": RosterStaff("Mr Assistant", is_host=False)}
GUESTS = {"g1": "Dr Visitor"}
STRANGERS = [Person(Role.PUPIL, "9"), Person(Role.STAFF, "7"), Person(Role.GUEST, "g2")]
PEOPLE = [
    *(Person(Role.PUPIL, p) for p in PUPIL_IDS),
    *(Person(Role.STAFF, s) for s in STAFF),
    *(Person(Role.GUEST, g) for g in GUESTS),
    *STRANGERS,
]
NOBODY = "nobody"
MAX_DEVICES = 12

RULES = st.builds(
    LessonRules,
    admission_mode=st.sampled_from(AdmissionMode),
    auto_lock=st.booleans(),
    screen_sharing=st.sampled_from(ScreenSharing),
    join_muted=st.booleans(),
    join_camera_off=st.booleans(),
    pupil_unmute=st.sampled_from(PupilUnmute),
    pupil_video=st.sampled_from(PupilVideoVisibility),
    class_chat=st.booleans(),
    pupil_to_staff_chat=st.booleans(),
    min_pupils_without_second_staff=st.integers(2, 4),
    staff_absence_grace_seconds=st.integers(30, 600),
    named_guests=st.booleans(),
    reminder_required=st.booleans(),
)

TARGETED: list[type[Targeted]] = [
    Admit,
    Deny,
    MuteMic,
    AllowMic,
    StopCamera,
    AllowCamera,
    LowerHand,
    GrantScreenShare,
    RevokeScreenShare,
    Remove,
]
STAFF_ACTIONS: list[type[Acting]] = [
    AdmitNext,
    AdmitAll,
    Lock,
    Unlock,
    MuteAll,
    StartScreenShare,
    StopScreenShare,
    Suspend,
    Resume,
    PauseChat,
    ResumeChat,
    Leave,
]
LEARNER_ACTIONS: list[type[Acting]] = [
    AdmitNext,
    AdmitAll,
    Lock,
    Unlock,
    MuteAll,
    RaiseHand,
    AskToSpeak,
    StartScreenShare,
    StopScreenShare,
    Suspend,
    Resume,
    PauseChat,
    ResumeChat,
    EndLesson,
    Leave,
]
MODERATION: list[type[Targeted]] = [
    MuteMic,
    AllowMic,
    StopCamera,
    AllowCamera,
    LowerHand,
    GrantScreenShare,
    RevokeScreenShare,
    Remove,
]
OWN: list[type[Acting]] = [RaiseHand, AskToSpeak, StartScreenShare, StopScreenShare, Leave]

LIVE = (Presence.WAITING, Presence.ADMITTED)


def class_list(consenting: set[str], mediated: set[str]) -> dict[str, RosterPupil]:
    return {
        p: RosterPupil(
            display_name=f"Pupil {p}",
            consent_ok=p in consenting,
            consent_reason=ReasonCode.CONSENT_GIVEN
            if p in consenting
            else ReasonCode.CONSENT_MISSING,
            consent_message="Consent recorded." if p in consenting else "No consent recorded.",
            parent_mediated=p in mediated,
        )
        for p in PUPIL_IDS
    }


def proper_door(state: LessonState, person: Person) -> Via:
    if person.role is Role.STAFF:
        return Via.STAFF_SIGN_IN
    if person.role is Role.GUEST:
        return Via.GUEST_INVITE
    pupil = state.pupils.get(person.id)
    return Via.PARENT_LINK if pupil is not None and pupil.parent_mediated else Via.PUPIL_LINK


def people_in_room(state: LessonState, role: Role) -> set[Person]:
    """Distinct people, not devices: one teacher on two devices is still one member of staff."""
    return {p.person for p in state.participants.values() if p.in_room and p.person.role is role}


Flow = tuple[Participant, Participant, MediaKind]


def media_flows(state: LessonState) -> list[Flow]:
    """Every stream someone is given: (viewer, source, kind). Only people in the room publish
    (checked separately), so only they need asking about."""
    people = state.in_room()
    return [
        (viewer, source, kind)
        for viewer in people
        for source in people
        for kind in MediaKind
        if may_receive(state, viewer.pid, source.pid, kind)
    ]


class LessonMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mediated: set[str] = set()
        self.prepare_lesson(LessonRules(), self.mediated)

    def prepare_lesson(self, rules: LessonRules, mediated: set[str]) -> None:
        self.now = T0
        self.mediated = mediated
        prepared = LessonPrepared(
            at=T0,
            lesson_id="L",
            rules=rules,
            pupils=class_list(CONSENTING, mediated),
            staff=STAFF,
            guests=GUESTS,
        )
        self.state = start(prepared)
        self.replayed = start(prepared)  # the fold of the stored log, kept up step by step
        self.log: list[AnyEvent] = [prepared]
        self.checked: LessonState | None = None
        self.last_events: list[AnyEvent] = []
        self.devices = 0

    @initialize(rules=RULES, mediated=st.sets(st.sampled_from(PUPIL_IDS), max_size=2))
    def prepare(self, rules: LessonRules, mediated: set[str]) -> None:
        self.prepare_lesson(rules, mediated)

    # --- Applying a command, checking each event against the state it was decided on ------------

    def run(self, command: Command) -> None:
        before = self.state
        events = decide(before, command, self.now)
        self.check_decision(before, command, events)
        for event in events:
            self.check_event(self.state, event)
            self.state = evolve(self.state, event)
            self.log.append(event)
            # The log is what a restarted server reads back: the event as stored in JSON.
            stored = event_from_json(json.loads(json.dumps(event_to_json(event))))
            assert stored == event, "I11: an event changed on its way through the log"
            self.replayed = evolve(self.replayed, stored)
        self.last_events = events

    def check_decision(self, before: LessonState, command: Command, events: list[AnyEvent]) -> None:
        refusals = [e for e in events if isinstance(e, CommandRefused | JoinRefused)]
        if isinstance(command, UpdateRoster) and before.phase is not Phase.ENDED:
            return  # it turns away, with a reason each, everyone who may no longer come
        assert not refusals or events == refusals[:1], "a refusal is one event and nothing else"
        if isinstance(command, Tick):
            assert not refusals
            return
        if before.phase is Phase.ENDED:
            assert len(refusals) == 1, "after the end, everything is refused"
            assert refusals[0].reason is ReasonCode.LESSON_ENDED
            return
        if isinstance(command, Acting) and not refusals:
            actor = before.participants[command.actor]
            assert actor.connected, "only a connected participant acts"
            assert actor.presence in LIVE
        if isinstance(command, STAFF_ONLY_COMMANDS):
            asking = before.participants.get(command.actor)
            if asking is not None and not asking.is_staff:
                assert len(refusals) == 1, "a pupil's staff command is refused and recorded"
                if asking.connected and asking.presence in LIVE:
                    assert refusals[0].reason is ReasonCode.NOT_STAFF

    def check_event(self, before: LessonState, event: AnyEvent) -> None:
        if isinstance(event, Joined):
            self.check_joined(before, event)
        elif isinstance(event, Admitted):
            by = before.participants[event.by]
            assert by.is_staff, "I4: only staff admit"
            assert by.in_room, "I4: only staff in the room admit"
            target = before.participants[event.pid]
            assert target.is_waiting, "only someone waiting is let in"
            if target.person.role is Role.PUPIL:
                assert before.pupils[target.person.id].consent_ok, "I3: admitted without consent"
            others = [p for p in before.participants_of(target.person) if p.in_room]
            assert not others, "a second device is never let in while the first is in"
        elif isinstance(event, ChatSent):
            assert event.to in (ChatTo.CLASS, ChatTo.STAFF), "I9"
            sender = before.participants[event.pid]
            assert sender.in_room
            if not sender.is_staff:
                assert people_in_room(before, Role.STAFF), "I1: a pupil chats without staff"
                assert before.pupils_active()
        elif isinstance(event, ScreenShareChanged) and event.sharing:
            sharer = before.participants[event.pid]
            assert sharer.in_room
            assert sharer.is_staff or sharer.screen_share_granted, "I7"
        elif isinstance(event, MicChanged | CameraChanged) and event.on:
            # Only the owner of a microphone or camera switches it on; staff only allow it.
            current = before.participants[event.pid]
            was_on = current.mic_on if isinstance(event, MicChanged) else current.camera_on
            assert was_on or event.by == event.pid, "staff never switch a pupil's mic or camera on"

    def check_joined(self, before: LessonState, event: Joined) -> None:
        person = event.person
        assert event.person not in before.barred, "I5: a removed person came back"
        if person.role is Role.STAFF:
            assert person.id in before.staff, "I4: staff of another lesson"
            assert event.presence is Presence.ADMITTED
            return
        assert not before.locked, "I6: someone new reached a locked lesson"
        assert event.presence is Presence.WAITING, "nobody lets themselves in"
        assert not event.mic_on or before.rules.pupil_unmute is PupilUnmute.SELF
        if person.role is Role.PUPIL:
            pupil = before.pupils[person.id]
            assert pupil.consent_ok, "I3: no consent"
            assert not pupil.parent_mediated or event.parent_present
        else:
            assert before.rules.named_guests, "I4: a guest at a school without guests"
            assert person.id in before.guests, "I4: an uninvited guest"

    # --- Choosing someone -----------------------------------------------------------------------

    def pick(self, data: st.DataObject, pool: list[str] | None = None) -> str:
        choices = sorted(self.state.participants if pool is None else pool)
        return data.draw(st.sampled_from(choices or [NOBODY]))

    def staff_pid(self, data: st.DataObject) -> str:
        return self.pick(data, [p.pid for p in self.state.in_room(Role.STAFF)])

    def learner_pid(self, data: st.DataObject) -> str:
        return self.pick(data, [p.pid for p in self.state.participants.values() if not p.is_staff])

    def has_staff_in_room(self) -> bool:
        return bool(self.state.in_room(Role.STAFF))

    def has_participants(self) -> bool:
        return bool(self.state.participants)

    def has_learners(self) -> bool:
        return any(not p.is_staff for p in self.state.participants.values())

    # --- Rules ----------------------------------------------------------------------------------

    def knock(
        self, person: Person, via: Via, *, reminder: bool, parent: bool, same_device: bool
    ) -> None:
        self.devices += 1
        self.run(
            Join(
                pid=f"x{self.devices}",
                person=person,
                device=str(person) if same_device else f"device{self.devices}",
                via=via,
                reminder_accepted=reminder,
                parent_present=parent,
            )
        )

    def knock_properly(self, person: Person, *, same_device: bool = False) -> None:
        via = proper_door(self.state, person)
        self.knock(person, via, reminder=True, parent=True, same_device=same_device)

    def room_for_more(self) -> bool:
        # More devices add nothing new and make every check slower.
        return len(self.state.participants) < MAX_DEVICES

    @precondition(room_for_more)
    @rule(
        person=st.sampled_from(PEOPLE),
        via=st.sampled_from(Via),
        properly=st.booleans(),
        reminder=st.booleans(),
        parent=st.booleans(),
        same_device=st.booleans(),
    )
    def someone_knocks(
        self,
        person: Person,
        via: Via,
        properly: bool,
        reminder: bool,
        parent: bool,
        same_device: bool,
    ) -> None:
        """Anyone at all: by the right door and ready, or by any door with anything missing."""
        if properly:
            self.knock_properly(person, same_device=same_device)
        else:
            self.knock(person, via, reminder=reminder, parent=parent, same_device=same_device)

    @precondition(room_for_more)
    @rule(staff_id=st.sampled_from(sorted(STAFF)))
    def staff_come_in(self, staff_id: str) -> None:
        self.knock_properly(Person(Role.STAFF, staff_id))

    @precondition(room_for_more)
    @rule(pupil_id=st.sampled_from(sorted(CONSENTING)))
    def pupil_with_consent_comes_to_the_door(self, pupil_id: str) -> None:
        self.knock_properly(Person(Role.PUPIL, pupil_id))

    @precondition(has_staff_in_room)
    @rule(data=st.data(), kind=st.sampled_from([Admit, Admit, *TARGETED]))
    def staff_acts_on_someone(self, data: st.DataObject, kind: type[Targeted]) -> None:
        self.run(kind(actor=self.staff_pid(data), target=self.pick(data)))

    @precondition(has_staff_in_room)
    @rule(data=st.data(), kind=st.sampled_from([AdmitNext, *STAFF_ACTIONS]))
    def staff_acts(self, data: st.DataObject, kind: type[Acting]) -> None:
        self.run(kind(actor=self.staff_pid(data)))

    @precondition(has_participants)
    @rule(data=st.data(), kind=st.sampled_from(TARGETED))
    def anyone_acts_on_someone(self, data: st.DataObject, kind: type[Targeted]) -> None:
        self.run(kind(actor=self.pick(data), target=self.pick(data)))

    @precondition(has_learners)
    @rule(data=st.data(), kind=st.sampled_from(LEARNER_ACTIONS))
    def learner_acts(self, data: st.DataObject, kind: type[Acting]) -> None:
        self.run(kind(actor=self.learner_pid(data)))

    @precondition(has_participants)
    @rule(data=st.data(), on=st.booleans(), mic=st.booleans(), learner=st.booleans())
    def own_media(self, data: st.DataObject, on: bool, mic: bool, learner: bool) -> None:
        actor = self.learner_pid(data) if learner else self.pick(data)
        self.run(SetMic(actor=actor, on=on) if mic else SetCamera(actor=actor, on=on))

    @precondition(has_participants)
    @rule(
        data=st.data(),
        to=st.sampled_from(ChatTo),
        text=st.text(max_size=20),
        learner=st.booleans(),
    )
    def chat(self, data: st.DataObject, to: ChatTo, text: str, learner: bool) -> None:
        actor = self.learner_pid(data) if learner else self.pick(data)
        self.run(SendChat(actor=actor, to=to, text=text or "hi"))

    @precondition(has_participants)
    @rule(data=st.data(), up=st.booleans())
    def connection(self, data: st.DataObject, up: bool) -> None:
        pid = self.pick(data)
        self.run(Reconnect(pid=pid) if up else Disconnect(pid=pid))

    @precondition(lambda self: self.has_staff_in_room() and bool(self.state.waiting()))
    @rule(data=st.data())
    def staff_admits_someone_waiting(self, data: st.DataObject) -> None:
        waiting = [p.pid for p in self.state.waiting()]
        self.run(Admit(actor=self.staff_pid(data), target=self.pick(data, waiting)))

    @precondition(lambda self: self.has_staff_in_room() and bool(self.state.learners_in_room()))
    @rule(data=st.data(), kind=st.sampled_from(MODERATION))
    def staff_moderates_a_learner(self, data: st.DataObject, kind: type[Targeted]) -> None:
        learners = [p.pid for p in self.state.learners_in_room()]
        self.run(kind(actor=self.staff_pid(data), target=self.pick(data, learners)))

    @precondition(lambda self: self.has_staff_in_room() and bool(self.state.learners_in_room()))
    @rule(data=st.data())
    def staff_lets_someone_share_their_screen(self, data: st.DataObject) -> None:
        learner = self.pick(data, [p.pid for p in self.state.learners_in_room()])
        self.run(GrantScreenShare(actor=self.staff_pid(data), target=learner))
        self.run(StartScreenShare(actor=learner))

    @precondition(lambda self: bool(self.state.learners_in_room()))
    @rule(data=st.data(), kind=st.sampled_from(OWN), on=st.booleans())
    def admitted_learner_acts(self, data: st.DataObject, kind: type[Acting], on: bool) -> None:
        actor = self.pick(data, [p.pid for p in self.state.learners_in_room()])
        self.run(kind(actor=actor))
        self.run(SetMic(actor=actor, on=on))
        self.run(SetCamera(actor=actor, on=on))
        self.run(SendChat(actor=actor, to=ChatTo.CLASS, text="hello"))

    @precondition(has_staff_in_room)
    @rule(data=st.data(), roll=st.integers(0, 9))
    def staff_ends_lesson(self, data: st.DataObject, roll: int) -> None:
        if roll == 0:  # rarely, so that most sequences get somewhere first
            self.run(EndLesson(actor=self.staff_pid(data)))

    @rule(seconds=st.one_of(st.integers(1, 60), st.integers(1, 900)))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.run(Tick())

    @rule(
        consenting=st.sets(st.sampled_from(PUPIL_IDS), min_size=2),
        keep_assistant=st.booleans(),
        keep_guest=st.booleans(),
        roll=st.integers(0, 5),
    )
    def roster_changes(
        self, consenting: set[str], keep_assistant: bool, keep_guest: bool, roll: int
    ) -> None:
        if roll:
            return
        staff = {k: v for k, v in STAFF.items() if k == "1" or keep_assistant}
        guests = GUESTS if keep_guest else {}
        self.run(
            UpdateRoster(pupils=class_list(consenting, self.mediated), staff=staff, guests=guests)
        )

    # --- Invariants -----------------------------------------------------------------------------

    @invariant()
    def the_rules_hold(self) -> None:
        # The checks are pure functions of the state: when a step left it as it was (a refused
        # command changes nothing), there is nothing new to check.
        if self.state is self.checked:
            return
        self.checked = state = self.state
        assert self.replayed == state, "I11: the log does not replay to the state"
        flows = media_flows(state)
        self.check_supervision(state, flows)
        self.check_no_one_to_one(state, flows)
        self.check_pupil_video(state, flows)
        self.check_only_recognised_people_with_consent(state)
        self.check_screen_share_and_mute(state)
        self.check_chat(state)
        self.check_views(state)

    def teardown(self) -> None:
        assert replay(self.log) == self.state, "I11: the log does not replay to the state"

    def check_supervision(self, state: LessonState, flows: list[Flow]) -> None:
        staff = people_in_room(state, Role.STAFF)
        for viewer, source, _kind in flows:
            if not (viewer.is_staff and source.is_staff):
                assert staff, "I1: a pupil's media flows without staff"
        for participant in state.participants.values():
            publishing = any(may_publish(state, participant.pid, kind) for kind in MediaKind)
            if publishing and not participant.is_staff:
                assert staff, "I1: a pupil publishes without staff"
            if not participant.in_room:
                assert not publishing, "only someone in the room publishes"

    def check_no_one_to_one(self, state: LessonState, flows: list[Flow]) -> None:
        staff = people_in_room(state, Role.STAFF)
        pupils = people_in_room(state, Role.PUPIL)
        if len(staff) == 1 and 0 < len(pupils) < state.rules.min_pupils_without_second_staff:
            assert not flows, "I2: media flows one to one"

    def check_pupil_video(self, state: LessonState, flows: list[Flow]) -> None:
        for viewer, source, kind in flows:
            if kind is MediaKind.VIDEO and source.person.role is Role.PUPIL and not viewer.is_staff:
                assert state.rules.pupil_video is PupilVideoVisibility.EVERYONE, "I10"

    def check_only_recognised_people_with_consent(self, state: LessonState) -> None:
        for p in state.participants.values():
            if p.person in state.barred:
                assert p.presence is Presence.REMOVED, "I5"
            if p.presence not in LIVE:
                continue
            if p.person.role is Role.PUPIL:
                assert state.pupils[p.person.id].consent_ok, "I3/I4"
            elif p.person.role is Role.STAFF:
                assert p.person.id in state.staff, "I4"
            else:
                assert p.person.id in state.guests, "I4"
        pupils_in = [p.person for p in state.in_room(Role.PUPIL)]
        assert len(pupils_in) == len(set(pupils_in)), "one pupil, two devices in the room"

    def check_screen_share_and_mute(self, state: LessonState) -> None:
        sharers = [p for p in state.participants.values() if p.screen_sharing]
        assert len(sharers) <= 1, "one sharer at a time"
        for p in sharers:
            assert p.in_room
            assert p.is_staff or p.screen_share_granted, "I7"
        for p in state.participants.values():
            if may_publish(state, p.pid, MediaKind.AUDIO):
                assert p.mic_on, "I8: a microphone that is off is heard"
                assert p.mic_allowed, "I8: a muted pupil is heard"
            if may_publish(state, p.pid, MediaKind.SCREEN) and not p.is_staff:
                assert p.screen_share_granted, "I7"

    def check_chat(self, state: LessonState) -> None:
        for event in self.last_events:
            if not isinstance(event, ChatSent):
                continue
            for pid in chat_recipients(state, event):
                recipient = state.participants[pid]
                assert recipient.in_room
                if not recipient.is_staff and recipient.pid != event.pid:
                    assert event.to is ChatTo.CLASS, "I9: a private message reached a pupil"
                    assert people_in_room(state, Role.STAFF), "I1: chat without staff"

    def check_views(self, state: LessonState) -> None:
        """What the policy hides from pupils never reaches a pupil's (or a guest's) view."""
        for viewer in state.participants.values():
            if viewer.is_staff or viewer.presence not in LIVE:
                continue
            view = view_for(state, viewer.pid)
            assert "waiting" not in view
            assert "turned_away" not in view
            assert "expected" not in view
            self.check_names_hidden(state, viewer, view)
            for item in view["media"]["receive"]:
                source = state.participants[item["pid"]]
                if item["kind"] == "video" and source.person.role is Role.PUPIL:
                    assert state.rules.pupil_video is PupilVideoVisibility.EVERYONE, "I10 view"

    def check_names_hidden(self, state: LessonState, viewer: Participant, view: Any) -> None:
        """No other pupil's name, unless both are in a lesson that staff are running."""
        shown = json.dumps(view)
        in_class = viewer.in_room and state.phase is Phase.OPEN
        classmates = people_in_room(state, Role.PUPIL) if in_class else set()
        for other in state.participants.values():
            if other.person.role is not Role.PUPIL or other.person == viewer.person:
                continue
            if other.person not in classmates:
                assert f'"{other.display_name}"' not in shown, "a pupil's view names a pupil"


TestLessonMachine = LessonMachine.TestCase
TestLessonMachine.settings = settings(
    max_examples=500,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
