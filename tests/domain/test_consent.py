"""Parental consent: the latest word of any parent counts; a new form asks parents again;
recording is a separate yes; young pupils join through a parent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeclass.domain.consent import (
    ConsentRecord,
    ConsentScope,
    ConsentStatus,
    PupilConsentFacts,
    consent_coverage,
    consent_status,
    live_lesson_consent_decision,
    recording_consent_decision,
)
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.policy import PARENT_MEDIATED_BELOW_YEAR, TrustPolicy, resolve

LIVE = ConsentScope.LIVE_LESSONS
RECORDING = ConsentScope.RECORDING
CURRENT = "2025-01"
OLD = "2024-09"
VERSIONS = {LIVE: CURRENT, RECORDING: CURRENT}
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def given_at(hours: int, scope: ConsentScope = LIVE, version: str = CURRENT) -> ConsentRecord:
    return ConsentRecord(scope=scope, text_version=version, given_at=at(hours))


def withdrawn(
    given: int, withdrawn_hours: int, scope: ConsentScope = LIVE, version: str = CURRENT
) -> ConsentRecord:
    return ConsentRecord(
        scope=scope, text_version=version, given_at=at(given), withdrawn_at=at(withdrawn_hours)
    )


@pytest.mark.parametrize(
    ("records", "status"),
    [
        pytest.param([], ConsentStatus.MISSING, id="no answer yet"),
        pytest.param([given_at(0)], ConsentStatus.GIVEN, id="given on the current form"),
        pytest.param([withdrawn(0, 1)], ConsentStatus.WITHDRAWN, id="withdrawn"),
        pytest.param([given_at(0, version=OLD)], ConsentStatus.OUTDATED, id="old form"),
        pytest.param(
            [given_at(0, version=OLD), given_at(5)], ConsentStatus.GIVEN, id="agreed to new form"
        ),
        pytest.param(
            [given_at(0), withdrawn(1, 2)],
            ConsentStatus.WITHDRAWN,
            id="second parent withdraws after first said yes",
        ),
        pytest.param(
            [withdrawn(0, 1), given_at(2)],
            ConsentStatus.GIVEN,
            id="second parent says yes after first withdrew",
        ),
        pytest.param(
            [given_at(3), withdrawn(0, 1)],
            ConsentStatus.GIVEN,
            id="later yes wins whatever order the records come in",
        ),
        pytest.param(
            [given_at(0), withdrawn(0, 0)],
            ConsentStatus.WITHDRAWN,
            id="yes and withdrawal at the same moment: withdrawal wins",
        ),
        pytest.param(
            [withdrawn(0, 0), given_at(0)],
            ConsentStatus.WITHDRAWN,
            id="same moment, other order: withdrawal still wins",
        ),
        pytest.param(
            [given_at(0), given_at(0, version=OLD)],
            ConsentStatus.OUTDATED,
            id="yes on both forms at the same moment: read as outdated",
        ),
        pytest.param(
            [given_at(0, scope=RECORDING)], ConsentStatus.MISSING, id="recording is not live"
        ),
    ],
)
def test_live_lesson_consent_status(records: list[ConsentRecord], status: ConsentStatus) -> None:
    assert consent_status(records, LIVE, CURRENT) is status


def test_recording_consent_is_separate_from_live_lesson_consent() -> None:
    records = [given_at(0), withdrawn(0, 1, scope=RECORDING)]

    assert consent_status(records, LIVE, CURRENT) is ConsentStatus.GIVEN
    assert consent_status(records, RECORDING, CURRENT) is ConsentStatus.WITHDRAWN


def test_without_a_published_form_no_yes_counts() -> None:
    assert consent_status([given_at(0)], LIVE, None) is ConsentStatus.OUTDATED


@settings(max_examples=100, deadline=None)
@given(
    records=st.lists(
        st.builds(
            ConsentRecord,
            scope=st.sampled_from(ConsentScope),
            text_version=st.sampled_from([OLD, CURRENT]),
            given_at=st.integers(0, 10).map(at),
            withdrawn_at=st.none() | st.integers(0, 10).map(at),
        ),
        max_size=6,
    ),
    order=st.randoms(use_true_random=False),
)
def test_the_order_records_arrive_in_never_changes_the_answer(
    records: list[ConsentRecord], order: random.Random
) -> None:
    shuffled = list(records)
    order.shuffle(shuffled)

    for scope in ConsentScope:
        assert consent_status(shuffled, scope, CURRENT) is consent_status(records, scope, CURRENT)


@pytest.mark.parametrize(
    ("status", "allowed", "reason", "words"),
    [
        (ConsentStatus.GIVEN, True, ReasonCode.CONSENT_GIVEN, "has given permission"),
        (ConsentStatus.MISSING, False, ReasonCode.CONSENT_MISSING, "do not have"),
        (ConsentStatus.WITHDRAWN, False, ReasonCode.CONSENT_WITHDRAWN, "withdrawn"),
        (ConsentStatus.OUTDATED, False, ReasonCode.CONSENT_OUTDATED, "agree to the new one"),
    ],
)
def test_only_given_consent_lets_a_pupil_join_a_live_lesson(
    status: ConsentStatus, allowed: bool, reason: ReasonCode, words: str
) -> None:
    decision = live_lesson_consent_decision(status)

    assert decision.allowed is allowed
    assert decision.reason_code is reason
    assert words in decision.message


@pytest.mark.parametrize(
    ("status", "allowed", "reason"),
    [
        (ConsentStatus.GIVEN, True, ReasonCode.CONSENT_GIVEN),
        (ConsentStatus.MISSING, False, ReasonCode.CONSENT_MISSING),
        (ConsentStatus.WITHDRAWN, False, ReasonCode.CONSENT_WITHDRAWN),
        (ConsentStatus.OUTDATED, False, ReasonCode.CONSENT_OUTDATED),
    ],
)
def test_only_given_recording_consent_lets_a_pupil_be_recorded(
    status: ConsentStatus, allowed: bool, reason: ReasonCode
) -> None:
    decision = recording_consent_decision(status)

    assert decision.allowed is allowed
    assert decision.reason_code is reason
    assert "record" in decision.message


def pupil(pupil_id: int, name: str, year: int, *records: ConsentRecord) -> PupilConsentFacts:
    return PupilConsentFacts(pupil_id=pupil_id, display_name=name, year_group=year, records=records)


def test_coverage_lists_each_pupil_by_name_with_live_and_recording_status() -> None:
    pupils = [
        pupil(1, "Zara", 5, given_at(0), given_at(0, scope=RECORDING)),
        pupil(2, "Adam", 5),
        pupil(3, "Maya", 5, given_at(0), withdrawn(0, 1, scope=RECORDING)),
        pupil(4, "Leo", 5, given_at(0, version=OLD)),
    ]

    coverage = consent_coverage(resolve(TrustPolicy.defaults()), pupils, VERSIONS)

    assert [(p.display_name, p.live, p.recording) for p in coverage.pupils] == [
        ("Adam", ConsentStatus.MISSING, ConsentStatus.MISSING),
        ("Leo", ConsentStatus.OUTDATED, ConsentStatus.MISSING),
        ("Maya", ConsentStatus.GIVEN, ConsentStatus.WITHDRAWN),
        ("Zara", ConsentStatus.GIVEN, ConsentStatus.GIVEN),
    ]
    assert [p.pupil_id for p in coverage.can_join] == [3, 1]
    assert [p.pupil_id for p in coverage.cannot_join] == [2, 4]
    assert [p.can_be_recorded.allowed for p in coverage.pupils] == [False, False, False, True]
    assert coverage.cannot_join[0].can_join.reason_code is ReasonCode.CONSENT_MISSING


def test_coverage_checks_each_scope_against_its_own_current_form() -> None:
    versions = {LIVE: CURRENT, RECORDING: "2025-02"}
    pupils = [pupil(1, "Ada", 4, given_at(0), given_at(0, scope=RECORDING))]

    (covered,) = consent_coverage(resolve(TrustPolicy.defaults()), pupils, versions).pupils

    assert covered.live is ConsentStatus.GIVEN
    assert covered.recording is ConsentStatus.OUTDATED


def test_coverage_without_a_published_recording_form_counts_no_recording_yes() -> None:
    pupils = [pupil(1, "Ada", 4, given_at(0), given_at(0, scope=RECORDING))]

    (covered,) = consent_coverage(resolve(TrustPolicy.defaults()), pupils, {LIVE: CURRENT}).pupils

    assert covered.can_join.allowed
    assert not covered.can_be_recorded.allowed


@pytest.mark.parametrize(
    ("threshold", "mediated_years"),
    [
        (None, [-1, 0, 1, 2]),
        (5, [-1, 0, 1, 2, 3, 4]),
        (0, [-1]),
        (-1, []),
    ],
)
def test_pupils_below_the_threshold_year_join_through_a_parent(
    threshold: int | None, mediated_years: list[int]
) -> None:
    overrides = {} if threshold is None else {PARENT_MEDIATED_BELOW_YEAR.key: threshold}
    pupils = [pupil(year + 2, f"Pupil {year + 2:02}", year) for year in range(-1, 14)]

    coverage = consent_coverage(resolve(TrustPolicy.defaults(), overrides), pupils, VERSIONS)

    assert [p.year_group for p in coverage.pupils if p.parent_mediated] == mediated_years
