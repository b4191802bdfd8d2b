"""Read-only queries shared across SafeClass: the policy in force and consent coverage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.domain.consent import (
    ConsentCoverage,
    ConsentRecord,
    ConsentScope,
    PupilConsentFacts,
    consent_coverage,
)
from safeclass.domain.policy import EffectivePolicy, TrustPolicy, parse_overrides, resolve
from safeclass.store.models import ConsentText, Lesson, Pupil, School, Trust


def trust_policy(trust: Trust) -> TrustPolicy:
    return TrustPolicy.from_stored(trust.policy_values, trust.policy_locks)


def school_policy(school: School) -> EffectivePolicy:
    overrides, _problems = parse_overrides(school.policy_overrides)
    return resolve(trust_policy(school.trust), overrides)


def lesson_policy(lesson: Lesson) -> EffectivePolicy:
    school_overrides, _ = parse_overrides(lesson.school.policy_overrides)
    lesson_options, _ = parse_overrides(lesson.options)
    return resolve(trust_policy(lesson.school.trust), school_overrides, lesson_options)


def current_consent_versions(session: Session, trust_id: int) -> dict[ConsentScope, str]:
    """The newest published consent text per scope: the one parents must have agreed to."""
    versions: dict[ConsentScope, str] = {}
    rows = session.scalars(
        select(ConsentText)
        .where(ConsentText.trust_id == trust_id)
        .order_by(ConsentText.published_at, ConsentText.id)
    )
    for text in rows:
        versions[text.scope] = text.version
    return versions


def pupil_consent_facts(pupil: Pupil) -> PupilConsentFacts:
    """Consent counts only from parents and carers linked to the pupil now: once a school unlinks
    someone (a change of carer, a court order), what they said no longer lets the pupil in."""
    linked = {link.parent_id for link in pupil.parent_links}
    return PupilConsentFacts(
        pupil_id=pupil.id,
        display_name=pupil.display_name,
        year_group=pupil.year_group,
        records=tuple(
            ConsentRecord(
                scope=consent.scope,
                text_version=consent.text_version,
                given_at=consent.given_at,
                withdrawn_at=consent.withdrawn_at,
            )
            for consent in pupil.consents
            if consent.parent_id in linked
        ),
    )


def coverage_for_pupils(
    session: Session,
    policy: EffectivePolicy,
    pupils: Sequence[Pupil],
    trust_id: int,
    versions: Mapping[ConsentScope, str] | None = None,
) -> ConsentCoverage:
    if versions is None:
        versions = current_consent_versions(session, trust_id)
    return consent_coverage(policy, [pupil_consent_facts(pupil) for pupil in pupils], versions)


def lesson_consent_coverage(session: Session, lesson: Lesson) -> ConsentCoverage:
    return coverage_for_pupils(
        session, lesson_policy(lesson), lesson.class_group.pupils, lesson.school.trust_id
    )
