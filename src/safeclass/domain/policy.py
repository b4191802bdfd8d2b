"""The trust's live-teaching policy as typed settings, and the rules for changing them.

Three levels set a value: the trust (its defaults come from the trust's policy), each school, and
each lesson. A school may tighten any setting, and may loosen one only where the trust has not
locked it. A lesson option may only tighten. A few settings are fixed: they carry the policy's core
promises (consent before joining, a waiting room, no private messages between pupils) and nobody
can change them. A word list (extra words to block in chat) is set differently: each level adds
its words to the list below it, so nobody below the trust can remove the trust's words.

The same check functions decide both when someone edits a value and when the effective policy is
resolved, so an override stored before the trust locked a setting can never take effect.
"""

from __future__ import annotations

import enum
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from safeclass.domain.decisions import Decision, ReasonCode
from safeclass.domain.year_groups import describe_year_group

V = TypeVar("V")
E = TypeVar("E", bound=enum.StrEnum)

JSONScalar = bool | int | str
JSONValue = JSONScalar | list[str]


class Level(enum.StrEnum):
    TRUST = "trust"
    SCHOOL = "school"
    LESSON = "lesson"


class SettingValueError(ValueError):
    """A value that a setting cannot take. The message is written for the person who typed it."""


@dataclass(frozen=True, kw_only=True)
class Setting(ABC, Generic[V]):
    key: str
    title: str
    description: str
    clause: str
    default: V
    trust_locked: bool = False
    fixed: bool = False
    lesson_option: bool = False

    @abstractmethod
    def parse(self, raw: str) -> V:
        """Read a value typed by a person (a form field, a command-line argument)."""

    @abstractmethod
    def coerce(self, stored: object) -> V:
        """Read a value stored as JSON, refusing anything of the wrong type or out of range."""

    @abstractmethod
    def rank(self, value: V) -> int | None:
        """Higher is stricter. None where the setting has no stricter direction."""

    @abstractmethod
    def to_json(self, value: V) -> JSONValue:
        """The value as stored."""

    @abstractmethod
    def describe(self, value: V) -> str:
        """The value in plain words."""

    def combine(self, below: V, value: V) -> V:
        """The value in force when a level sets `value` on top of `below`. For most settings that
        is simply `value`; a word list adds to the list below it instead."""
        return value

    def at_least_as_strict(self, candidate: V, reference: V) -> bool:
        candidate_rank = self.rank(candidate)
        reference_rank = self.rank(reference)
        if candidate_rank is None or reference_rank is None:
            return candidate == reference
        return candidate_rank >= reference_rank

    def stricter_direction(self) -> str:
        """How this setting tightens, in words, for the docs and the admin pages."""
        return "no direction: only a change where the trust allows it"


_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


@dataclass(frozen=True, kw_only=True)
class BoolSetting(Setting[bool]):
    strict_value: bool
    on_words: str = "on"
    off_words: str = "off"

    def parse(self, raw: str) -> bool:
        word = raw.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise SettingValueError(f'"{self.title}" must be on or off, not "{raw}".')

    def coerce(self, stored: object) -> bool:
        if isinstance(stored, bool):
            return stored
        raise SettingValueError(f'"{self.title}" must be on or off.')

    def rank(self, value: bool) -> int:
        return 1 if value == self.strict_value else 0

    def to_json(self, value: bool) -> bool:
        return value

    def describe(self, value: bool) -> str:
        return self.on_words if value else self.off_words

    def stricter_direction(self) -> str:
        return f"stricter when {self.describe(self.strict_value)}"


