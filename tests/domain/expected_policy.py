"""The trust's policy, written out by hand from the policy text and the design brief.

Tests compare the code against this table, never against the code itself: a default or a lock
changed in `safeclass.domain.policy` by mistake makes a test fail. Values are as stored (JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from safeclass.domain.policy import (
    SETTINGS,
    BoolSetting,
    ChoiceSetting,
    IntSetting,
    Setting,
    WordListSetting,
)

HIGHER = "higher is stricter"
LOWER = "lower is stricter"
NO_DIRECTION = "no stricter direction"
# A word list: each level adds its words to the list below it, so more words is stricter.
ADDS_WORDS = "each level adds words"

Strictness = bool | str | tuple[str, ...]


@dataclass(frozen=True)
class Expected:
    key: str
    default: bool | int | str | list[str]
    locked: bool
    fixed: bool
    lesson_option: bool
    # bool: the stricter value; int: HIGHER, LOWER or NO_DIRECTION; choice: values strictest first;
    # word list: ADDS_WORDS
    strictest: Strictness


def _retention(key: str, days: int) -> Expected:
    return Expected(
        key, days, locked=False, fixed=False, lesson_option=False, strictest=NO_DIRECTION
    )


# fmt: off
EXPECTED = (
    # Trust precaution 1: parent permission. A core promise: fixed.
    Expected("consent_required_live", True, locked=True, fixed=True, lesson_option=False,
             strictest=True),
    # Trust precaution 1: very young pupils (Nursery to Year 2) join through a parent.
    Expected("parent_mediated_below_year", 3, locked=False, fixed=False, lesson_option=False,
             strictest=HIGHER),
    # Trust precaution 2: no 1:1. Locked so no school can allow it.
    Expected("min_pupils_without_second_staff", 2, locked=True, fixed=False, lesson_option=True,
             strictest=HIGHER),
    # NSPCC iii: waiting rooms. Fixed.
    Expected("waiting_room", True, locked=True, fixed=True, lesson_option=False, strictest=True),
    # NSPCC introduction: admit one at a time.
    Expected("admission_mode", "one_at_a_time", locked=False, fixed=False, lesson_option=True,
             strictest=("one_at_a_time", "all_at_once_allowed")),
    # NSPCC i: lock the room once everyone has arrived.
    Expected("auto_lock_when_complete", True, locked=False, fixed=False, lesson_option=True,
             strictest=True),
    # NSPCC iv: staff share; a pupil only while staff grant it.
    Expected("screen_sharing", "staff_and_granted_pupils", locked=False, fixed=False,
             lesson_option=True, strictest=("host_only", "staff", "staff_and_granted_pupils")),
    # NSPCC iv: muted and video off as people join.
    Expected("pupils_join_muted", True, locked=False, fixed=False, lesson_option=True,
             strictest=True),
    Expected("pupils_join_camera_off", True, locked=False, fixed=False, lesson_option=True,
             strictest=True),
    Expected("pupil_unmute", "ask_staff", locked=False, fixed=False, lesson_option=True,
             strictest=("ask_staff", "self")),
    # Risks: screenshots of pupils' faces. Pupils' video staff only.
    Expected("pupil_video_visibility", "staff_only", locked=False, fixed=False,
             lesson_option=True, strictest=("staff_only", "everyone")),
    # NSPCC vi.
    Expected("class_chat", True, locked=False, fixed=False, lesson_option=True, strictest=False),
    Expected("pupil_to_staff_chat", True, locked=False, fixed=False, lesson_option=True,
             strictest=False),
    # NSPCC vi: disable private messaging. Never, fixed.
    Expected("pupil_private_messages", False, locked=True, fixed=True, lesson_option=False,
             strictest=False),
    # NSPCC v and trust precaution 5.
    Expected("chat_check_personal_info", "block", locked=False, fixed=False, lesson_option=True,
             strictest=("block", "warn")),
    Expected("chat_check_profanity", "block", locked=False, fixed=False, lesson_option=True,
             strictest=("block", "warn")),
    # Trust precaution 5, and issue 7: the school adds its own words to the trust's.
    Expected("chat_extra_words", [], locked=False, fixed=False, lesson_option=False,
             strictest=ADDS_WORDS),
    Expected("personal_info_reminder", True, locked=True, fixed=False, lesson_option=False,
             strictest=True),
    # Risks: recordings. Off by default, consent always needed, pupils' video left out.
    Expected("recording_allowed", False, locked=False, fixed=False, lesson_option=True,
             strictest=False),
    Expected("consent_required_recording", True, locked=True, fixed=True, lesson_option=False,
             strictest=True),
    Expected("recording_excludes_pupil_video", True, locked=True, fixed=False,
             lesson_option=True, strictest=True),
    # NSPCC introduction: teachers stay on the line. Five minutes' grace, shorter is stricter.
    Expected("staff_absence_grace_seconds", 300, locked=False, fixed=False, lesson_option=True,
             strictest=LOWER),
    # Trust precautions 3 and 4: clothing, surroundings, background blur.
    Expected("staff_checklist", True, locked=False, fixed=False, lesson_option=True,
             strictest=True),
    Expected("blur_staff_default", True, locked=False, fixed=False, lesson_option=True,
             strictest=True),
    Expected("blur_pupil_default", False, locked=False, fixed=False, lesson_option=True,
             strictest=True),
    # NSPCC i: only recognised users.
    Expected("named_guests", False, locked=False, fixed=False, lesson_option=True,
             strictest=False),
    Expected("viewer_watermark", True, locked=False, fixed=False, lesson_option=True,
             strictest=True),
    # Retention: a schedule, not a safety direction.
    _retention("retention_lesson_events_days", 365),
    _retention("retention_chat_days", 90),
    _retention("retention_attendance_days", 730),
    _retention("retention_incidents_days", 9125),
    _retention("retention_webhook_messages_days", 90),
    _retention("retention_recordings_days", 30),
    _retention("retention_withdrawn_consent_days", 365),
    _retention("retention_consent_emails_days", 365),
    _retention("retention_sign_in_log_days", 90),
)
# fmt: on
EXPECTED_BY_KEY = {expected.key: expected for expected in EXPECTED}


def no_looser(key: str, candidate: object, reference: object) -> bool:
    """Whether `candidate` is at least as strict as `reference` (both as stored), by the table."""
    strictest = EXPECTED_BY_KEY[key].strictest
    if candidate == reference:
        return True
    if isinstance(strictest, bool):
        return candidate == strictest
    if isinstance(strictest, tuple):
        return strictest.index(str(candidate)) < strictest.index(str(reference))
    if strictest == ADDS_WORDS:
        assert isinstance(candidate, list)
        assert isinstance(reference, list)
        return set(candidate) >= set(reference)
    assert isinstance(candidate, int)
    assert isinstance(reference, int)
    if strictest == HIGHER:
        return candidate > reference
    if strictest == LOWER:
        return candidate < reference
    return False


def in_force(key: str, below: object, value: object) -> object:
    """The value in force (as stored) when a level sets `value` on top of `below`, by the table:
    a word list adds to the list below it; every other setting takes the new value."""
    if EXPECTED_BY_KEY[key].strictest == ADDS_WORDS:
        assert isinstance(below, list)
        assert isinstance(value, list)
        return sorted(set(below) | set(value))
    return value


def typed(stored: object) -> str:
    """A stored value as a person would type it: a word list one word on each line."""
    if isinstance(stored, list):
        return "\n".join(stored)
    return str(stored)


# --- Hypothesis strategies for values a setting can take, as parsed values and as stored JSON.

# Words as kept: lower case, single spaces; some with an apostrophe, a hyphen or a space.
SAMPLE_WORDS = ("plonker", "muppet", "numpty", "you're fat", "knob-head", "wally", "div 2")


def values_of(setting: Setting[Any]) -> st.SearchStrategy[Any]:
    if isinstance(setting, BoolSetting):
        return st.booleans()
    if isinstance(setting, IntSetting):
        return st.integers(setting.minimum, setting.maximum)
    if isinstance(setting, WordListSetting):
        return st.lists(st.sampled_from(SAMPLE_WORDS), unique=True, max_size=4).map(
            lambda words: tuple(sorted(words))
        )
    assert isinstance(setting, ChoiceSetting)
    return st.sampled_from(setting.strictest_first)


def override_maps(
    settings: tuple[Setting[Any], ...] = SETTINGS,
) -> st.SearchStrategy[dict[str, Any]]:
    """A random set of overrides (parsed values) for some of `settings`."""
    by_key = {setting.key: setting for setting in settings}
    return st.lists(st.sampled_from(list(by_key)), unique=True, max_size=len(by_key)).flatmap(
        lambda chosen: st.fixed_dictionaries({key: values_of(by_key[key]) for key in chosen})
    )


def stored_trust_policies() -> st.SearchStrategy[tuple[dict[str, object], dict[str, object]]]:
    """Stored trust values and locks, as a trust admin could have saved them (fixed ones too)."""
    values = override_maps().map(
        lambda parsed: {key: _setting(key).to_json(value) for key, value in parsed.items()}
    )
    locks = st.dictionaries(st.sampled_from([setting.key for setting in SETTINGS]), st.booleans())
    return st.tuples(values, locks)


def _setting(key: str) -> Setting[Any]:
    return next(setting for setting in SETTINGS if setting.key == key)


JSON_SCALARS: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
JSON_JUNK: st.SearchStrategy[object] = st.one_of(
    JSON_SCALARS,
    st.lists(JSON_SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=5), JSON_SCALARS, max_size=3),
)
