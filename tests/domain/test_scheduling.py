"""Booking checks: no 1:1 lessons (trust precaution 2) and sensible lesson times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeclass.domain.decisions import ReasonCode
from safeclass.domain.policy import (
    MIN_PUPILS_WITHOUT_SECOND_STAFF,
    EffectivePolicy,
    TrustPolicy,
    resolve,
)
from safeclass.domain.scheduling import check_lesson_staffing, check_lesson_times

STARTS = datetime(2025, 1, 13, 9, 0, tzinfo=UTC)


def policy_with_minimum(minimum: int | None = None) -> EffectivePolicy:
    overrides = {} if minimum is None else {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: minimum}
    return resolve(TrustPolicy.defaults(), overrides)


def test_one_pupil_with_one_member_of_staff_is_refused_as_one_to_one() -> None:
    decision = check_lesson_staffing(policy_with_minimum(), pupils=1, staff=1)

    assert not decision.allowed
    assert decision.reason_code is ReasonCode.ONE_TO_ONE
    assert "second member of staff" in decision.message
    assert "fewer than 2 pupils" in decision.message


def test_one_pupil_with_two_members_of_staff_is_allowed() -> None:
    decision = check_lesson_staffing(policy_with_minimum(), pupils=1, staff=2)

    assert decision.allowed
    assert decision.reason_code is ReasonCode.STAFFING_OK


def test_two_pupils_with_one_member_of_staff_is_allowed_at_the_trust_default() -> None:
    decision = check_lesson_staffing(policy_with_minimum(), pupils=2, staff=1)

    assert decision.allowed
    assert decision.reason_code is ReasonCode.STAFFING_OK


def test_school_raising_the_minimum_to_four_refuses_three_pupils_with_one_member_of_staff() -> None:
    policy = policy_with_minimum(4)

    refused = check_lesson_staffing(policy, pupils=3, staff=1)
    allowed = check_lesson_staffing(policy, pupils=4, staff=1)
    with_second_adult = check_lesson_staffing(policy, pupils=3, staff=2)

    assert refused.reason_code is ReasonCode.ONE_TO_ONE
    assert "fewer than 4 pupils" in refused.message
    assert "second member of staff" in refused.message
    assert allowed.allowed
    assert with_second_adult.allowed


def test_a_lesson_option_can_raise_the_minimum_for_one_lesson() -> None:
    policy = resolve(TrustPolicy.defaults(), {}, {MIN_PUPILS_WITHOUT_SECOND_STAFF.key: 5})

    decision = check_lesson_staffing(policy, pupils=4, staff=1)

    assert decision.reason_code is ReasonCode.ONE_TO_ONE


@pytest.mark.parametrize(
    ("pupils", "staff", "reason"),
    [
        (5, 0, ReasonCode.NO_STAFF),
        (0, 0, ReasonCode.NO_STAFF),
        (0, 1, ReasonCode.NO_PUPILS),
        (0, 2, ReasonCode.NO_PUPILS),
    ],
)
def test_a_lesson_needs_staff_and_pupils(pupils: int, staff: int, reason: ReasonCode) -> None:
    decision = check_lesson_staffing(policy_with_minimum(), pupils=pupils, staff=staff)

    assert not decision.allowed
    assert decision.reason_code is reason


@settings(max_examples=200, deadline=None)
@given(
    minimum=st.integers(2, 10),
    pupils=st.integers(1, 40),
    staff=st.integers(1, 5),
)
def test_one_adult_alone_with_fewer_pupils_than_the_minimum_is_never_booked(
    minimum: int, pupils: int, staff: int
) -> None:
    decision = check_lesson_staffing(policy_with_minimum(minimum), pupils=pupils, staff=staff)

    if staff == 1 and pupils < minimum:
        assert decision.reason_code is ReasonCode.ONE_TO_ONE
    else:
        assert decision.allowed


@pytest.mark.parametrize(
    ("length", "allowed"),
    [
        (timedelta(minutes=-5), False),
        (timedelta(0), False),
        (timedelta(minutes=1), True),
        (timedelta(minutes=45), True),
        (timedelta(hours=6), True),
        (timedelta(hours=6, seconds=1), False),
    ],
)
def test_a_lesson_ends_after_it_starts_and_lasts_at_most_six_hours(
    length: timedelta, allowed: bool
) -> None:
    decision = check_lesson_times(STARTS, STARTS + length)

    assert decision.allowed is allowed
    assert decision.reason_code is (ReasonCode.TIMES_OK if allowed else ReasonCode.BAD_TIMES)


def test_bad_times_are_explained_in_plain_words() -> None:
    backwards = check_lesson_times(STARTS, STARTS - timedelta(hours=1))
    too_long = check_lesson_times(STARTS, STARTS + timedelta(hours=7))

    assert backwards.message == "A lesson must end after it starts."
    assert too_long.message == "A lesson can last at most six hours."