@dataclass(frozen=True, kw_only=True)
class IntSetting(Setting[int]):
    minimum: int
    maximum: int
    unit: str
    higher_is_stricter: bool | None

    def parse(self, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise SettingValueError(
                f'"{self.title}" must be a whole number, not "{raw}".'
            ) from None
        return self._in_range(value)

    def coerce(self, stored: object) -> int:
        if isinstance(stored, bool) or not isinstance(stored, int):
            raise SettingValueError(f'"{self.title}" must be a whole number.')
        return self._in_range(stored)

    def _in_range(self, value: int) -> int:
        if value < self.minimum or value > self.maximum:
            raise SettingValueError(
                f'"{self.title}" must be between {self.describe(self.minimum)} '
                f"and {self.describe(self.maximum)}."
            )
        return value

    def rank(self, value: int) -> int | None:
        if self.higher_is_stricter is None:
            return None
        return value if self.higher_is_stricter else -value

    def to_json(self, value: int) -> int:
        return value

    def describe(self, value: int) -> str:
        if self.unit == "year group":
            return describe_year_group(value)
        if self.unit == "days" and value % 365 == 0:
            years = value // 365
            return f"{years} year" if years == 1 else f"{years} years"
        return f"{value} {self.unit}"

    def stricter_direction(self) -> str:
        if self.higher_is_stricter is None:
            return super().stricter_direction()
        return "stricter when higher" if self.higher_is_stricter else "stricter when lower"


@dataclass(frozen=True, kw_only=True)
class ChoiceSetting(Setting[E]):
    strictest_first: tuple[E, ...]
    labels: Mapping[E, str] = field(default_factory=dict)

    def parse(self, raw: str) -> E:
        return self.coerce(raw.strip().lower())

    def coerce(self, stored: object) -> E:
        for choice in self.strictest_first:
            if stored == choice.value:
                return choice
        allowed = ", ".join(choice.value for choice in self.strictest_first)
        raise SettingValueError(f'"{self.title}" must be one of: {allowed}.')

    def rank(self, value: E) -> int:
        return len(self.strictest_first) - self.strictest_first.index(value)

    def to_json(self, value: E) -> str:
        return value.value

    def describe(self, value: E) -> str:
        return self.labels.get(value, value.value)

    def stricter_direction(self) -> str:
        order = ", then ".join(self.describe(choice) for choice in self.strictest_first)
        return f"strictest first: {order}"


# Curly apostrophes, as phones and word processors type them, read as the plain one.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_WORD_DIGITS = frozenset("0123456789")
_WORD_MARKS = frozenset(" '-")
_PROBLEMS_SHOWN = 5


@dataclass(frozen=True, kw_only=True)
class WordListSetting(Setting[tuple[str, ...]]):
    """Words and short phrases, kept in lower case, without repeats, in alphabetical order.

    Each level adds its words to the list below it (`combine`): a longer list is stricter, and no
    level can take away a word set below it. So a trust's lock changes nothing here: a school may
    always add words (that only makes things stricter) and can never remove the trust's."""

    max_words: int = 200
    max_length: int = 40
    words_described: int = 10  # how many words `describe` names before "and N more"

    def parse(self, raw: str) -> tuple[str, ...]:
        """One word or phrase on each line. Blank lines are left out."""
        return self._checked(raw.splitlines(), place="line")

    def coerce(self, stored: object) -> tuple[str, ...]:
        if not isinstance(stored, list) or not all(isinstance(item, str) for item in stored):
            raise SettingValueError(f'"{self.title}" must be a list of words.')
        return self._checked(stored, place="entry")

    def _checked(self, items: Sequence[str], *, place: str) -> tuple[str, ...]:
        words: set[str] = set()
        problems: list[str] = []
        for number, item in enumerate(items, start=1):
            word = _normalise_word(item)
            if not word:
                continue
            problem = self._problem(word)
            if problem is None:
                words.add(word)
            else:
                problems.append(
                    f'{place} {number} ("{_shortened(word, self.max_length)}") {problem}'
                )
        if problems:
            shown = "; ".join(problems[:_PROBLEMS_SHOWN])
            more = len(problems) - _PROBLEMS_SHOWN
            if more > 0:
                shown += f"; and {more} more"
            raise SettingValueError(f'Some of "{self.title}" cannot be used: {shown}.')
        if len(words) > self.max_words:
            raise SettingValueError(
                f'"{self.title}" can hold at most {self.max_words} words or phrases; '
                f"this list has {len(words)}."
            )
        return tuple(sorted(words))

    def _problem(self, word: str) -> str | None:
        if len(word) > self.max_length:
            return f"is longer than {self.max_length} characters"
        if not all(c.isalpha() or c in _WORD_DIGITS or c in _WORD_MARKS for c in word):
            return (
                "may use only letters, numbers, spaces, apostrophes (') and hyphens (-), "
                "with one word or phrase on each line"
            )
        if sum(c.isalpha() for c in word) < 2:
            # The chat check ignores shorter ones: a single letter would stop far too much.
            return "needs at least two letters"
        return None

    def combine(self, below: tuple[str, ...], value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(below) | set(value)))

    def at_least_as_strict(self, candidate: tuple[str, ...], reference: tuple[str, ...]) -> bool:
        return set(candidate) >= set(reference)

    def rank(self, value: tuple[str, ...]) -> int:
        # More words is stricter; `at_least_as_strict` asks for every word of the other list.
        return len(value)

    def to_json(self, value: tuple[str, ...]) -> list[str]:
        return list(value)

    def describe(self, value: tuple[str, ...]) -> str:
        if not value:
            return "none"
        count = "1 word or phrase" if len(value) == 1 else f"{len(value)} words or phrases"
        shown = ", ".join(value[: self.words_described])
        more = len(value) - self.words_described
        return f"{count}: {shown}" + (f" and {more} more" if more > 0 else "")

    def stricter_direction(self) -> str:
        return (
            "stricter with more words: each level adds to the list below it, and no level can "
            "remove a word set below it"
        )


