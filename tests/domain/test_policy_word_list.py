"""Extra words to block in chat: a list the school edits on top of the trust's.

Each word or phrase is checked as it is typed (letters, numbers, spaces, apostrophes and hyphens;
at least two letters; up to 40 characters; up to 200 of them) and kept in lower case, without
repeats, in alphabetical order. The trust's words always apply and a school adds its own, so a
trust's lock changes nothing; a lesson cannot change the list. The lesson engine gets the trust's
and the school's words together, and stops a pupil's message that holds one.
"""

from __future__ import annotations

import re

import pytest

from safeclass.domain.chat_checks import ChatCheckKind, check_chat
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.commands import SendChat
from safeclass.domain.lesson.events import ChatFlagged
from safeclass.domain.lesson.model import ChatTo, LessonRules
from safeclass.domain.policy import (
    CHAT_EXTRA_WORDS,
    SETTINGS_BY_KEY,
    Level,
    SettingValueError,
    TrustPolicy,
    check_lesson_option,
    check_school_override,
    overrides_to_json,
    parse_overrides,
    resolve,
)
from tests.domain.test_lesson_engine import class_in_session, types

KEY = CHAT_EXTRA_WORDS.key


def trust_with_words(*words: str, locked: bool = False) -> TrustPolicy:
    return TrustPolicy.from_stored({KEY: list(words)}, {KEY: locked})


def refused(raw: str) -> str:
    with pytest.raises(SettingValueError) as error:
        CHAT_EXTRA_WORDS.parse(raw)
    return str(error.value)


# --- What a school admin types.


def test_the_list_is_in_the_registry_with_an_empty_trust_default() -> None:
    assert SETTINGS_BY_KEY[KEY] is CHAT_EXTRA_WORDS
    assert TrustPolicy.defaults().value(CHAT_EXTRA_WORDS) == ()
    assert not CHAT_EXTRA_WORDS.trust_locked
    assert not CHAT_EXTRA_WORDS.lesson_option
    assert not CHAT_EXTRA_WORDS.fixed


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", ()),
        ("\n  \n\t\n", ()),
        ("plonker", ("plonker",)),
        ("Plonker\nMUPPET\r\nwally\n", ("muppet", "plonker", "wally")),
        ("plonker\nPlonker\n  plonker  ", ("plonker",)),
        ("  you   are\tSMELLY ", ("you are smelly",)),
        ("knob-head\nyou\u2019re fat\nbig\u02bcun", ("big'un", "knob-head", "you're fat")),
        ("div 2\nr2d2 ab", ("div 2", "r2d2 ab")),
        ("Cafe\u0301\ncaf\u00e9", ("caf\u00e9",)),  # one word, however the accent was typed
        ("\u0175yn\n\u0433\u0430\u0434", ("\u0175yn", "\u0433\u0430\u0434")),  # any alphabet
        ("x" * 40, ("x" * 40,)),
    ],
)
def test_one_word_or_phrase_on_each_line_kept_in_lower_case_without_repeats(
    raw: str, words: tuple[str, ...]
) -> None:
    assert CHAT_EXTRA_WORDS.parse(raw) == words


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "plonker\nf@ck",
            'Some of "Extra words to block in chat" cannot be used: line 2 ("f@ck") may use '
            "only letters, numbers, spaces, apostrophes (') and hyphens (-), with one word or "
            "phrase on each line.",
        ),
        ("muppet, plonker", 'line 1 ("muppet, plonker") may use only letters'),
        ("plonker*", 'line 1 ("plonker*") may use only letters'),
        ("!pussy cat", 'line 1 ("!pussy cat") may use only letters'),
        ("a", 'line 1 ("a") needs at least two letters.'),
        ("42", 'line 1 ("42") needs at least two letters.'),
        ("b-2", 'line 1 ("b-2") needs at least two letters.'),
        ("\n\n" + "x" * 41, f'line 3 ("{"x" * 40}\u2026") is longer than 40 characters.'),
    ],
)
def test_bad_lines_are_refused_in_plain_words_with_their_line_number(
    raw: str, message: str
) -> None:
    assert message in refused(raw)


def test_every_bad_line_is_named_up_to_five() -> None:
    message = refused("ok word\n" + "\n".join(f"bad{number}!" for number in range(1, 8)))

    assert re.findall(r"line (\d+)", message) == ["2", "3", "4", "5", "6"]
    assert message.endswith("; and 2 more.")


def test_at_most_two_hundred_words_after_repeats_are_left_out() -> None:
    words = [f"word{number}" for number in range(200)]
    assert len(CHAT_EXTRA_WORDS.parse("\n".join(words + words))) == 200

    message = refused("\n".join([*words, "one more"]))

    assert message == (
        '"Extra words to block in chat" can hold at most 200 words or phrases; this list has 201.'
    )


