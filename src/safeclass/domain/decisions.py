"""Every yes or no the server gives comes back as a Decision with a reason code and plain words."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ReasonCode(enum.StrEnum):
    # Policy changes
    SAME_AS_CURRENT = "same_as_current"
    TIGHTENS = "tightens"
    LOOSENS_UNLOCKED = "loosens_unlocked"
    LOCKED_BY_TRUST = "locked_by_trust"
    SETTING_FIXED = "setting_fixed"
    NOT_A_SCHOOL_SETTING = "not_a_school_setting"
    NOT_A_LESSON_OPTION = "not_a_lesson_option"
    LESSON_MAY_ONLY_TIGHTEN = "lesson_may_only_tighten"
    # Scheduling
    STAFFING_OK = "staffing_ok"
    NO_STAFF = "no_staff"
    NO_PUPILS = "no_pupils"
    ONE_TO_ONE = "one_to_one"
    TIMES_OK = "times_ok"
    BAD_TIMES = "bad_times"
    # Consent
    CONSENT_GIVEN = "consent_given"
    CONSENT_MISSING = "consent_missing"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_OUTDATED = "consent_outdated"
    # Records
    NOT_AT_SCHOOL = "not_at_school"
    # Lessons
    LESSON_ENDED = "lesson_ended"
    NO_CHANGE = "no_change"
    NOT_IN_LESSON = "not_in_lesson"
    REMOVED = "removed"
    NOT_ON_ROSTER = "not_on_roster"
    WRONG_DOOR = "wrong_door"
    LOCKED = "locked"
    PARENT_REQUIRED = "parent_required"
    REMINDER_NOT_ACCEPTED = "reminder_not_accepted"
    GUESTS_NOT_ALLOWED = "guests_not_allowed"
    NOT_INVITED = "not_invited"
    NOTHING_WAITING = "nothing_waiting"
    ONE_AT_A_TIME = "one_at_a_time"
    NOT_WAITING = "not_waiting"
    NOT_ADMITTED = "not_admitted"
    NOT_A_PUPIL = "not_a_pupil"
    NOT_STAFF = "not_staff"
    STAFF_CANNOT_BE_REMOVED = "staff_cannot_be_removed"
    DUPLICATE_DEVICE = "duplicate_device"
    PUPILS_MAY_NOT_SHARE = "pupils_may_not_share"
    HOST_ONLY_SHARE = "host_only_share"
    NO_SHARE_GRANT = "no_share_grant"
    SOMEONE_SHARING = "someone_sharing"
    MIC_NEEDS_PERMISSION = "mic_needs_permission"
    CAMERA_STOPPED_BY_STAFF = "camera_stopped_by_staff"
    MEDIA_HELD = "media_held"
    CHAT_PAUSED = "chat_paused"
    RECORDING_NOT_ALLOWED = "recording_not_allowed"
    NO_RECORDING_CONSENT = "no_recording_consent"
    LESSON_NOT_RUNNING = "lesson_not_running"
    CHAT_OFF = "chat_off"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_COMMAND = "unknown_command"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason_code: ReasonCode
    message: str

    @classmethod
    def allow(cls, reason_code: ReasonCode, message: str) -> Decision:
        return cls(True, reason_code, message)

    @classmethod
    def refuse(cls, reason_code: ReasonCode, message: str) -> Decision:
        return cls(False, reason_code, message)