def _normalise_word(text: str) -> str:
    """A word or phrase as kept: composed accents, plain apostrophes, single spaces, lower case."""
    composed = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    return " ".join(composed.split()).lower()


def _shortened(word: str, length: int) -> str:
    return word if len(word) <= length else word[:length] + "\u2026"


class AdmissionMode(enum.StrEnum):
    ONE_AT_A_TIME = "one_at_a_time"
    ALL_AT_ONCE_ALLOWED = "all_at_once_allowed"


class ScreenSharing(enum.StrEnum):
    HOST_ONLY = "host_only"
    STAFF = "staff"
    STAFF_AND_GRANTED_PUPILS = "staff_and_granted_pupils"


class PupilUnmute(enum.StrEnum):
    ASK_STAFF = "ask_staff"
    SELF = "self"


class PupilVideoVisibility(enum.StrEnum):
    STAFF_ONLY = "staff_only"
    EVERYONE = "everyone"


class ChatCheckAction(enum.StrEnum):
    BLOCK = "block"
    WARN = "warn"


# --- The settings. Each names the clause of the trust's policy (or the NSPCC advice it quotes) that
# it carries out. The trust's policy: precautions 1-7; NSPCC advice: sections i-vii.

CONSENT_REQUIRED_LIVE = BoolSetting(
    key="consent_required_live",
    title="Parent consent before live lessons",
    description="A pupil joins a live lesson only if a parent or carer has said yes, on the "
    "current consent form. Without it the pupil is stopped at the door and told why.",
    clause="Trust precaution 1 (parent permission; parents accept the risks)",
    default=True,
    strict_value=True,
    fixed=True,
    trust_locked=True,
    on_words="required",
    off_words="not required",
)
PARENT_MEDIATED_BELOW_YEAR = IntSetting(
    key="parent_mediated_below_year",
    title="Parents join with pupils below",
    description="Pupils in year groups below this one join through their parent's link, and the "
    "parent confirms they are there.",
    clause="Trust precaution 1 (meetings mediated by parents, particularly for very young pupils)",
    default=3,
    minimum=-1,
    maximum=14,
    unit="year group",
    higher_is_stricter=True,
)
MIN_PUPILS_WITHOUT_SECOND_STAFF = IntSetting(
    key="min_pupils_without_second_staff",
    title="Smallest group for one member of staff",
    description="With fewer pupils than this, a second member of staff must be in the lesson. "
    "Below it, the lesson cannot be booked and media is held until another adult arrives.",
    clause="Trust precaution 2 (no 1:1 lessons; catch-up with a second member of staff)",
    default=2,
    minimum=2,
    maximum=10,
    unit="pupils",
    higher_is_stricter=True,
    trust_locked=True,
    lesson_option=True,
)
WAITING_ROOM = BoolSetting(
    key="waiting_room",
    title="Waiting room",
    description="Everyone who joins waits until a member of staff lets them in.",
    clause="NSPCC iii (use virtual waiting rooms)",
    default=True,
    strict_value=True,
    fixed=True,
    trust_locked=True,
    on_words="always on",
    off_words="off",
)
ADMISSION_MODE = ChoiceSetting[AdmissionMode](
    key="admission_mode",
    title="Letting people in",
    description="Whether staff let in one person at a time, or may also let in everyone waiting "
    "with one click.",
    clause="NSPCC introduction (admit students one at a time); NSPCC iii",
    default=AdmissionMode.ONE_AT_A_TIME,
    strictest_first=(AdmissionMode.ONE_AT_A_TIME, AdmissionMode.ALL_AT_ONCE_ALLOWED),
    labels={
        AdmissionMode.ONE_AT_A_TIME: "one at a time",
        AdmissionMode.ALL_AT_ONCE_ALLOWED: "everyone at once allowed",
    },
    lesson_option=True,
)
AUTO_LOCK_WHEN_COMPLETE = BoolSetting(
    key="auto_lock_when_complete",
    title="Lock when everyone is in",
    description="When every pupil on the class list has been let in, the lesson locks itself: "
    "nobody new can reach even the waiting room.",
    clause="NSPCC i (lock the classroom once all pupils have arrived)",
    default=True,
    strict_value=True,
    lesson_option=True,
)
SCREEN_SHARING = ChoiceSetting[ScreenSharing](
    key="screen_sharing",
    title="Who may share a screen",
    description="Who may show their screen to the class. Pupils can share only while a member of "
    "staff allows it, and staff can stop it at any moment.",
    clause="NSPCC iv (limit screen sharing to the teacher until safe routines are established)",
    default=ScreenSharing.STAFF_AND_GRANTED_PUPILS,
    strictest_first=(
        ScreenSharing.HOST_ONLY,
        ScreenSharing.STAFF,
        ScreenSharing.STAFF_AND_GRANTED_PUPILS,
    ),
    labels={
        ScreenSharing.HOST_ONLY: "the lesson's host only",
        ScreenSharing.STAFF: "staff only",
        ScreenSharing.STAFF_AND_GRANTED_PUPILS: "staff, and pupils while staff allow it",
    },
    lesson_option=True,
)
PUPILS_JOIN_MUTED = BoolSetting(
    key="pupils_join_muted",
    title="Pupils join with microphone off",
    description="Pupils' microphones are off when they come in.",
    clause="NSPCC iv (mute and video off by default as people join)",
    default=True,
    strict_value=True,
    lesson_option=True,
    on_words="yes",
    off_words="no",
)
PUPILS_JOIN_CAMERA_OFF = BoolSetting(
    key="pupils_join_camera_off",
    title="Pupils join with camera off",
    description="Pupils' cameras are off when they come in.",
    clause="NSPCC iv (mute and video off by default as people join); trust precaution 6",
    default=True,
    strict_value=True,
    lesson_option=True,
    on_words="yes",
    off_words="no",
)
PUPIL_UNMUTE = ChoiceSetting[PupilUnmute](
    key="pupil_unmute",
    title="Pupils turning their microphone on",
    description="Whether pupils must ask staff before their microphone is turned on, or may turn "
    "it on themselves.",
    clause="NSPCC iv (hosts can block unwanted noise by muting)",
    default=PupilUnmute.ASK_STAFF,
    strictest_first=(PupilUnmute.ASK_STAFF, PupilUnmute.SELF),
    labels={PupilUnmute.ASK_STAFF: "must ask staff", PupilUnmute.SELF: "may unmute themselves"},
    lesson_option=True,
)
PUPIL_VIDEO_VISIBILITY = ChoiceSetting[PupilVideoVisibility](
    key="pupil_video_visibility",
    title="Who sees pupils' video",
    description="Whether pupils' cameras are seen by staff only, or by the whole class. Fewer "
    "viewers means fewer people who could screenshot a child's face.",
    clause="Risks (screenshots of pupils' names and faces); trust precaution 4",
    default=PupilVideoVisibility.STAFF_ONLY,
    strictest_first=(PupilVideoVisibility.STAFF_ONLY, PupilVideoVisibility.EVERYONE),
    labels={
        PupilVideoVisibility.STAFF_ONLY: "staff only",
        PupilVideoVisibility.EVERYONE: "the whole class",
    },
    lesson_option=True,
)
CLASS_CHAT = BoolSetting(
    key="class_chat",
    title="Class chat",
    description="Pupils may write to the whole class. Staff see every message.",
    clause="NSPCC vi (prevent distractions between pupils)",
    default=True,
    strict_value=False,
    lesson_option=True,
)
PUPIL_TO_STAFF_CHAT = BoolSetting(
    key="pupil_to_staff_chat",
    title="Pupils writing to staff",
    description="Pupils may write to the staff in the lesson. Every member of staff present sees "
    "the message, never just one.",
    clause="NSPCC vi; trust precaution 2 (no one-to-one contact)",
    default=True,
    strict_value=False,
    lesson_option=True,
)
PUPIL_PRIVATE_MESSAGES = BoolSetting(
    key="pupil_private_messages",
    title="Private messages between pupils",
    description="Pupils can never send each other private messages. This cannot be changed.",
    clause="NSPCC vi (disable private messaging)",
    default=False,
    strict_value=False,
    fixed=True,
    trust_locked=True,
    on_words="allowed",
    off_words="never",
)
CHAT_CHECK_PERSONAL_INFO = ChoiceSetting[ChatCheckAction](
    key="chat_check_personal_info",
    title="Personal details in chat",
    description="What happens when a pupil's message looks like it holds a phone number, an "
    "address, an email address or a social-media name: stop the message with a kind reminder "
    "and tell staff, or let it through and tell staff.",
    clause="NSPCC v (remind pupils not to share personal information)",
    default=ChatCheckAction.BLOCK,
    strictest_first=(ChatCheckAction.BLOCK, ChatCheckAction.WARN),
    labels={ChatCheckAction.BLOCK: "stop it and tell staff", ChatCheckAction.WARN: "tell staff"},
    lesson_option=True,
)
CHAT_CHECK_PROFANITY = ChoiceSetting[ChatCheckAction](
    key="chat_check_profanity",
    title="Bad language in chat",
    description="What happens when a message holds swearing or other unkind words.",
    clause="Trust precaution 5 (language must be professional and appropriate)",
    default=ChatCheckAction.BLOCK,
    strictest_first=(ChatCheckAction.BLOCK, ChatCheckAction.WARN),
    labels={ChatCheckAction.BLOCK: "stop it and tell staff", ChatCheckAction.WARN: "tell staff"},
    lesson_option=True,
)
CHAT_EXTRA_WORDS = WordListSetting(
    key="chat_extra_words",
    title="Extra words to block in chat",
    description="Words and short phrases that count as bad language in chat, on top of the swear "
    'words SafeClass already knows. A message holding one is handled as "Bad language in chat" '
    "says. Capital letters, accents and common disguises (pl0nker, p l o n k e r) are caught "
    'too, but each word is matched whole: "plonker" does not catch "plonkers", so add every form '
    "you want caught. The trust's words always apply; a school adds its own.",
    clause="Trust precaution 5 (language must be professional and appropriate)",
    default=(),
)
PERSONAL_INFO_REMINDER = BoolSetting(
    key="personal_info_reminder",
    title="Reminder before joining",
    description="Pupils read and accept a short reminder (keep personal details private, the "
    "lesson's rules) before they reach the waiting room.",
    clause="NSPCC v (remind pupils not to share personal information)",
    default=True,
    strict_value=True,
    trust_locked=True,
    on_words="required",
    off_words="not shown",
)
RECORDING_ALLOWED = BoolSetting(
    key="recording_allowed",
    title="Recording lessons",
    description="Whether staff may record a lesson at all.",
    clause="Risks (recordings of pupils' names and faces raise data protection issues)",
    default=False,
    strict_value=False,
    lesson_option=True,
    on_words="allowed",
    off_words="not allowed",
)
CONSENT_REQUIRED_RECORDING = BoolSetting(
    key="consent_required_recording",
    title="Parent consent before recording",
    description="A lesson is recorded only while every pupil in it has a parent's yes to "
    "recording. This cannot be changed.",
    clause="Trust precaution 1 (parent permission); risks (recordings)",
    default=True,
    strict_value=True,
    fixed=True,
    trust_locked=True,
    on_words="required",
    off_words="not required",
)
RECORDING_EXCLUDES_PUPIL_VIDEO = BoolSetting(
    key="recording_excludes_pupil_video",
    title="Leave pupils out of recordings",
    description="Recordings keep staff video, sound and shared screens, never pupils' cameras, "
    "sound or screens.",
    clause="Risks (recordings showing pupils' faces)",
    default=True,
    strict_value=True,
    trust_locked=True,
    lesson_option=True,
    on_words="yes",
    off_words="no",
)
STAFF_ABSENCE_GRACE_SECONDS = IntSetting(
    key="staff_absence_grace_seconds",
    title="Time before a lesson without staff ends",
    description="If every member of staff leaves or drops out, pupils go straight back to the "
    "waiting room. If no member of staff returns within this time, the lesson ends.",
    clause="NSPCC introduction (teachers remain on the line throughout)",
    default=300,
    minimum=30,
    maximum=1800,
    unit="seconds",
    higher_is_stricter=False,
    lesson_option=True,
)
STAFF_CHECKLIST = BoolSetting(
    key="staff_checklist",
    title="Staff check before each lesson",
    description="Before opening a lesson, staff check their camera view, background, clothing and "
    "surroundings.",
    clause="Trust precautions 3 and 4 (suitable clothing and surroundings)",
    default=True,
    strict_value=True,
    lesson_option=True,
    on_words="required",
    off_words="not required",
)
BLUR_STAFF_DEFAULT = BoolSetting(
    key="blur_staff_default",
    title="Background blur for staff",
    description="Staff cameras start with the background blurred. Staff may turn it off for a "
    "lesson if their background is suitable.",
    clause="Trust precaution 4 (blur or replace the background)",
    default=True,
    strict_value=True,
    lesson_option=True,
    on_words="on at the start",
    off_words="off at the start",
)
BLUR_PUPIL_DEFAULT = BoolSetting(
    key="blur_pupil_default",
    title="Background blur for pupils",
    description="Whether pupils' cameras start with the background blurred. Pupils may change it.",
    clause="Trust precaution 4; risks (backgrounds may reveal personal information)",
    default=False,
    strict_value=True,
    lesson_option=True,
    on_words="on at the start",
    off_words="off at the start",
)
NAMED_GUESTS = BoolSetting(
    key="named_guests",
    title="Named guests",
    description="Whether staff may invite a visitor (for example a visiting speaker) by name for "
    "one lesson. Guests wait to be let in like everyone else.",
    clause="NSPCC i (allow only recognised users)",
    default=False,
    strict_value=False,
    lesson_option=True,
    on_words="allowed",
    off_words="not allowed",
)
VIEWER_WATERMARK = BoolSetting(
    key="viewer_watermark",
    title="Name watermark over video",
    description="Each viewer's own name is shown faintly over lesson video, to put people off "
    "taking screenshots.",
    clause="Risks (screenshots of pupils' names and faces)",
    default=True,
    strict_value=True,
    lesson_option=True,
)