# --- What is stored (JSON).


def test_the_list_is_stored_as_a_json_list_and_read_back() -> None:
    value = CHAT_EXTRA_WORDS.parse("wally\nmuppet")

    assert CHAT_EXTRA_WORDS.to_json(value) == ["muppet", "wally"]
    assert overrides_to_json({KEY: value}) == {KEY: ["muppet", "wally"]}
    assert parse_overrides({KEY: ["muppet", "wally"]}) == ({KEY: value}, [])


def test_a_stored_list_edited_by_hand_is_read_in_the_kept_form() -> None:
    assert CHAT_EXTRA_WORDS.coerce(["Wally", " muppet ", "wally", ""]) == ("muppet", "wally")


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("plonker", "must be a list of words"),
        (None, "must be a list of words"),
        ({"plonker": True}, "must be a list of words"),
        (["plonker", 3], "must be a list of words"),
        (["plonker", "f@ck"], 'entry 2 ("f@ck") may use only letters'),
    ],
)
def test_a_stored_list_that_cannot_be_read_is_refused(stored: object, message: str) -> None:
    with pytest.raises(SettingValueError, match=re.escape(message)):
        CHAT_EXTRA_WORDS.coerce(stored)


def test_a_bad_school_list_is_left_out_and_reported() -> None:
    parsed, problems = parse_overrides({KEY: ["a"]})

    assert parsed == {}
    assert problems == [
        'Some of "Extra words to block in chat" cannot be used: entry 1 ("a") needs at least '
        "two letters."
    ]


def test_a_bad_trust_list_is_refused_whole() -> None:
    with pytest.raises(SettingValueError, match="must be a list of words"):
        TrustPolicy.from_stored({KEY: "plonker"}, {})


@pytest.mark.parametrize("value", [["plonker"], ("Plonker",), ("wally", "muppet"), ("a",)])
def test_a_trust_policy_built_by_hand_must_hold_the_list_in_its_kept_form(value: object) -> None:
    values = dict(TrustPolicy.defaults().values) | {KEY: value}

    with pytest.raises(SettingValueError, match="Extra words to block in chat"):
        TrustPolicy(values, TrustPolicy.defaults().locks)


# --- The levels: the trust's words always apply, a school adds, a lesson cannot change it.


def test_a_school_adds_its_words_to_the_trusts() -> None:
    trust = trust_with_words("muppet")

    decision = check_school_override(trust, CHAT_EXTRA_WORDS, ("plonker",))
    resolved = resolve(trust, {KEY: ("plonker",)}).explain(CHAT_EXTRA_WORDS)

    assert decision.allowed
    assert decision.reason_code is ReasonCode.TIGHTENS
    assert resolved.value == ("muppet", "plonker")
    assert resolved.source is Level.SCHOOL
    assert resolved.note is None


@pytest.mark.parametrize("school", [(), ("muppet",)])
def test_a_school_list_that_adds_nothing_leaves_the_trusts_in_force(
    school: tuple[str, ...],
) -> None:
    trust = trust_with_words("muppet", "wally")

    decision = check_school_override(trust, CHAT_EXTRA_WORDS, school)
    resolved = resolve(trust, {KEY: school}).explain(CHAT_EXTRA_WORDS)

    assert decision.reason_code is ReasonCode.SAME_AS_CURRENT
    assert (resolved.value, resolved.source) == (("muppet", "wally"), Level.TRUST)


def test_a_school_cannot_remove_the_trusts_words() -> None:
    trust = trust_with_words("muppet", "wally")

    resolved = resolve(trust, {KEY: ("plonker", "wally")}).explain(CHAT_EXTRA_WORDS)

    assert resolved.value == ("muppet", "plonker", "wally")


def test_a_trusts_lock_does_not_stop_a_school_adding_words() -> None:
    trust = trust_with_words("muppet", locked=True)
    assert trust.is_locked(CHAT_EXTRA_WORDS)

    decision = check_school_override(trust, CHAT_EXTRA_WORDS, ("plonker",))
    resolved = resolve(trust, {KEY: ("plonker",)}).explain(CHAT_EXTRA_WORDS)

    assert decision.reason_code is ReasonCode.TIGHTENS
    assert (resolved.value, resolved.locked) == (("muppet", "plonker"), True)


def test_a_lesson_cannot_change_the_list() -> None:
    school = resolve(TrustPolicy.defaults(), {KEY: ("plonker",)})

    decision = check_lesson_option(school, CHAT_EXTRA_WORDS, ("muppet",))
    resolved = resolve(TrustPolicy.defaults(), {KEY: ("plonker",)}, {KEY: ("muppet",)})

    assert decision.reason_code is ReasonCode.NOT_A_LESSON_OPTION
    assert resolved.get(CHAT_EXTRA_WORDS) == ("plonker",)
    note = resolved.explain(CHAT_EXTRA_WORDS).note
    assert note is not None
    assert "set for the whole school, not for one lesson" in note


