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
