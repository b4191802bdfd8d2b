"""Retention: a record is due for deletion exactly when its school's period has run out, and no
other record ever is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeclass.domain.policy import (
    RETENTION_ATTENDANCE,
    RETENTION_CHAT,
    RETENTION_CONSENT_EMAILS,
    RETENTION_INCIDENTS,
    RETENTION_LESSON_EVENTS,
    RETENTION_RECORDINGS,
    RETENTION_SIGN_IN_LOG,
    RETENTION_WEBHOOK_MESSAGES,
    RETENTION_WITHDRAWN_CONSENT,
    TrustPolicy,
    resolve,
)
from safeclass.domain.retention import (
    RULES,
    Dated,
    RecordType,
    RetentionPeriods,
    UnknownSchoolError,
    cutoff,
    expired,
    has_expired,
    message_settled_at,
    register_outlives_log,
    trust_wide,
)

NOW = datetime(2027, 6, 1, 3, 0, tzinfo=UTC)
DEFAULTS = RetentionPeriods.from_policy(resolve(TrustPolicy.defaults()))
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


def _periods(**days: int) -> RetentionPeriods:
    return RetentionPeriods({**DEFAULTS.days, **{RecordType(k): v for k, v in days.items()}})


def test_the_trust_defaults_are_the_policys_periods() -> None:
    assert DEFAULTS.days == {
        RecordType.LESSON_LOG: 365,
        RecordType.CHAT: 90,
        RecordType.ATTENDANCE: 730,
        RecordType.INCIDENT: 9125,
        RecordType.WEBHOOK_MESSAGE: 90,
        RecordType.RECORDING: 30,
        RecordType.WITHDRAWN_CONSENT: 365,
        RecordType.CONSENT_EMAIL: 365,
        RecordType.SIGN_IN: 90,
    }
    assert [RULES[t].setting for t in RecordType] == [
        RETENTION_LESSON_EVENTS,
        RETENTION_CHAT,
        RETENTION_ATTENDANCE,
        RETENTION_INCIDENTS,
        RETENTION_WEBHOOK_MESSAGES,
        RETENTION_RECORDINGS,
        RETENTION_WITHDRAWN_CONSENT,
        RETENTION_CONSENT_EMAILS,
        RETENTION_SIGN_IN_LOG,
    ]


def test_a_schools_own_period_is_the_one_used() -> None:
    trust = TrustPolicy.defaults()
    school = resolve(trust, {RETENTION_CHAT.key: 30})

    assert RetentionPeriods.from_policy(school).days[RecordType.CHAT] == 30


@pytest.mark.parametrize(
    ("age", "due"),
    [
        (timedelta(days=90) - TICK, False),  # one microsecond short of 90 days: kept
        (timedelta(days=90), True),  # exactly 90 days: kept for its period, so it goes
        (timedelta(days=90) + TICK, True),
        (timedelta(0), False),
        (-DAY, False),  # dated in the future (a clock set wrong): kept
    ],
)
def test_the_boundary_is_exactly_the_period(age: timedelta, due: bool) -> None:
    assert has_expired(NOW - age, timedelta(days=90), NOW) is due


def test_a_period_that_has_not_started_never_runs_out() -> None:
    # Consent that still stands; an incident still open.
    assert has_expired(None, timedelta(days=1), NOW + timedelta(days=36500)) is False


def test_the_cutoff_is_now_less_the_period() -> None:
    assert cutoff(NOW, timedelta(days=90)) == NOW - timedelta(days=90)


@pytest.mark.parametrize(
    ("record_type", "days"),
    [(RecordType.CONSENT_EMAIL, 365), (RecordType.WEBHOOK_MESSAGE, 90)],
)
@pytest.mark.parametrize(
    ("short_by", "due"),
    [(TICK, False), (timedelta(0), True), (-TICK, True)],
)
def test_consent_emails_and_safeguarding_messages_go_at_exactly_their_default_period(
    record_type: RecordType, days: int, short_by: timedelta, due: bool
) -> None:
    record = Dated(key="it", school_id=1, since=NOW - timedelta(days=days) + short_by)

    assert expired(record_type, [record], {1: DEFAULTS}, NOW) == (["it"] if due else [])


@pytest.mark.parametrize(
    ("delivered_at", "gave_up_at", "settled_at"),
    [
        (NOW - DAY, None, NOW - DAY),  # delivered
        (None, NOW - 2 * DAY, NOW - 2 * DAY),  # given up on
        (None, None, None),  # still waiting to be sent, or to be tried again: never due
    ],
)
def test_a_safeguarding_message_is_counted_from_delivery_or_giving_up(
    delivered_at: datetime | None, gave_up_at: datetime | None, settled_at: datetime | None
) -> None:
    assert message_settled_at(delivered_at, gave_up_at) == settled_at


def test_a_safeguarding_message_still_waiting_is_never_due() -> None:
    waiting = Dated(key="waiting", school_id=1, since=message_settled_at(None, None))

    assert expired(RecordType.WEBHOOK_MESSAGE, [waiting], {1: DEFAULTS}, NOW + 36500 * DAY) == []


# --- Property: over random ages and random school periods, exactly the expired ones are due. ---

SCHOOL_IDS = (1, 2, 3)
days_strategy = st.integers(min_value=1, max_value=36500)
# Every record type gets a random period of its own at each school.
periods_strategy = st.fixed_dictionaries(dict.fromkeys(RecordType, days_strategy)).map(
    RetentionPeriods
)
age_strategy = st.one_of(
    # Ages near the interesting boundaries as often as anywhere else.
    st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=40000)),
    st.builds(
        lambda days, nudge: timedelta(days=days) + nudge * TICK,
        days_strategy,
        st.integers(min_value=-1, max_value=1),
    ),
)
record_strategy = st.tuples(
    st.sampled_from((*SCHOOL_IDS, None)), st.one_of(st.none(), age_strategy)
)


@given(
    records=st.lists(record_strategy, max_size=40),
    school_periods=st.tuples(*(periods_strategy for _ in SCHOOL_IDS)),
    trust_periods=periods_strategy,
    record_type=st.sampled_from(list(RecordType)),
)
def test_exactly_the_records_past_their_schools_period_are_due(
    records: list[tuple[int | None, timedelta | None]],
    school_periods: tuple[RetentionPeriods, ...],
    trust_periods: RetentionPeriods,
    record_type: RecordType,
) -> None:
    periods: dict[int | None, RetentionPeriods] = dict(zip(SCHOOL_IDS, school_periods, strict=True))
    periods[None] = trust_periods
    dated = [
        Dated(key=index, school_id=school, since=None if age is None else NOW - age)
        for index, (school, age) in enumerate(records)
    ]

    due = expired(record_type, dated, periods, NOW)

    expected = [
        index
        for index, (school, age) in enumerate(records)
        if age is not None and age >= timedelta(days=periods[school].days[record_type])
    ]
    assert due == expected
    # Nothing else: every record not due is younger than its period or has not started.
    for index, (school, age) in enumerate(records):
        if index not in due:
            assert age is None or age < periods[school].period(record_type)


@given(days=days_strategy, nudge=st.integers(min_value=-3, max_value=3))
def test_a_record_goes_at_its_period_and_not_a_microsecond_before(days: int, nudge: int) -> None:
    periods: dict[int | None, RetentionPeriods] = {1: _periods(withdrawn_consent=days)}
    record = Dated(key="consent", school_id=1, since=NOW - timedelta(days=days) - nudge * TICK)

    due = expired(RecordType.WITHDRAWN_CONSENT, [record], periods, NOW)

    assert due == (["consent"] if nudge >= 0 else [])


def test_a_record_of_a_school_without_periods_is_an_error_not_a_guess() -> None:
    record = Dated(key=1, school_id=9, since=NOW - timedelta(days=4000))

    with pytest.raises(UnknownSchoolError, match="school 9"):
        expired(RecordType.CHAT, [record], {1: DEFAULTS}, NOW)


def test_trust_wide_records_keep_to_the_shortest_period_any_school_sets() -> None:
    shortest = trust_wide([DEFAULTS, _periods(sign_in=30), _periods(sign_in=200, chat=10)])

    assert shortest.days[RecordType.SIGN_IN] == 30
    assert shortest.days[RecordType.CHAT] == 10
    assert shortest.days[RecordType.INCIDENT] == 9125


def test_trust_wide_periods_need_at_least_the_trusts_own() -> None:
    with pytest.raises(ValueError, match="at least"):
        trust_wide([])


@pytest.mark.parametrize(
    ("ended_ago", "kept"),
    [
        (timedelta(days=365), True),  # the log goes at a year; attendance is kept two
        (timedelta(days=730) - TICK, True),
        (timedelta(days=730), False),  # attendance ran out as well: nothing to keep
    ],
)
def test_the_register_is_kept_when_attendance_outlives_the_log(
    ended_ago: timedelta, kept: bool
) -> None:
    assert register_outlives_log(NOW - ended_ago, DEFAULTS, NOW) is kept
