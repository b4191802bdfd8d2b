"""Parental consent: whether a pupil's consent stands, and which pupils of a lesson it covers.

Each pupil may have several parents or carers, each with their own consent records. The most recent
word from any of them counts: a later withdrawal by one parent stops the pupil joining even if
another parent said yes earlier. A yes given on an older version of the consent text no longer
counts once the trust publishes a new version: parents are asked again.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from safeclass.domain.decisions import Decision, ReasonCode
from safeclass.domain.policy import EffectivePolicy, is_parent_mediated


class ConsentScope(enum.StrEnum):
    LIVE_LESSONS = "live_lessons"
    RECORDING = "recording"


class ConsentStatus(enum.StrEnum):
    GIVEN = "given"
    MISSING = "missing"
    WITHDRAWN = "withdrawn"
    OUTDATED = "outdated"


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    scope: ConsentScope
    text_version: str
    given_at: datetime
    withdrawn_at: datetime | None = None

    @property
    def last_changed_at(self) -> datetime:
        return self.withdrawn_at if self.withdrawn_at is not None else self.given_at


def consent_status(
    records: Iterable[ConsentRecord], scope: ConsentScope, current_version: str | None
) -> ConsentStatus:
    in_scope = [record for record in records if record.scope is scope]
    if not in_scope:
        return ConsentStatus.MISSING
    # The latest word counts. Words given at the same instant are read the safe way: a withdrawal
    # over a yes, a yes on an old form over one on the current form, whatever order they came in.
    latest = max(
        in_scope,
        key=lambda record: (
            record.last_changed_at,
            record.withdrawn_at is not None,
            record.text_version != current_version,
        ),
    )
    if latest.withdrawn_at is not None:
        return ConsentStatus.WITHDRAWN
    if latest.text_version != current_version:
        return ConsentStatus.OUTDATED
    return ConsentStatus.GIVEN


_LIVE_REFUSALS = {
    ConsentStatus.MISSING: (
        ReasonCode.CONSENT_MISSING,
        "We do not have a parent's or carer's permission for live lessons yet.",
    ),
    ConsentStatus.WITHDRAWN: (
        ReasonCode.CONSENT_WITHDRAWN,
        "A parent or carer has withdrawn permission for live lessons.",
    ),
    ConsentStatus.OUTDATED: (
        ReasonCode.CONSENT_OUTDATED,
        "The permission form has changed since a parent or carer last agreed. They need to "
        "agree to the new one.",
    ),
}


def live_lesson_consent_decision(status: ConsentStatus) -> Decision:
    """Live-lesson consent is a fixed rule (CONSENT_REQUIRED_LIVE): nobody can switch it off."""
    if status is ConsentStatus.GIVEN:
        return Decision.allow(ReasonCode.CONSENT_GIVEN, "A parent or carer has given permission.")
    code, message = _LIVE_REFUSALS[status]
    return Decision.refuse(code, message)


def recording_consent_decision(status: ConsentStatus) -> Decision:
    """Recording consent is a fixed rule (CONSENT_REQUIRED_RECORDING): nobody can switch it off."""
    if status is ConsentStatus.GIVEN:
        return Decision.allow(
            ReasonCode.CONSENT_GIVEN, "A parent or carer has agreed to recording."
        )
    code, _ = _LIVE_REFUSALS[status]
    return Decision.refuse(code, "We do not have a parent's or carer's yes to recording.")


@dataclass(frozen=True, slots=True)
class PupilConsentFacts:
    pupil_id: int
    display_name: str
    year_group: int
    records: tuple[ConsentRecord, ...]


@dataclass(frozen=True, slots=True)
class PupilCoverage:
    pupil_id: int
    display_name: str
    year_group: int
    live: ConsentStatus
    recording: ConsentStatus
    can_join: Decision
    can_be_recorded: Decision
    parent_mediated: bool


@dataclass(frozen=True, slots=True)
class ConsentCoverage:
    pupils: tuple[PupilCoverage, ...]

    @property
    def can_join(self) -> tuple[PupilCoverage, ...]:
        return tuple(pupil for pupil in self.pupils if pupil.can_join.allowed)

    @property
    def cannot_join(self) -> tuple[PupilCoverage, ...]:
        return tuple(pupil for pupil in self.pupils if not pupil.can_join.allowed)


def consent_coverage(
    policy: EffectivePolicy,
    pupils: Sequence[PupilConsentFacts],
    current_versions: Mapping[ConsentScope, str],
) -> ConsentCoverage:
    covered = []
    for pupil in sorted(pupils, key=lambda facts: facts.display_name):
        live = consent_status(
            pupil.records,
            ConsentScope.LIVE_LESSONS,
            current_versions.get(ConsentScope.LIVE_LESSONS),
        )
        recording = consent_status(
            pupil.records, ConsentScope.RECORDING, current_versions.get(ConsentScope.RECORDING)
        )
        covered.append(
            PupilCoverage(
                pupil_id=pupil.pupil_id,
                display_name=pupil.display_name,
                year_group=pupil.year_group,
                live=live,
                recording=recording,
                can_join=live_lesson_consent_decision(live),
                can_be_recorded=recording_consent_decision(recording),
                parent_mediated=is_parent_mediated(policy, pupil.year_group),
            )
        )
    return ConsentCoverage(tuple(covered))