@pytest.mark.parametrize(
    ("candidate", "reference", "stricter_or_same"),
    [
        ((), (), True),
        (("plonker",), (), True),
        (("muppet", "plonker"), ("plonker",), True),
        ((), ("plonker",), False),
        (("muppet",), ("plonker",), False),
    ],
)
def test_a_list_is_at_least_as_strict_when_it_holds_every_word_of_the_other(
    candidate: tuple[str, ...], reference: tuple[str, ...], stricter_or_same: bool
) -> None:
    assert CHAT_EXTRA_WORDS.at_least_as_strict(candidate, reference) is stricter_or_same
    assert CHAT_EXTRA_WORDS.rank(candidate) == len(candidate)


# --- In words, for the admin pages, the command line and the docs.


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ((), "none"),
        (("plonker",), "1 word or phrase: plonker"),
        (("muppet", "plonker"), "2 words or phrases: muppet, plonker"),
        (
            tuple(f"word{number:02}" for number in range(12)),
            "12 words or phrases: word00, word01, word02, word03, word04, word05, word06, "
            "word07, word08, word09 and 2 more",
        ),
    ],
)
def test_the_list_is_described_in_plain_words(value: tuple[str, ...], words: str) -> None:
    assert CHAT_EXTRA_WORDS.describe(value) == words


def test_the_stricter_direction_is_said_in_words() -> None:
    assert CHAT_EXTRA_WORDS.stricter_direction().startswith("stricter with more words")


# --- Into the lesson: the rules the engine applies.


def test_the_lesson_gets_the_trusts_and_the_schools_words_together() -> None:
    trust = trust_with_words("muppet")

    rules = LessonRules.from_policy(resolve(trust, {KEY: ("plonker", "wally")}))

    assert rules.chat_extra_words == ("muppet", "plonker", "wally")
    assert LessonRules.from_policy(resolve(trust)).chat_extra_words == ("muppet",)
    # Nothing else changes.
    assert LessonRules.from_policy(resolve(TrustPolicy.defaults())) == LessonRules()


def test_words_with_hyphens_or_apostrophes_also_go_in_as_children_write_them() -> None:
    policy = resolve(TrustPolicy.defaults(), {KEY: ("knob-head", "you're fat")})

    rules = LessonRules.from_policy(policy)

    assert rules.chat_extra_words == (
        "knob-head",
        "knob head",
        "knobhead",
        "you're fat",
        "youre fat",
    )


@pytest.mark.parametrize(
    "message",
    [
        "ben is a plonker",
        "BEN IS A PLONKER!!",
        "ben is a pl0nker",
        "ben is a p l o n k e r",
        "you're fat",
        "youre fat",
        "what a knob head",
        "what a knobhead",
    ],
)
def test_a_pupils_message_holding_a_schools_word_is_stopped(message: str) -> None:
    policy = resolve(TrustPolicy.defaults(), {KEY: ("plonker", "knob-head", "you're fat")})
    rules = LessonRules.from_policy(policy)
    lesson = class_in_session(chat_extra_words=rules.chat_extra_words)

    events = lesson.do(SendChat(actor="amy", to=ChatTo.CLASS, text=message))

    assert types(events) == ["chat_flagged"]
    (flagged,) = events
    assert isinstance(flagged, ChatFlagged)
    assert flagged.kinds == (ChatCheckKind.PROFANITY,)


def test_another_schools_words_are_not_checked() -> None:
    rules = LessonRules.from_policy(resolve(TrustPolicy.defaults()))
    lesson = class_in_session(chat_extra_words=rules.chat_extra_words)

    events = lesson.do(SendChat(actor="amy", to=ChatTo.CLASS, text="ben is a plonker"))

    assert types(events) == ["chat_sent"]


@pytest.mark.parametrize(
    "message", ["what a knob-head", "what a knob head", "what a KNOBHEAD", "what a knob - head"]
)
def test_a_hyphenated_word_is_stopped_as_typed_and_as_children_write_it(message: str) -> None:
    rules = LessonRules.from_policy(resolve(TrustPolicy.defaults(), {KEY: ("knob-head",)}))

    assert check_chat(message, rules.chat_extra_words)


def test_a_hyphenated_word_does_not_stop_its_parts() -> None:
    rules = LessonRules.from_policy(resolve(TrustPolicy.defaults(), {KEY: ("knob-head",)}))

    assert check_chat("the door knob is by my head", rules.chat_extra_words) == ()
