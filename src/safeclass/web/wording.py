"""Plain words for the states the pages show. School staff read these."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from safeclass.config import timezone_from_env
from safeclass.domain.consent import ConsentStatus
from safeclass.domain.policy import Level, ResolvedSetting
from safeclass.store.models import STAFF_ROLE_NAMES, LessonStaffRole, StaffRole

# SAFECLASS_TIMEZONE, Europe/London unless set (config.py). The zone data comes with the pinned
# tzdata package, so a server without the system's zone data still shows school times, not UTC.
SCHOOL_TIMEZONE = timezone_from_env()

LIVE_CONSENT_WORDS = {
    ConsentStatus.GIVEN: "Yes, given",
    ConsentStatus.MISSING: "No answer yet",
    ConsentStatus.WITHDRAWN: "Withdrawn",
    ConsentStatus.OUTDATED: "Needs to agree to the new form",
}

LEVEL_WORDS = {
    Level.TRUST: "Trust",
    Level.SCHOOL: "This school",
    Level.LESSON: "This lesson",
}

LESSON_STAFF_ROLE_WORDS = {
    LessonStaffRole.CO_TEACHER: "Co-teacher",
    LessonStaffRole.TEACHING_ASSISTANT: "Teaching assistant",
}

FIXED_WORDS = "Always on / cannot be changed"


def consent_words(status: ConsentStatus) -> str:
    return LIVE_CONSENT_WORDS[status]


def level_words(level: Level) -> str:
    return LEVEL_WORDS[level]


def role_words(role: StaffRole) -> str:
    return STAFF_ROLE_NAMES[role]


def lesson_staff_role_words(role: LessonStaffRole) -> str:
    return LESSON_STAFF_ROLE_WORDS[role]


def lock_words(resolved: ResolvedSetting[object]) -> str:
    if resolved.setting.fixed:
        return FIXED_WORDS
    if resolved.locked:
        return "Locked by the trust"
    return "Not locked"


def school_today() -> date:
    return datetime.now(SCHOOL_TIMEZONE).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Midnight to midnight in the school's time zone, as UTC instants."""
    start = datetime.combine(day, time.min, tzinfo=SCHOOL_TIMEZONE)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=SCHOOL_TIMEZONE)
    return start.astimezone(UTC), end.astimezone(UTC)


def format_when(moment: datetime) -> str:
    local = moment.astimezone(SCHOOL_TIMEZONE)
    return f"{local:%a} {local.day} {local:%B %Y}, {local:%H:%M}"


def format_time(moment: datetime) -> str:
    return f"{moment.astimezone(SCHOOL_TIMEZONE):%H:%M}"
