"""The lesson's state and what it knows before anyone joins: its rules and who may come.


Who counts as "in the room": anyone admitted and connected. Pupils and guests may send or receive
media or chat only while the lesson is live: at least one member of staff is in the room, nothing is
suspended, and the room is not held for holding one pupil with one member of staff.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from safeclass.domain.chat_checks import ChatCheckKind
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.policy import (
    ADMISSION_MODE,
    AUTO_LOCK_WHEN_COMPLETE,
    CHAT_CHECK_PERSONAL_INFO,
    CHAT_CHECK_PROFANITY,
    CHAT_EXTRA_WORDS,
    CLASS_CHAT,
    MIN_PUPILS_WITHOUT_SECOND_STAFF,
    NAMED_GUESTS,
    PERSONAL_INFO_REMINDER,
    PUPIL_TO_STAFF_CHAT,
    PUPIL_UNMUTE,
    PUPIL_VIDEO_VISIBILITY,
    PUPILS_JOIN_CAMERA_OFF,
    PUPILS_JOIN_MUTED,
    RECORDING_ALLOWED,
    RECORDING_EXCLUDES_PUPIL_VIDEO,
    SCREEN_SHARING,
    STAFF_ABSENCE_GRACE_SECONDS,
    AdmissionMode,
    ChatCheckAction,
    EffectivePolicy,
    PupilUnmute,
    PupilVideoVisibility,
    ScreenSharing,
)

MAX_CHAT_LENGTH = 500


class Phase(enum.StrEnum):
    SCHEDULED = "scheduled"  # no member of staff has come in yet
    OPEN = "open"  # at least one member of staff is in the room
    HELD = "held"  # staff were here and are all gone: pupils wait, media stopped
    ENDED = "ended"


class Role(enum.StrEnum):
    STAFF = "staff"
    PUPIL = "pupil"
    GUEST = "guest"


class Presence(enum.StrEnum):
    WAITING = "waiting"
    ADMITTED = "admitted"
    LEFT = "left"
    DENIED = "denied"
    REMOVED = "removed"


class Via(enum.StrEnum):
    """How someone came to the door."""

    STAFF_SIGN_IN = "staff_sign_in"
    PUPIL_LINK = "pupil_link"
    PARENT_LINK = "parent_link"
    TYPED_CODE = "typed_code"
    GUEST_INVITE = "guest_invite"


class ChatTo(enum.StrEnum):
    """Where a message goes. There is deliberately no way to name one pupil: pupil-to-pupil
    private messages cannot exist."""

    CLASS = "class"
    STAFF = "staff"


class HoldReason(enum.StrEnum):
    NO_STAFF = "no_staff"
    ONE_TO_ONE = "one_to_one"
    SUSPENDED = "suspended"
    NOT_STARTED = "not_started"
    ENDED = "ended"


@dataclass(frozen=True, slots=True, order=True)
class Person:
    """Someone, whatever device they use: `pupil:12`, `staff:3`, `guest:5`."""

    role: Role
    id: str

    def __str__(self) -> str:
        return f"{self.role.value}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Person:
        role, _, ident = text.partition(":")
        return cls(Role(role), ident)


# --- What the lesson knows before anyone joins ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class RosterPupil:
    display_name: str
    consent_ok: bool
    consent_reason: ReasonCode
    consent_message: str
    parent_mediated: bool
    # A parent's yes to recording (CONSENT_REQUIRED_RECORDING cannot be switched off). Logs
    # written before recording existed read back without it: nobody could be recorded then.
    may_be_recorded: bool = False


@dataclass(frozen=True, slots=True)
class RosterStaff:
    display_name: str
    is_host: bool


@dataclass(frozen=True, slots=True)
class LessonRules:
    """The parts of the effective policy that the engine applies, fixed when the lesson starts."""

    admission_mode: AdmissionMode = AdmissionMode.ONE_AT_A_TIME
    auto_lock: bool = True
    screen_sharing: ScreenSharing = ScreenSharing.STAFF_AND_GRANTED_PUPILS
    join_muted: bool = True
    join_camera_off: bool = True
    pupil_unmute: PupilUnmute = PupilUnmute.ASK_STAFF
    pupil_video: PupilVideoVisibility = PupilVideoVisibility.STAFF_ONLY
    class_chat: bool = True
    pupil_to_staff_chat: bool = True
    min_pupils_without_second_staff: int = 2
    staff_absence_grace_seconds: int = 300
    named_guests: bool = False
    reminder_required: bool = True
    # Logs written before the chat checks existed have none of these; they read back with the
    # policy's defaults.
    chat_check_personal_info: ChatCheckAction = ChatCheckAction.BLOCK
    chat_check_profanity: ChatCheckAction = ChatCheckAction.BLOCK
    chat_extra_words: tuple[str, ...] = ()  # a school's own words, with the reviewed list
    recording_allowed: bool = False
    recording_excludes_pupils: bool = True  # pupils' cameras, sound and screens stay out

    def chat_check_action(self, kind: ChatCheckKind) -> ChatCheckAction:
        """What the policy does with a message holding this kind of finding."""
        if kind.personal:
            return self.chat_check_personal_info
        return self.chat_check_profanity

    @classmethod
    def from_policy(cls, policy: EffectivePolicy) -> LessonRules:
        return cls(
            admission_mode=policy.get(ADMISSION_MODE),
            auto_lock=policy.get(AUTO_LOCK_WHEN_COMPLETE),
            screen_sharing=policy.get(SCREEN_SHARING),
            join_muted=policy.get(PUPILS_JOIN_MUTED),
            join_camera_off=policy.get(PUPILS_JOIN_CAMERA_OFF),
            pupil_unmute=policy.get(PUPIL_UNMUTE),
            pupil_video=policy.get(PUPIL_VIDEO_VISIBILITY),
            class_chat=policy.get(CLASS_CHAT),
            pupil_to_staff_chat=policy.get(PUPIL_TO_STAFF_CHAT),
            min_pupils_without_second_staff=policy.get(MIN_PUPILS_WITHOUT_SECOND_STAFF),
            staff_absence_grace_seconds=policy.get(STAFF_ABSENCE_GRACE_SECONDS),
            named_guests=policy.get(NAMED_GUESTS),
            reminder_required=policy.get(PERSONAL_INFO_REMINDER),
            chat_check_personal_info=policy.get(CHAT_CHECK_PERSONAL_INFO),
            chat_check_profanity=policy.get(CHAT_CHECK_PROFANITY),
            chat_extra_words=_chat_word_forms(policy.get(CHAT_EXTRA_WORDS)),
            recording_allowed=policy.get(RECORDING_ALLOWED),
            recording_excludes_pupils=policy.get(RECORDING_EXCLUDES_PUPIL_VIDEO),
        )


def _chat_word_forms(words: tuple[str, ...]) -> tuple[str, ...]:
    """The trust's and the school's extra words, with the forms the chat check can match.

    The check reads a message word by word and splits words at hyphens and apostrophes, so a
    one-word entry holding one ("knob-head") would never match as typed: it also goes in as
    children write it without them ("knob head", "knobhead")."""
    forms: list[str] = []
    for word in words:
        forms.append(word)
        if "-" in word or "'" in word:
            plain = word.replace("'", "")
            forms.append(" ".join(plain.replace("-", " ").split()))
            forms.append(plain.replace("-", ""))
    return tuple(dict.fromkeys(forms))


# --- State -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Participant:
    """One device in the lesson. A person with two devices is two participants."""

    pid: str
    person: Person
    display_name: str
    device: str
    via: Via
    presence: Presence
    connected: bool
    joined_at: datetime
    admitted_at: datetime | None = None
    mic_on: bool = False
    camera_on: bool = False
    mic_allowed: bool = True
    camera_allowed: bool = True
    hand_raised: bool = False
    wants_to_speak: bool = False
    screen_share_granted: bool = False
    screen_sharing: bool = False
    duplicate_of: str | None = None
    parent_present: bool = False

    @property
    def is_staff(self) -> bool:
        return self.person.role is Role.STAFF

    @property
    def in_room(self) -> bool:
        return self.presence is Presence.ADMITTED and self.connected

    @property
    def is_waiting(self) -> bool:
        return self.presence is Presence.WAITING and self.connected


@dataclass(frozen=True, slots=True)
class TurnedAway:
    """Someone stopped at the door, for the staff's waiting-room panel."""

    person: Person
    display_name: str
    reason: ReasonCode
    message: str
    at: datetime


