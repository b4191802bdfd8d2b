"""The trust's defaults, and the rules for the three levels: trust, school, lesson.

A school may tighten anything and loosen only what the trust has not locked; a lesson may only
tighten; fixed settings never change. Expected values come from `expected_policy`, written from the
policy text, never from the code under test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeclass.domain.decisions import ReasonCode
from safeclass.domain.policy import (
    ADMISSION_MODE,
    AUTO_LOCK_WHEN_COMPLETE,
    CLASS_CHAT,
    CONSENT_REQUIRED_LIVE,
    MIN_PUPILS_WITHOUT_SECOND_STAFF,
    PARENT_MEDIATED_BELOW_YEAR,
    PERSONAL_INFO_REMINDER,
    PUPIL_PRIVATE_MESSAGES,
    PUPIL_VIDEO_VISIBILITY,
    RECORDING_ALLOWED,
    RECORDING_EXCLUDES_PUPIL_VIDEO,
    RETENTION_CHAT,
    RETENTION_INCIDENTS,
    SCREEN_SHARING,
    SETTINGS,
    SETTINGS_BY_KEY,
    STAFF_ABSENCE_GRACE_SECONDS,
    WAITING_ROOM,
    AdmissionMode,
    BoolSetting,
    ChoiceSetting,
    IntSetting,
    Level,
    PupilVideoVisibility,
    ScreenSharing,
    Setting,
    SettingValueError,
    TrustPolicy,
    WordListSetting,
    check_lesson_option,
    check_school_override,
    check_trust_value,
    is_parent_mediated,
    overrides_to_json,
    parse_overrides,
    resolve,
    setting_for_key,
)
from tests.domain.expected_policy import (
    EXPECTED,
    EXPECTED_BY_KEY,
    HIGHER,
    JSON_JUNK,
    LOWER,
    NO_DIRECTION,
    Expected,
    in_force,
    no_looser,
    override_maps,
    stored_trust_policies,
    typed,
    values_of,
)

FIXED = [setting for setting in SETTINGS if EXPECTED_BY_KEY[setting.key].fixed]
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def trust_with(values: dict[str, object], locks: dict[str, object] | None = None) -> TrustPolicy:
    return TrustPolicy.from_stored(values, locks or {})


# --- 1. The trust's defaults, one by one.


def test_every_setting_has_an_expectation_written_from_the_policy() -> None:
    assert [setting.key for setting in SETTINGS] == [expected.key for expected in EXPECTED]


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda expected: expected.key)
def test_trust_default_matches_the_policy(expected: Expected) -> None:
    setting = setting_for_key(expected.key)
    trust = TrustPolicy.defaults()

    assert setting.to_json(trust.value(setting)) == expected.default
    assert setting.to_json(setting.default) == expected.default
    assert trust.is_locked(setting) is expected.locked
    assert setting.trust_locked is expected.locked
    assert setting.fixed is expected.fixed
    assert setting.lesson_option is expected.lesson_option


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda expected: expected.key)
def test_default_policy_resolves_to_the_trust_defaults(expected: Expected) -> None:
    setting = setting_for_key(expected.key)
    resolved = resolve(TrustPolicy.defaults()).explain(setting)

    assert setting.to_json(resolved.value) == expected.default
    assert resolved.source is Level.TRUST
    assert resolved.locked is expected.locked
    assert resolved.note is None


def test_stored_trust_policy_with_nothing_stored_is_the_defaults() -> None:
    assert TrustPolicy.from_stored({}, {}) == TrustPolicy.defaults()


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda expected: expected.key)
def test_stricter_direction_matches_the_policy(expected: Expected) -> None:
    setting = setting_for_key(expected.key)
    values = [setting.to_json(value) for value in _all_values(setting)]
    for candidate in values:
        for reference in values:
            assert setting.at_least_as_strict(
                setting.coerce(candidate), setting.coerce(reference)
            ) is no_looser(expected.key, candidate, reference), (candidate, reference)


def _all_values(setting: Setting[Any]) -> list[Any]:
    if isinstance(setting, BoolSetting):
        return [False, True]
    if isinstance(setting, ChoiceSetting):
        return list(setting.strictest_first)
    if isinstance(setting, WordListSetting):
        return [(), ("plonker",), ("muppet",), ("muppet", "plonker")]
    assert isinstance(setting, IntSetting)
    middle = (setting.minimum + setting.maximum) // 2
    return [setting.minimum, middle, setting.maximum]


# --- 2. Lock, tighten, loosen: the rules, case by case.


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, 3),
        (PARENT_MEDIATED_BELOW_YEAR, 6),
        (SCREEN_SHARING, ScreenSharing.HOST_ONLY),
        (CLASS_CHAT, False),
        (STAFF_ABSENCE_GRACE_SECONDS, 60),
    ],
    ids=lambda item: getattr(item, "key", str(item)),
)
def test_school_may_tighten_any_setting_that_is_not_fixed(
    setting: Setting[Any], value: Any
) -> None:
    decision = check_school_override(TrustPolicy.defaults(), setting, value)

    assert decision.allowed
    assert decision.reason_code is ReasonCode.TIGHTENS
    resolved = resolve(TrustPolicy.defaults(), {setting.key: value}).explain(setting)
    assert (resolved.value, resolved.source, resolved.note) == (value, Level.SCHOOL, None)


@pytest.mark.parametrize(
    ("setting", "trust_value", "school_value"),
    [
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, 4, 3),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, 4, 2),
        (PERSONAL_INFO_REMINDER, True, False),
        (RECORDING_EXCLUDES_PUPIL_VIDEO, True, False),
    ],
    ids=lambda item: getattr(item, "key", str(item)),
)
def test_school_cannot_loosen_a_locked_setting(
    setting: Setting[Any], trust_value: Any, school_value: Any
) -> None:
    trust = trust_with({setting.key: trust_value})
    assert trust.is_locked(setting)

    decision = check_school_override(trust, setting, school_value)

    assert not decision.allowed
    assert decision.reason_code is ReasonCode.LOCKED_BY_TRUST
    assert setting.title in decision.message
    assert setting.describe(trust_value) in decision.message


@pytest.mark.parametrize(
    ("setting", "school_value"),
    [
        (RECORDING_ALLOWED, True),
        (PUPIL_VIDEO_VISIBILITY, PupilVideoVisibility.EVERYONE),
        (ADMISSION_MODE, AdmissionMode.ALL_AT_ONCE_ALLOWED),
        (AUTO_LOCK_WHEN_COMPLETE, False),
        (PARENT_MEDIATED_BELOW_YEAR, 0),
        (STAFF_ABSENCE_GRACE_SECONDS, 900),
    ],
    ids=lambda item: getattr(item, "key", str(item)),
)
def test_school_may_loosen_a_setting_the_trust_has_not_locked(
    setting: Setting[Any], school_value: Any
) -> None:
    decision = check_school_override(TrustPolicy.defaults(), setting, school_value)

    assert decision.allowed
    assert decision.reason_code is ReasonCode.LOOSENS_UNLOCKED
    resolved = resolve(TrustPolicy.defaults(), {setting.key: school_value}).explain(setting)
    assert (resolved.value, resolved.source, resolved.note) == (school_value, Level.SCHOOL, None)


def test_trust_can_lock_a_setting_so_no_school_may_loosen_it() -> None:
    trust = trust_with({}, {RECORDING_ALLOWED.key: True})

    decision = check_school_override(trust, RECORDING_ALLOWED, True)

    assert decision.reason_code is ReasonCode.LOCKED_BY_TRUST
    assert resolve(trust, {RECORDING_ALLOWED.key: True}).get(RECORDING_ALLOWED) is False


def test_trust_can_unlock_a_setting_so_schools_may_loosen_it() -> None:
    trust = trust_with(
        {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 4}, {"min_pupils_without_second_staff": False}
    )

    decision = check_school_override(trust, MIN_PUPILS_WITHOUT_SECOND_STAFF, 3)

    assert decision.reason_code is ReasonCode.LOOSENS_UNLOCKED
    assert (
        resolve(trust, {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 3}).get(
            MIN_PUPILS_WITHOUT_SECOND_STAFF
        )
        == 3
    )


def test_school_value_equal_to_the_trust_value_is_no_override() -> None:
    trust = TrustPolicy.defaults()

    decision = check_school_override(trust, RECORDING_ALLOWED, False)

    assert decision.reason_code is ReasonCode.SAME_AS_CURRENT
    assert resolve(trust, {RECORDING_ALLOWED.key: False}).explain(RECORDING_ALLOWED).source is (
        Level.TRUST
    )


@pytest.mark.parametrize("setting", FIXED, ids=lambda setting: setting.key)
def test_nobody_can_change_a_fixed_setting(setting: BoolSetting) -> None:
    other = not setting.default
    school = resolve(TrustPolicy.defaults())

    for decision in (
        check_trust_value(setting, other),
        check_school_override(TrustPolicy.defaults(), setting, other),
        check_lesson_option(school, setting, other),
    ):
        assert not decision.allowed
        assert decision.reason_code is ReasonCode.SETTING_FIXED
        assert "Nobody can change it" in decision.message


@pytest.mark.parametrize("setting", FIXED, ids=lambda setting: setting.key)
def test_fixed_setting_keeps_its_default_whatever_is_stored(setting: BoolSetting) -> None:
    other = not setting.default
    trust = trust_with({setting.key: other}, {setting.key: False})

    resolved = resolve(trust, {setting.key: other}, {setting.key: other}).explain(setting)

    assert trust.value(setting) is setting.default
    assert trust.is_locked(setting)
    assert resolved.value is setting.default
    assert resolved.source is Level.TRUST
    assert resolved.note is not None
    assert "school value was not used" in resolved.note
    assert "lesson value was not used" in resolved.note


def test_trust_may_set_any_setting_that_is_not_fixed() -> None:
    decision = check_trust_value(RECORDING_ALLOWED, True)

    assert decision.allowed


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, 5),
        (SCREEN_SHARING, ScreenSharing.STAFF),
        (RECORDING_ALLOWED, False),
        (STAFF_ABSENCE_GRACE_SECONDS, 30),
    ],
    ids=lambda item: getattr(item, "key", str(item)),
)
def test_lesson_may_tighten_a_lesson_option(setting: Setting[Any], value: Any) -> None:
    school = resolve(TrustPolicy.defaults(), {RECORDING_ALLOWED.key: True})

    decision = check_lesson_option(school, setting, value)
    resolved = resolve(
        TrustPolicy.defaults(), {RECORDING_ALLOWED.key: True}, {setting.key: value}
    ).explain(setting)

    assert decision.reason_code is ReasonCode.TIGHTENS
    assert (resolved.value, resolved.source, resolved.note) == (value, Level.LESSON, None)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (PUPIL_VIDEO_VISIBILITY, PupilVideoVisibility.EVERYONE),
        (RECORDING_ALLOWED, True),
        (STAFF_ABSENCE_GRACE_SECONDS, 301),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, 2),
    ],
    ids=lambda item: getattr(item, "key", str(item)),
)
def test_lesson_may_not_loosen_the_school_value(setting: Setting[Any], value: Any) -> None:
    overrides = {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 3}
    school = resolve(TrustPolicy.defaults(), overrides)

    decision = check_lesson_option(school, setting, value)
    resolved = resolve(TrustPolicy.defaults(), overrides, {setting.key: value}).explain(setting)

    assert not decision.allowed
    assert decision.reason_code is ReasonCode.LESSON_MAY_ONLY_TIGHTEN
    assert resolved.value == school.get(setting)
    assert resolved.note == f"The lesson value was not used: {decision.message}"


def test_lesson_may_repeat_the_school_value() -> None:
    school = resolve(TrustPolicy.defaults())

    decision = check_lesson_option(school, SCREEN_SHARING, SCREEN_SHARING.default)

    assert decision.allowed
    assert decision.reason_code is ReasonCode.SAME_AS_CURRENT


@pytest.mark.parametrize(
    ("setting", "value"),
    [(PARENT_MEDIATED_BELOW_YEAR, 5), (PERSONAL_INFO_REMINDER, True), (RETENTION_CHAT, 30)],
    ids=lambda item: getattr(item, "key", str(item)),
)
def test_school_wide_settings_cannot_be_set_for_one_lesson(
    setting: Setting[Any], value: Any
) -> None:
    decision = check_lesson_option(resolve(TrustPolicy.defaults()), setting, value)

    assert decision.reason_code is ReasonCode.NOT_A_LESSON_OPTION
    assert "whole school" in decision.message


def test_retention_has_no_stricter_direction_so_a_lock_holds_it_both_ways() -> None:
    trust = trust_with({}, {RETENTION_INCIDENTS.key: True})

    shorter = check_school_override(trust, RETENTION_INCIDENTS, 30)
    longer = check_school_override(trust, RETENTION_INCIDENTS, 36500)

    assert shorter.reason_code is ReasonCode.LOCKED_BY_TRUST
    assert longer.reason_code is ReasonCode.LOCKED_BY_TRUST


def test_unlocked_retention_may_be_changed_either_way_by_a_school() -> None:
    trust = TrustPolicy.defaults()

    for days in (1, 36500):
        decision = check_school_override(trust, RETENTION_CHAT, days)
        assert decision.reason_code is ReasonCode.LOOSENS_UNLOCKED


def test_override_stored_before_the_trust_locked_it_is_ignored_with_a_note() -> None:
    # The school chose 3; later the trust raised and locked the minimum to 5.
    trust = trust_with({MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 5})

    resolved = resolve(trust, {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 3}).explain(
        MIN_PUPILS_WITHOUT_SECOND_STAFF
    )

    assert resolved.value == 5
    assert resolved.source is Level.TRUST
    assert resolved.locked
    assert resolved.note is not None
    assert resolved.note.startswith("The school value was not used: The trust has locked")


def test_lesson_option_stored_before_the_school_tightened_is_ignored_with_a_note() -> None:
    resolved = resolve(
        TrustPolicy.defaults(),
        {STAFF_ABSENCE_GRACE_SECONDS.key: 60},
        {STAFF_ABSENCE_GRACE_SECONDS.key: 120},
    ).explain(STAFF_ABSENCE_GRACE_SECONDS)

    assert (resolved.value, resolved.source) == (60, Level.SCHOOL)
    assert resolved.note is not None
    assert resolved.note.startswith("The lesson value was not used")


def test_school_note_survives_a_lesson_that_tightens_the_same_setting() -> None:
    trust = trust_with({MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 4})

    resolved = resolve(
        trust,
        {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 3},
        {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 6},
    ).explain(MIN_PUPILS_WITHOUT_SECOND_STAFF)

    assert (resolved.value, resolved.source) == (6, Level.LESSON)
    assert resolved.note is not None
    assert resolved.note.startswith("The school value was not used")


def test_unknown_keys_in_overrides_change_nothing() -> None:
    assert resolve(TrustPolicy.defaults(), {"no_such": 1}, {"no_such": 2}) == resolve(
        TrustPolicy.defaults()
    )


def test_effective_policy_lists_every_setting_in_registry_order() -> None:
    policy = resolve(TrustPolicy.defaults(), {RECORDING_ALLOWED.key: True})

    listed = list(policy)

    assert [resolved.setting for resolved in listed] == list(SETTINGS)
    assert listed[SETTINGS.index(RECORDING_ALLOWED)].describe() == "allowed"


@pytest.mark.parametrize(
    ("year_group", "threshold", "mediated"),
    [(-1, 3, True), (0, 3, True), (2, 3, True), (3, 3, False), (13, 3, False), (5, 6, True)],
)
def test_pupils_below_the_threshold_year_are_parent_mediated(
    year_group: int, threshold: int, mediated: bool
) -> None:
    policy = resolve(TrustPolicy.defaults(), {PARENT_MEDIATED_BELOW_YEAR.key: threshold})

    assert is_parent_mediated(policy, year_group) is mediated


# --- A trust policy is whole and consistent, however it is built.


@pytest.mark.parametrize(
    ("values", "locks", "message"),
    [
        ({CLASS_CHAT.key: "yes"}, {}, "must be on or off"),
        ({MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 1}, {}, "must be between 2 pupils and 10 pupils"),
        ({SCREEN_SHARING.key: "everyone"}, {}, "must be one of"),
        ({}, {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: "no"}, "lock"),
        ({}, {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 0}, "lock"),
    ],
)
def test_corrupted_stored_trust_policy_is_refused_not_half_read(
    values: dict[str, object], locks: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingValueError, match=message):
        TrustPolicy.from_stored(values, locks)


def test_stored_trust_values_for_settings_that_no_longer_exist_are_ignored() -> None:
    assert TrustPolicy.from_stored({"retired": 1}, {"retired": True}) == TrustPolicy.defaults()


def _default_values() -> dict[str, Any]:
    return dict(TrustPolicy.defaults().values)


@pytest.mark.parametrize(
    ("change", "locks", "message"),
    [
        ({"no_such": 1}, frozenset(), "no setting called"),
        ({}, frozenset({"no_such"}), "no setting called"),
        ({WAITING_ROOM.key: False}, None, "Nobody can change it"),
        ({}, frozenset(), "Nobody can change it"),
        ({RECORDING_ALLOWED.key: 1}, None, "must be on or off"),
        ({MIN_PUPILS_WITHOUT_SECOND_STAFF.key: True}, None, "whole number"),
        ({MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 11}, None, "between"),
        ({SCREEN_SHARING.key: "host_only"}, None, "cannot be 'host_only'"),
        ({SCREEN_SHARING.key: AdmissionMode.ONE_AT_A_TIME}, None, "must be one of"),
    ],
)
def test_trust_policy_built_by_hand_must_be_whole_and_consistent(
    change: dict[str, Any], locks: frozenset[str] | None, message: str
) -> None:
    values = _default_values() | change
    with pytest.raises(SettingValueError, match=message):
        TrustPolicy(values, TrustPolicy.defaults().locks if locks is None else locks)


def test_trust_policy_without_a_value_for_a_setting_is_refused() -> None:
    values = _default_values()
    del values[CLASS_CHAT.key]

    with pytest.raises(SettingValueError, match="no value for"):
        TrustPolicy(values, TrustPolicy.defaults().locks)


# --- Reading values: typed by a person, stored as JSON.


@pytest.mark.parametrize(
    ("setting", "raw", "value"),
    [
        (CLASS_CHAT, " Yes ", True),
        (CLASS_CHAT, "on", True),
        (CLASS_CHAT, "TRUE", True),
        (CLASS_CHAT, "1", True),
        (CLASS_CHAT, "no", False),
        (CLASS_CHAT, "Off", False),
        (CLASS_CHAT, "false", False),
        (CLASS_CHAT, "0", False),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, " 4 ", 4),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, "10", 10),
        (PARENT_MEDIATED_BELOW_YEAR, "-1", -1),
        (SCREEN_SHARING, " Host_Only ", ScreenSharing.HOST_ONLY),
    ],
)
def test_typed_values_are_read(setting: Setting[Any], raw: str, value: Any) -> None:
    assert setting.parse(raw) == value


@pytest.mark.parametrize(
    ("setting", "raw", "message"),
    [
        (CLASS_CHAT, "maybe", '"Class chat" must be on or off, not "maybe".'),
        (CLASS_CHAT, "", "must be on or off"),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, "four", 'must be a whole number, not "four"'),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, "2.5", "whole number"),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, "1", "between 2 pupils and 10 pupils"),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, "11", "between 2 pupils and 10 pupils"),
        (PARENT_MEDIATED_BELOW_YEAR, "-2", "between Nursery and Year 14"),
        (SCREEN_SHARING, "pupils", "must be one of: host_only, staff, staff_and_granted_pupils"),
    ],
)
def test_bad_typed_values_are_refused_in_plain_words(
    setting: Setting[Any], raw: str, message: str
) -> None:
    with pytest.raises(SettingValueError, match=_literal(message)):
        setting.parse(raw)


@pytest.mark.parametrize(
    ("setting", "stored"),
    [
        (CLASS_CHAT, 1),
        (CLASS_CHAT, "true"),
        (CLASS_CHAT, None),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, True),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, False),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, "3"),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, 3.0),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, 0),
        (STAFF_ABSENCE_GRACE_SECONDS, 1801),
        (SCREEN_SHARING, "HOST_ONLY"),
        (SCREEN_SHARING, 1),
        (SCREEN_SHARING, None),
    ],
)
def test_stored_values_of_the_wrong_type_or_out_of_range_are_refused(
    setting: Setting[Any], stored: object
) -> None:
    with pytest.raises(SettingValueError, match=_literal(setting.title)):
        setting.coerce(stored)


def _literal(text: str) -> str:
    return re.escape(text)


def test_unknown_setting_key_is_refused_in_plain_words() -> None:
    with pytest.raises(SettingValueError, match='There is no setting called "colour"'):
        setting_for_key("colour")


def test_parse_overrides_reports_unknown_keys_and_bad_values_and_keeps_the_rest() -> None:
    parsed, problems = parse_overrides(
        {"retired_setting": True, CLASS_CHAT.key: "yes", RECORDING_ALLOWED.key: True}
    )

    assert parsed == {RECORDING_ALLOWED.key: True}
    assert problems == [
        'Unknown setting "retired_setting" was ignored.',
        '"Class chat" must be on or off.',
    ]


def test_overrides_are_stored_as_plain_json() -> None:
    stored = overrides_to_json(
        {SCREEN_SHARING.key: ScreenSharing.STAFF, MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 3}
    )

    assert stored == {SCREEN_SHARING.key: "staff", MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 3}
    assert type(stored[SCREEN_SHARING.key]) is str


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        (CONSENT_REQUIRED_LIVE, True, "required"),
        (PUPIL_PRIVATE_MESSAGES, False, "never"),
        (CLASS_CHAT, False, "off"),
        (PARENT_MEDIATED_BELOW_YEAR, 3, "Year 3"),
        (PARENT_MEDIATED_BELOW_YEAR, 0, "Reception"),
        (PARENT_MEDIATED_BELOW_YEAR, -1, "Nursery"),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, 2, "2 pupils"),
        (STAFF_ABSENCE_GRACE_SECONDS, 300, "300 seconds"),
        (RETENTION_CHAT, 90, "90 days"),
        (RETENTION_CHAT, 365, "1 year"),
        (RETENTION_CHAT, 730, "2 years"),
        (RETENTION_INCIDENTS, 9125, "25 years"),
        (SCREEN_SHARING, ScreenSharing.HOST_ONLY, "the lesson's host only"),
    ],
)
def test_values_are_described_in_plain_words(setting: Setting[Any], value: Any, words: str) -> None:
    assert setting.describe(value) == words


def test_choice_without_a_label_is_described_by_its_value() -> None:
    unlabelled = ChoiceSetting[AdmissionMode](
        key="unlabelled",
        title="Unlabelled",
        description="",
        clause="",
        default=AdmissionMode.ONE_AT_A_TIME,
        strictest_first=tuple(AdmissionMode),
    )

    assert unlabelled.describe(AdmissionMode.ALL_AT_ONCE_ALLOWED) == "all_at_once_allowed"


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        (WAITING_ROOM, "stricter when always on"),
        (RECORDING_ALLOWED, "stricter when not allowed"),
        (MIN_PUPILS_WITHOUT_SECOND_STAFF, "stricter when higher"),
        (STAFF_ABSENCE_GRACE_SECONDS, "stricter when lower"),
        (RETENTION_CHAT, "no direction: only a change where the trust allows it"),
        (
            PUPIL_VIDEO_VISIBILITY,
            "strictest first: staff only, then the whole class",
        ),
    ],
)
def test_stricter_direction_is_said_in_words(setting: Setting[Any], words: str) -> None:
    assert setting.stricter_direction() == words


# --- 2. The same rules, over random stacks of trust values, locks, school and lesson overrides.


def _json(setting: Setting[Any], value: Any) -> object:
    return setting.to_json(value)


@PROPERTY
@given(stored=stored_trust_policies(), school=override_maps(), lesson=override_maps())
def test_resolution_never_breaks_a_lock_a_fixed_setting_or_a_lesson_tightening(
    stored: tuple[dict[str, object], dict[str, object]],
    school: dict[str, Any],
    lesson: dict[str, Any],
) -> None:
    trust = TrustPolicy.from_stored(*stored)
    school_level = resolve(trust, school)
    effective = resolve(trust, school, lesson)

    for setting in SETTINGS:
        expected = EXPECTED_BY_KEY[setting.key]
        trust_value = _json(setting, trust.value(setting))
        school_value = _json(setting, school_level.get(setting))
        final = effective.explain(setting)
        final_value = _json(setting, final.value)
        if expected.fixed:
            assert final_value == expected.default
            assert final.source is Level.TRUST
        if trust.is_locked(setting):
            assert no_looser(setting.key, school_value, trust_value)
            assert no_looser(setting.key, final_value, trust_value)
        assert no_looser(setting.key, final_value, school_value)
        if not expected.lesson_option:
            assert final_value == school_value


@PROPERTY
@given(stored=stored_trust_policies(), school=override_maps(), lesson=override_maps())
def test_every_override_is_either_used_or_left_with_a_note(
    stored: tuple[dict[str, object], dict[str, object]],
    school: dict[str, Any],
    lesson: dict[str, Any],
) -> None:
    trust = TrustPolicy.from_stored(*stored)
    school_level = resolve(trust, school)
    effective = resolve(trust, school, lesson)

    for key, value in school.items():
        resolved = school_level.resolved[key]
        setting = SETTINGS_BY_KEY[key]
        if resolved.note is None:
            assert _json(setting, resolved.value) == in_force(
                key, _json(setting, trust.values[key]), _json(setting, value)
            )
        else:
            assert resolved.note.startswith("The school value was not used")
            assert resolved.value == trust.values[key]
    for key, value in lesson.items():
        resolved = effective.resolved[key]
        if resolved.value != value:
            assert resolved.note is not None
            assert "The lesson value was not used" in resolved.note


@PROPERTY
@given(stored=stored_trust_policies(), data=st.data())
def test_an_unlocked_setting_may_be_set_to_anything_by_a_school(
    stored: tuple[dict[str, object], dict[str, object]], data: st.DataObject
) -> None:
    trust = TrustPolicy.from_stored(*stored)
    unlocked = [setting for setting in SETTINGS if not trust.is_locked(setting)]
    if not unlocked:
        return
    setting = data.draw(st.sampled_from(unlocked))
    value = data.draw(values_of(setting))

    resolved = resolve(trust, {setting.key: value}).explain(setting)

    assert check_school_override(trust, setting, value).allowed
    assert _json(setting, resolved.value) == in_force(
        setting.key, _json(setting, trust.value(setting)), _json(setting, value)
    )
    assert resolved.note is None


@PROPERTY
@given(stored=stored_trust_policies(), data=st.data())
def test_a_locked_setting_refuses_exactly_the_looser_school_values(
    stored: tuple[dict[str, object], dict[str, object]], data: st.DataObject
) -> None:
    trust = TrustPolicy.from_stored(*stored)
    locked = [setting for setting in SETTINGS if trust.is_locked(setting) and not setting.fixed]
    if not locked:
        return
    setting = data.draw(st.sampled_from(locked))
    value = data.draw(values_of(setting))

    decision = check_school_override(trust, setting, value)

    trust_value = _json(setting, trust.value(setting))
    school_value = in_force(setting.key, trust_value, _json(setting, value))
    looser = not no_looser(setting.key, school_value, trust_value)
    assert decision.allowed is not looser
    if looser:
        assert decision.reason_code is ReasonCode.LOCKED_BY_TRUST


@PROPERTY
@given(stored=stored_trust_policies())
def test_stored_trust_policy_keeps_fixed_settings_and_stored_locks(
    stored: tuple[dict[str, object], dict[str, object]],
) -> None:
    values, locks = stored
    trust = TrustPolicy.from_stored(values, locks)

    for setting in SETTINGS:
        expected = EXPECTED_BY_KEY[setting.key]
        if expected.fixed:
            assert trust.is_locked(setting)
            assert _json(setting, trust.value(setting)) == expected.default
            continue
        assert trust.is_locked(setting) is locks.get(setting.key, expected.locked)
        assert _json(setting, trust.value(setting)) == values.get(setting.key, expected.default)


@PROPERTY
@given(data=st.data())
def test_values_survive_a_round_trip_through_storage_and_typing(data: st.DataObject) -> None:
    setting = data.draw(st.sampled_from(SETTINGS))
    value = data.draw(values_of(setting))

    stored = setting.to_json(value)

    assert setting.coerce(stored) == value
    assert setting.parse(typed(stored)) == value
    assert parse_overrides(overrides_to_json({setting.key: value})) == ({setting.key: value}, [])


@PROPERTY
@given(data=st.data(), junk=JSON_JUNK)
def test_any_stored_value_is_read_or_refused_never_crashes(
    data: st.DataObject, junk: object
) -> None:
    setting = data.draw(st.sampled_from(SETTINGS))
    try:
        value = setting.coerce(junk)
    except SettingValueError:
        return
    assert type(value) is type(setting.default)
    assert type(setting.to_json(value)) is type(junk)
    assert setting.to_json(value) == _kept_form(setting, junk)


def _kept_form(setting: Setting[Any], stored: object) -> object:
    """A stored value as a setting keeps it: a word list in lower case, without repeats, sorted."""
    if isinstance(setting, WordListSetting):
        assert isinstance(stored, list)
        return sorted({" ".join(str(word).split()).lower() for word in stored} - {""})
    return stored


@PROPERTY
@given(data=st.data(), raw=st.text(max_size=20))
def test_any_typed_text_is_read_or_refused_never_crashes(data: st.DataObject, raw: str) -> None:
    setting = data.draw(st.sampled_from(SETTINGS))
    try:
        value = setting.parse(raw)
    except SettingValueError:
        return
    assert setting.coerce(setting.to_json(value)) == value


@PROPERTY
@given(
    stored=st.dictionaries(
        st.one_of(st.sampled_from(list(SETTINGS_BY_KEY)), st.text(max_size=10)),
        JSON_JUNK,
        max_size=8,
    )
)
def test_parse_overrides_reports_every_entry_it_cannot_use(stored: dict[str, object]) -> None:
    parsed, problems = parse_overrides(stored)

    assert len(parsed) + len(problems) == len(stored)
    for key, value in parsed.items():
        setting = SETTINGS_BY_KEY[key]
        assert setting.to_json(value) == _kept_form(setting, stored[key])
    resolve(TrustPolicy.defaults(), parsed, parsed)


@PROPERTY
@given(
    values=st.dictionaries(st.sampled_from(list(SETTINGS_BY_KEY)), JSON_JUNK, max_size=4),
    locks=st.dictionaries(st.sampled_from(list(SETTINGS_BY_KEY)), JSON_JUNK, max_size=4),
)
def test_any_stored_trust_policy_is_read_whole_or_refused(
    values: dict[str, object], locks: dict[str, object]
) -> None:
    try:
        trust = TrustPolicy.from_stored(values, locks)
    except SettingValueError:
        return
    assert TrustPolicy(trust.values, trust.locks) == trust
    for key, lock in locks.items():
        assert isinstance(lock, bool)
        assert trust.is_locked(SETTINGS_BY_KEY[key]) is (lock or EXPECTED_BY_KEY[key].fixed)


def test_direction_words_cover_every_int_setting_in_the_table() -> None:
    # The int rows of the table use one of three words; a typo would silently mean "no direction".
    directions = {
        expected.strictest
        for expected in EXPECTED
        if isinstance(expected.default, int) and not isinstance(expected.default, bool)
    }
    assert directions == {HIGHER, LOWER, NO_DIRECTION}