def _retention(key: str, title: str, description: str, days: int) -> IntSetting:
    return IntSetting(
        key=key,
        title=title,
        description=description,
        clause="Risks (data protection); the trust's records retention schedule",
        default=days,
        minimum=1,
        maximum=36500,
        unit="days",
        higher_is_stricter=None,
    )


RETENTION_LESSON_EVENTS = _retention(
    "retention_lesson_events_days",
    "Keep lesson logs for",
    "How long the record of what happened in each lesson (who joined, who was let in, muted or "
    "removed) is kept.",
    365,
)
RETENTION_CHAT = _retention(
    "retention_chat_days",
    "Keep chat messages for",
    "How long lesson chat is kept. Chat attached to an incident is kept with the incident.",
    90,
)
RETENTION_ATTENDANCE = _retention(
    "retention_attendance_days",
    "Keep attendance for",
    "How long the register of who was in each lesson, and when, is kept.",
    730,
)
RETENTION_INCIDENTS = _retention(
    "retention_incidents_days",
    "Keep incident records for",
    "How long safeguarding incident records are kept. Check your safeguarding records policy: "
    "many keep these until the pupil is 25.",
    9125,
)
RETENTION_WEBHOOK_MESSAGES = _retention(
    "retention_webhook_messages_days",
    "Keep messages to your safeguarding system for",
    "How long SafeClass keeps its copy of each message it sent to your school's safeguarding "
    "system about an incident, counted from when it was sent (or when SafeClass stopped trying). "
    "The incident itself is kept for its own time.",
    90,
)
RETENTION_RECORDINGS = _retention(
    "retention_recordings_days",
    "Keep recordings for",
    "How long lesson recordings are kept before they are deleted.",
    30,
)
RETENTION_WITHDRAWN_CONSENT = _retention(
    "retention_withdrawn_consent_days",
    "Keep withdrawn consent for",
    "How long a consent record is kept after a parent withdraws it.",
    365,
)
RETENTION_CONSENT_EMAILS = _retention(
    "retention_consent_emails_days",
    "Keep consent emails for",
    "How long the school's copy of each email to a parent or carer about consent is kept, "
    "counted from when the email was made, whether it was sent or not.",
    365,
)
RETENTION_SIGN_IN_LOG = _retention(
    "retention_sign_in_log_days",
    "Keep sign-in records for",
    "How long records of staff sign-ins and failed attempts are kept.",
    90,
)

