"""Codes that people type: drawn from the whole of an alphabet that cannot be misread, with the
entropy the design asks for, forgiving to type, and kept as a keyed HMAC."""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from safeclass import codes

SAMPLES = 5000


def test_the_alphabet_has_no_characters_that_are_easy_to_confuse() -> None:
    assert len(codes.ALPHABET) == len(set(codes.ALPHABET)) == 31
    for confusable in "01OIL":
        assert confusable not in codes.ALPHABET
    assert not any(character.islower() for character in codes.ALPHABET)
    assert all(character.isascii() and character.isalnum() for character in codes.ALPHABET)


def test_codes_carry_the_entropy_the_design_promises() -> None:
    assert math.isclose(codes.bits(codes.LESSON_CODE_LENGTH), 10 * math.log2(31))
    assert codes.bits(codes.LESSON_CODE_LENGTH) > 49.5
    assert codes.bits(codes.PASSCODE_LENGTH) > 59.4
    # Together, a guess at both codes is a guess at more than 108 bits.
    assert codes.bits(codes.LESSON_CODE_LENGTH + codes.PASSCODE_LENGTH) > 108


def test_random_codes_use_the_whole_alphabet_evenly_and_never_repeat() -> None:
    lesson_codes = [codes.new_lesson_code() for _ in range(SAMPLES)]
    passcodes = [codes.new_passcode() for _ in range(SAMPLES)]
    assert {len(code) for code in lesson_codes} == {codes.LESSON_CODE_LENGTH}
    assert {len(code) for code in passcodes} == {codes.PASSCODE_LENGTH}
    assert len(set(lesson_codes)) == SAMPLES
    assert len(set(passcodes)) == SAMPLES
    counts = Counter("".join(lesson_codes + passcodes))
    assert set(counts) == set(codes.ALPHABET)
    # 110,000 characters over 31 letters: about 3,548 each. A source narrower than the alphabet,
    # or badly skewed, would be far outside these bounds (over 10 standard deviations).
    expected = sum(counts.values()) / 31
    assert all(abs(count - expected) < 0.1 * expected for count in counts.values())
    # Every position varies too (a code with a fixed character would carry fewer bits).
    for position in range(codes.PASSCODE_LENGTH):
        assert len({code[position] for code in passcodes}) == 31


def test_codes_are_shown_in_groups_of_four() -> None:
    assert codes.shown("ABCDEFGHJK") == "ABCD-EFGH-JK"
    assert codes.shown("ABCDEFGHJKMN") == "ABCD-EFGH-JKMN"


code_characters = st.sampled_from(codes.ALPHABET)
stored_codes = st.one_of(
    st.text(code_characters, min_size=10, max_size=10),
    st.text(code_characters, min_size=12, max_size=12),
)


@given(stored_codes, st.data())
def test_typing_is_forgiving_about_case_spaces_and_dashes(code: str, data: st.DataObject) -> None:
    typed = []
    for character in code:
        typed.append(data.draw(st.sampled_from(["", " ", "-", "\t", "--"])))
        typed.append(character.lower() if data.draw(st.booleans()) else character)
    typed.append(data.draw(st.sampled_from(["", " ", "-"])))
    assert codes.normalise("".join(typed)) == code
    assert codes.normalise(codes.shown(code)) == code


@given(st.text(max_size=40))
def test_anything_typed_is_either_one_of_our_codes_or_nothing(typed: str) -> None:
    code = codes.normalise(typed)
    if code is not None:
        assert len(code) in (codes.LESSON_CODE_LENGTH, codes.PASSCODE_LENGTH)
        assert set(code) <= set(codes.ALPHABET)


def test_the_wrong_length_or_other_letters_are_not_codes() -> None:
    for typed in [
        "",
        "ABCDEFGHJ",  # 9
        "ABCDEFGHJKM",  # 11
        "ABCDEFGHJKMNP",  # 13
        "ABCDEFGHJO",  # O is not used
        "ABCDEFGHJ1",
        "ABCDEFGHJ_",
        "ＡＢＣＤＥＦＧＨＪＫ",  # full-width letters look right but are not ours
        "ABCDEFGHJ\u200bK",  # a zero-width space
        "A" * 100_000,
    ]:
        assert codes.normalise(typed) is None, typed


def test_a_passcode_is_kept_as_an_hmac_with_a_key_only_for_passcodes() -> None:
    secret = b"s" * 32
    key = codes.passcode_key(secret)
    assert key != secret
    assert key == hmac.new(secret, b"safeclass passcode v1", hashlib.sha256).digest()
    digest = codes.passcode_hmac(key, "ABCDEFGHJKMN")
    assert len(digest) == 64
    assert "ABCDEFGHJKMN" not in digest
    # Another server's secret gives another HMAC: a database alone tests no guesses.
    assert codes.passcode_hmac(codes.passcode_key(b"t" * 32), "ABCDEFGHJKMN") != digest
    assert codes.passcode_hmac(key, "ABCDEFGHJKMP") != digest