TURNED_AWAY_KEPT = 50


@dataclass(frozen=True, slots=True)
class LessonState:
    lesson_id: str
    rules: LessonRules
    pupils: Mapping[str, RosterPupil]
    staff: Mapping[str, RosterStaff]
    guests: Mapping[str, str]
    phase: Phase = Phase.SCHEDULED
    locked: bool = False
    suspended: bool = False
    locked_before_suspend: bool = False
    chat_paused: bool = False
    chat_paused_before_suspend: bool = False
    held_since: datetime | None = None
    participants: Mapping[str, Participant] = field(default_factory=dict)
    barred: frozenset[Person] = frozenset()
    turned_away: tuple[TurnedAway, ...] = ()
    chat_count: int = 0
    ended_reason: str | None = None
    recording: bool = False
    recording_number: int = 0  # the number of the recording now, or of the last one
    recording_since: datetime | None = None

    # Who is where. Derived, never stored, so they cannot drift from the participants.

    def in_room(self, role: Role | None = None) -> list[Participant]:
        return [
            p
            for p in self.participants.values()
            if p.in_room and (role is None or p.person.role is role)
        ]

    def waiting(self) -> list[Participant]:
        # In order of arrival: participants are kept in the order they joined, and the sort is
        # stable, so two knocks at the same instant stay first come, first served.
        return sorted(
            (p for p in self.participants.values() if p.is_waiting),
            key=lambda p: p.joined_at,
        )

    def people_in_room(self, role: Role) -> set[Person]:
        """People, not devices: a teacher on a laptop and a phone is one member of staff."""
        return {p.person for p in self.in_room(role)}

    def staff_in_room(self) -> int:
        return len(self.people_in_room(Role.STAFF))

    def learners_in_room(self) -> list[Participant]:
        return [p for p in self.in_room() if not p.is_staff]

    def one_to_one(self) -> bool:
        """One member of staff with too few pupils and no second member of staff. A guest is an
        adult but not the school's staff, so a guest does not lift the hold."""
        pupils = len(self.people_in_room(Role.PUPIL))
        return self.staff_in_room() == 1 and 0 < pupils < self.rules.min_pupils_without_second_staff

    def hold_reason(self) -> HoldReason | None:
        """Why pupils may not send or receive media or chat now; None when they may."""
        if self.phase is Phase.ENDED:
            return HoldReason.ENDED
        if self.phase is Phase.SCHEDULED:
            return HoldReason.NOT_STARTED
        if self.phase is Phase.HELD:
            return HoldReason.NO_STAFF
        if self.one_to_one():
            return HoldReason.ONE_TO_ONE
        if self.suspended:
            return HoldReason.SUSPENDED
        return None

    def pupils_active(self) -> bool:
        return self.hold_reason() is None

    def participants_of(self, person: Person) -> list[Participant]:
        return [p for p in self.participants.values() if p.person == person]

    def roster_complete(self) -> bool:
        """Every pupil on the class list who may join has been let in. A removed pupil is not
        coming back, so the class can be complete without them."""
        admitted = {
            p.person.id
            for p in self.participants.values()
            if p.person.role is Role.PUPIL and p.presence is Presence.ADMITTED
        }
        expected = {
            pid
            for pid, pupil in self.pupils.items()
            if pupil.consent_ok and Person(Role.PUPIL, pid) not in self.barred
        }
        return bool(expected) and expected <= admitted

    def is_host(self, participant: Participant) -> bool:
        roster = self.staff.get(participant.person.id) if participant.is_staff else None
        return roster is not None and roster.is_host

    def may_share(self, participant: Participant) -> bool:
        """Staff share as the rules allow; anyone else only while a staff grant stands."""
        if not participant.is_staff:
            return participant.screen_share_granted
        return self.rules.screen_sharing is not ScreenSharing.HOST_ONLY or self.is_host(participant)

    def recorded(self, participant: Participant) -> bool:
        """Whether this participant's media goes into the recording now: staff always; pupils
        only where the lesson's rules take them in; guests never (no consent is asked of them)."""
        if not self.recording or not participant.in_room:
            return False
        if participant.is_staff:
            return True
        return participant.person.role is Role.PUPIL and not self.rules.recording_excludes_pupils

    def not_recordable(self) -> list[Participant]:
        """Pupils in the lesson (admitted, even if their connection dropped) without a parent's
        yes to recording: while any is here, no recording starts."""
        return [
            p
            for p in self.participants.values()
            if p.person.role is Role.PUPIL
            and p.presence is Presence.ADMITTED
            and not self.may_be_recorded(p.person)
        ]

    def may_be_recorded(self, person: Person) -> bool:
        if person.role is not Role.PUPIL:
            return True
        pupil = self.pupils.get(person.id)
        return pupil is not None and pupil.may_be_recorded

    def sharing(self) -> Participant | None:
        return next((p for p in self.participants.values() if p.screen_sharing), None)


def new_lesson(
    lesson_id: str,
    rules: LessonRules,
    pupils: Mapping[str, RosterPupil],
    staff: Mapping[str, RosterStaff],
    guests: Mapping[str, str] | None = None,
) -> LessonState:
    return LessonState(lesson_id, rules, dict(pupils), dict(staff), dict(guests or {}))