SETTINGS: tuple[Setting[Any], ...] = (
    CONSENT_REQUIRED_LIVE,
    PARENT_MEDIATED_BELOW_YEAR,
    MIN_PUPILS_WITHOUT_SECOND_STAFF,
    WAITING_ROOM,
    ADMISSION_MODE,
    AUTO_LOCK_WHEN_COMPLETE,
    SCREEN_SHARING,
    PUPILS_JOIN_MUTED,
    PUPILS_JOIN_CAMERA_OFF,
    PUPIL_UNMUTE,
    PUPIL_VIDEO_VISIBILITY,
    CLASS_CHAT,
    PUPIL_TO_STAFF_CHAT,
    PUPIL_PRIVATE_MESSAGES,
    CHAT_CHECK_PERSONAL_INFO,
    CHAT_CHECK_PROFANITY,
    CHAT_EXTRA_WORDS,
    PERSONAL_INFO_REMINDER,
    RECORDING_ALLOWED,
    CONSENT_REQUIRED_RECORDING,
    RECORDING_EXCLUDES_PUPIL_VIDEO,
    STAFF_ABSENCE_GRACE_SECONDS,
    STAFF_CHECKLIST,
    BLUR_STAFF_DEFAULT,
    BLUR_PUPIL_DEFAULT,
    NAMED_GUESTS,
    VIEWER_WATERMARK,
    RETENTION_LESSON_EVENTS,
    RETENTION_CHAT,
    RETENTION_ATTENDANCE,
    RETENTION_INCIDENTS,
    RETENTION_WEBHOOK_MESSAGES,
    RETENTION_RECORDINGS,
    RETENTION_WITHDRAWN_CONSENT,
    RETENTION_CONSENT_EMAILS,
    RETENTION_SIGN_IN_LOG,
)
SETTINGS_BY_KEY: Mapping[str, Setting[Any]] = {setting.key: setting for setting in SETTINGS}


