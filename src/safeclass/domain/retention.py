"""Retention: which records have been kept as long as their school's policy allows.

Each kind of record is kept for the period its school's effective policy sets (`RETENTION_*` in
`policy.py`), counted from a moment of its own (the table `RULES` says which), and is due for
deletion from the instant that period has passed: a record kept for 90 days is due at exactly
90 days, not a moment later. A record whose period has not started yet (consent that still
stands, an incident still open, a recording still going on, a message to the school's
safeguarding system still waiting to be sent) is never due, however old it is.

Pure: the times come in, the keys of the records that are due come out. `actions/retention.py`
reads the records, asks here, deletes and writes the audit entries.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

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
    EffectivePolicy,
    IntSetting,
)

K = TypeVar("K")


class RecordType(enum.StrEnum):
    LESSON_LOG = "lesson_log"
    CHAT = "chat"
    ATTENDANCE = "attendance"
    INCIDENT = "incident"
    WEBHOOK_MESSAGE = "webhook_message"
    RECORDING = "recording"
    WITHDRAWN_CONSENT = "withdrawn_consent"
    CONSENT_EMAIL = "consent_email"
    SIGN_IN = "sign_in"


@dataclass(frozen=True)
class RetentionRule:
    record_type: RecordType
    setting: IntSetting
    counted_from: str  # plain words, for docs and the command's output
    deleted: str  # what goes, in plain words


RULES: Mapping[RecordType, RetentionRule] = {
    rule.record_type: rule
    for rule in (
        RetentionRule(
            RecordType.LESSON_LOG,
            RETENTION_LESSON_EVENTS,
            "the lesson's last event",
            "the whole log of the lesson (its register is kept first, as its own record)",
        ),
        RetentionRule(
            RecordType.CHAT,
            RETENTION_CHAT,
            "when the message was written",
            "what the message said; the log keeps that a message was sent, when and by whom",
        ),
        RetentionRule(
            RecordType.ATTENDANCE,
            RETENTION_ATTENDANCE,
            "the lesson's last event",
            "the register of the lesson",
        ),
        RetentionRule(
            RecordType.INCIDENT,
            RETENTION_INCIDENTS,
            "when the incident was closed (an open incident is never deleted)",
            "the incident, its notes and its messages for the school's safeguarding system",
        ),
        RetentionRule(
            RecordType.WEBHOOK_MESSAGE,
            RETENTION_WEBHOOK_MESSAGES,
            "when the message was sent, or when sending it was given up (a message still waiting "
            "to be sent is never deleted)",
            "the copy of the message for the school's safeguarding system, and whether it was sent",
        ),
        RetentionRule(
            RecordType.RECORDING,
            RETENTION_RECORDINGS,
            "the end of the recording (a recording still going on is never deleted)",
            "the recording's file, any raw files left of it, and its record",
        ),
        RetentionRule(
            RecordType.WITHDRAWN_CONSENT,
            RETENTION_WITHDRAWN_CONSENT,
            "when the consent was withdrawn (consent that stands is never deleted)",
            "the consent record",
        ),
        RetentionRule(
            RecordType.CONSENT_EMAIL,
            RETENTION_CONSENT_EMAILS,
            "when the email was made",
            "the copy of the email (address, subject and text) and whether it was sent",
        ),
        RetentionRule(
            RecordType.SIGN_IN,
            RETENTION_SIGN_IN_LOG,
            "the sign-in or attempt",
            "the audit entry of the sign-in, sign-out or failed attempt",
        ),
    )
}


@dataclass(frozen=True)
class RetentionPeriods:
    """How many days each record type is kept, as one school's policy (or the trust's) says."""

    days: Mapping[RecordType, int]

    @classmethod
    def from_policy(cls, policy: EffectivePolicy) -> RetentionPeriods:
        return cls({record_type: policy.get(rule.setting) for record_type, rule in RULES.items()})

    def period(self, record_type: RecordType) -> timedelta:
        return timedelta(days=self.days[record_type])


def trust_wide(periods: Iterable[RetentionPeriods]) -> RetentionPeriods:
    """The periods for records that belong to no one school (staff sign in to the trust, and a
    failed attempt names no school): the shortest any school or the trust sets, so that such a
    record is kept no longer than any part of the trust allows."""
    every = list(periods)
    if not every:
        raise ValueError("Trust-wide periods need the trust's own periods at least.")
    return RetentionPeriods(
        {record_type: min(p.days[record_type] for p in every) for record_type in RULES}
    )


def cutoff(now: datetime, period: timedelta) -> datetime:
    """Records counted from this instant or earlier are due for deletion."""
    return now - period


def has_expired(since: datetime | None, period: timedelta, now: datetime) -> bool:
    if since is None:
        return False
    return since <= cutoff(now, period)


@dataclass(frozen=True, slots=True)
class Dated(Generic[K]):
    """One record as retention sees it: its key, whose periods apply (a school's id, or None for
    trust-wide records) and when its period started (None: it has not started)."""

    key: K
    school_id: int | None
    since: datetime | None


class UnknownSchoolError(LookupError):
    """A record names a school whose periods were not given: a bug in the caller, never a reason
    to guess a period."""


def expired(
    record_type: RecordType,
    records: Iterable[Dated[K]],
    periods: Mapping[int | None, RetentionPeriods],
    now: datetime,
) -> list[K]:
    """The keys of the records of this type that are due for deletion at `now`, in the order
    given."""
    due: list[K] = []
    for record in records:
        school_periods = periods.get(record.school_id)
        if school_periods is None:
            raise UnknownSchoolError(f"No retention periods for school {record.school_id}.")
        if has_expired(record.since, school_periods.period(record_type), now):
            due.append(record.key)
    return due


def register_outlives_log(
    lesson_ended_at: datetime, periods: RetentionPeriods, now: datetime
) -> bool:
    """Whether a lesson's register must be kept on its own when its log is deleted: it is, unless
    the attendance period has run out too (a school that keeps attendance no longer than the log
    has nothing to keep)."""
    return not has_expired(lesson_ended_at, periods.period(RecordType.ATTENDANCE), now)


def message_settled_at(
    delivered_at: datetime | None, gave_up_at: datetime | None
) -> datetime | None:
    """When a message to the school's safeguarding system started its retention period: when it
    was delivered, or when sending it was given up. None while it is still waiting to be sent (or
    to be tried again), so such a message is never due."""
    return delivered_at if delivered_at is not None else gave_up_at