def _check_valid(setting: Setting[Any], value: object) -> None:
    """Raise unless `value` is one the setting can take (right type, in range)."""
    try:
        stored = setting.to_json(value)
    except AttributeError:  # a plain string where a choice (an enum member) was expected
        raise SettingValueError(f'"{setting.title}" cannot be {value!r}.') from None
    if setting.coerce(stored) != value:  # a word list not in its kept form, or not a tuple
        raise SettingValueError(f'"{setting.title}" cannot be {value!r}.')


def setting_for_key(key: str) -> Setting[Any]:
    try:
        return SETTINGS_BY_KEY[key]
    except KeyError:
        raise SettingValueError(f'There is no setting called "{key}".') from None


# --- The levels.


@dataclass(frozen=True)
class TrustPolicy:
    """The trust's values (defaults unless the trust changed them) and which settings it locks."""

    values: Mapping[str, Any]
    locks: frozenset[str]

    def __post_init__(self) -> None:
        # Resolution trusts these values, so a policy built by hand is held to the same rules as
        # one read from storage: every setting valued and in range, fixed settings at their
        # default and locked.
        unknown = (set(self.values) | self.locks) - SETTINGS_BY_KEY.keys()
        if unknown:
            raise SettingValueError(f'There is no setting called "{min(unknown)}".')
        for setting in SETTINGS:
            if setting.key not in self.values:
                raise SettingValueError(f'The trust\'s policy has no value for "{setting.title}".')
            _check_valid(setting, self.values[setting.key])
            if setting.fixed and (
                self.values[setting.key] != setting.default or setting.key not in self.locks
            ):
                raise SettingValueError(_fixed(setting).message)

    @classmethod
    def defaults(cls) -> TrustPolicy:
        return cls(
            values={setting.key: setting.default for setting in SETTINGS},
            locks=frozenset(setting.key for setting in SETTINGS if setting.trust_locked),
        )

    @classmethod
    def from_stored(cls, values: Mapping[str, object], locks: Mapping[str, object]) -> TrustPolicy:
        """Build from stored JSON. Fixed settings keep their default and stay locked whatever is
        stored; a value that no longer parses raises, so a corrupted policy is never half-read."""
        resolved: dict[str, Any] = {}
        lock_keys: set[str] = set()
        for setting in SETTINGS:
            stored = values.get(setting.key)
            use_stored = stored is not None and not setting.fixed
            resolved[setting.key] = setting.coerce(stored) if use_stored else setting.default
            locked = locks.get(setting.key, setting.trust_locked)
            if not isinstance(locked, bool):
                # Read as "unlocked", a corrupted lock would quietly let schools loosen the rule.
                raise SettingValueError(
                    f'The trust\'s lock on "{setting.title}" must be on or off.'
                )
            if setting.fixed or locked:
                lock_keys.add(setting.key)
        return cls(values=resolved, locks=frozenset(lock_keys))

    def value(self, setting: Setting[V]) -> V:
        value: V = self.values[setting.key]
        return value

    def is_locked(self, setting: Setting[Any]) -> bool:
        return setting.key in self.locks


@dataclass(frozen=True)
class ResolvedSetting(Generic[V]):
    setting: Setting[V]
    value: V
    source: Level
    locked: bool
    note: str | None = None

    def describe(self) -> str:
        return self.setting.describe(self.value)


@dataclass(frozen=True)
class EffectivePolicy:
    """The value in force for every setting, with where it came from."""

    resolved: Mapping[str, ResolvedSetting[Any]]

    def get(self, setting: Setting[V]) -> V:
        value: V = self.resolved[setting.key].value
        return value

    def explain(self, setting: Setting[V]) -> ResolvedSetting[V]:
        explained: ResolvedSetting[V] = self.resolved[setting.key]
        return explained

    def __iter__(self) -> Iterator[ResolvedSetting[Any]]:
        return (self.resolved[setting.key] for setting in SETTINGS)


# --- The rules for changing a value. Each condition stands on its own line.


def check_trust_value(setting: Setting[V], value: V) -> Decision:
    if setting.fixed:
        return _fixed(setting)
    return Decision.allow(ReasonCode.TIGHTENS, f'"{setting.title}" can be set by the trust.')


def check_school_override(trust: TrustPolicy, setting: Setting[V], value: V) -> Decision:
    if setting.fixed:
        return _fixed(setting)
    trust_value = trust.value(setting)
    in_force = setting.combine(trust_value, value)
    if in_force == trust_value:
        return Decision.allow(
            ReasonCode.SAME_AS_CURRENT, f'"{setting.title}" is the same as the trust\'s value.'
        )
    if setting.at_least_as_strict(in_force, trust_value):
        return Decision.allow(
            ReasonCode.TIGHTENS, f'A school may make "{setting.title}" stricter than the trust.'
        )
    if trust.is_locked(setting):
        return Decision.refuse(
            ReasonCode.LOCKED_BY_TRUST,
            f'The trust has locked "{setting.title}" at '
            f'"{setting.describe(trust_value)}". A school may only make it stricter.',
        )
    return Decision.allow(
        ReasonCode.LOOSENS_UNLOCKED,
        f'The trust lets schools choose "{setting.title}".',
    )


def check_lesson_option(school: EffectivePolicy, setting: Setting[V], value: V) -> Decision:
    if setting.fixed:
        return _fixed(setting)
    if not setting.lesson_option:
        return Decision.refuse(
            ReasonCode.NOT_A_LESSON_OPTION,
            f'"{setting.title}" is set for the whole school, not for one lesson.',
        )
    school_value = school.get(setting)
    in_force = setting.combine(school_value, value)
    if in_force == school_value:
        return Decision.allow(
            ReasonCode.SAME_AS_CURRENT, f'"{setting.title}" is the same as the school\'s value.'
        )
    if setting.at_least_as_strict(in_force, school_value):
        return Decision.allow(
            ReasonCode.TIGHTENS, f'A lesson may make "{setting.title}" stricter than the school.'
        )
    return Decision.refuse(
        ReasonCode.LESSON_MAY_ONLY_TIGHTEN,
        f'A lesson may only make "{setting.title}" stricter than the school\'s '
        f'"{setting.describe(school_value)}".',
    )


def _fixed(setting: Setting[Any]) -> Decision:
    return Decision.refuse(
        ReasonCode.SETTING_FIXED,
        f'"{setting.title}" is one of the rules SafeClass always keeps. Nobody can change it.',
    )


# --- Resolution: trust, then school, then lesson, through the same checks as an edit.


def resolve(
    trust: TrustPolicy,
    school_overrides: Mapping[str, Any] | None = None,
    lesson_options: Mapping[str, Any] | None = None,
) -> EffectivePolicy:
    """The effective policy. Overrides must already be parsed values (see `parse_overrides`); one
    that the rules refuse is ignored, and the reason is kept as a note on that setting."""
    school_level = _apply_level(
        {
            setting.key: ResolvedSetting(
                setting, trust.value(setting), Level.TRUST, trust.is_locked(setting)
            )
            for setting in SETTINGS
        },
        school_overrides or {},
        Level.SCHOOL,
        lambda setting, value: check_school_override(trust, setting, value),
    )
    school_policy = EffectivePolicy(school_level)
    lesson_level = _apply_level(
        school_level,
        lesson_options or {},
        Level.LESSON,
        lambda setting, value: check_lesson_option(school_policy, setting, value),
    )
    return EffectivePolicy(lesson_level)


def _apply_level(
    below: Mapping[str, ResolvedSetting[Any]],
    overrides: Mapping[str, Any],
    level: Level,
    check: Callable[[Setting[Any], Any], Decision],
) -> dict[str, ResolvedSetting[Any]]:
    result = dict(below)
    for key, value in overrides.items():
        current = below.get(key)
        if current is None:
            continue
        decision = check(current.setting, value)
        if not decision.allowed:
            note = f"The {level.value} value was not used: {decision.message}"
            result[key] = ResolvedSetting(
                current.setting,
                current.value,
                current.source,
                current.locked,
                note=_join_notes(current.note, note),
            )
        elif decision.reason_code is not ReasonCode.SAME_AS_CURRENT:
            result[key] = ResolvedSetting(
                current.setting,
                current.setting.combine(current.value, value),
                level,
                current.locked,
                note=current.note,
            )
    return result


def _join_notes(earlier: str | None, later: str) -> str:
    # A lesson's refused option must not hide that the school's value was refused too.
    return later if earlier is None else f"{earlier} {later}"


def parse_overrides(stored: Mapping[str, object]) -> tuple[dict[str, Any], list[str]]:
    """Read stored overrides (JSON). Unknown keys and bad values are left out and reported, so a
    setting removed in a later version or a hand-edited row never breaks a school's policy."""
    parsed: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in stored.items():
        setting = SETTINGS_BY_KEY.get(key)
        if setting is None:
            problems.append(f'Unknown setting "{key}" was ignored.')
            continue
        try:
            parsed[key] = setting.coerce(raw)
        except SettingValueError as error:
            problems.append(str(error))
    return parsed, problems


def overrides_to_json(overrides: Mapping[str, Any]) -> dict[str, JSONValue]:
    return {key: setting_for_key(key).to_json(value) for key, value in overrides.items()}


def is_parent_mediated(policy: EffectivePolicy, year_group: int) -> bool:
    return year_group < policy.get(PARENT_MEDIATED_BELOW_YEAR)
