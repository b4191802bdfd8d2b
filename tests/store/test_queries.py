"""The shared read-only queries: which consent form is current, and whose word counts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from safeclass.domain.consent import ConsentScope, ConsentStatus
from safeclass.store.models import Lesson, Parent, Pupil
from safeclass.store.queries import (
    current_consent_versions,
    lesson_consent_coverage,
    pupil_consent_facts,
)
from tests.store import records
from tests.store.records import T0

DAY = timedelta(days=1)


# --- current_consent_versions


def test_no_published_form_means_no_current_version(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)

        assert current_consent_versions(session, trust.id) == {}


def test_the_newest_published_form_is_current_for_each_scope(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)
        # Published out of order: the newest by date wins, not the last one written.
        records.consent_text(session, trust, "2026-spring", published_at=T0 + 100 * DAY)
        records.consent_text(session, trust, "2025", published_at=T0)
        records.consent_text(session, trust, "2026-summer", published_at=T0 + 200 * DAY)
        records.consent_text(session, trust, "2025-autumn", published_at=T0 + 50 * DAY)
        records.consent_text(
            session, trust, "rec-1", scope=ConsentScope.RECORDING, published_at=T0 + 300 * DAY
        )
        records.consent_text(
            session, trust, "rec-2", scope=ConsentScope.RECORDING, published_at=T0 + 400 * DAY
        )
        session.commit()

        assert current_consent_versions(session, trust.id) == {
            ConsentScope.LIVE_LESSONS: "2026-summer",
            ConsentScope.RECORDING: "rec-2",
        }


def test_forms_published_at_the_same_moment_go_by_the_order_they_were_added(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)
        records.consent_text(session, trust, "first", published_at=T0)
        records.consent_text(session, trust, "second", published_at=T0)
        session.commit()

        assert current_consent_versions(session, trust.id) == {ConsentScope.LIVE_LESSONS: "second"}


def test_another_trusts_forms_do_not_count(any_session_factory: sessionmaker[Session]) -> None:
    with any_session_factory() as session:
        ours = records.trust(session)
        theirs = records.trust(session, "Hillside Academies")
        records.consent_text(session, ours, "ours-1", published_at=T0)
        records.consent_text(session, theirs, "theirs-9", published_at=T0 + 10 * DAY)
        session.commit()

        assert current_consent_versions(session, ours.id) == {ConsentScope.LIVE_LESSONS: "ours-1"}
        assert current_consent_versions(session, theirs.id) == {
            ConsentScope.LIVE_LESSONS: "theirs-9"
        }


# --- pupil_consent_facts and lesson coverage: only carers linked to the pupil now count.


def _lesson_with_one_consenting_carer(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    """Amy, whose only yes comes from Alex; Ben, whose carer never answered. Returns (lesson,
    Amy, Alex)."""
    with factory() as session:
        trust = records.trust(session)
        school = records.school(session, trust)
        records.consent_text(session, trust, "v1")
        amy = records.pupil(session, school, "Amy")
        ben = records.pupil(session, school, "Ben")
        alex = records.parent(session, trust, "Alex Adams")
        records.link(session, amy, alex)
        records.consent(session, amy, alex, "v1")
        records.link(session, ben, records.parent(session, trust, "Bo Brown"))
        lesson = records.lesson(session, school, records.staff(session, trust), [amy, ben])
        session.commit()
        return lesson.id, amy.id, alex.id


def _who_can_join(factory: sessionmaker[Session], lesson_id: int) -> dict[str, ConsentStatus]:
    with factory() as session:
        coverage = lesson_consent_coverage(session, session.get_one(Lesson, lesson_id))
        assert {p.display_name for p in coverage.can_join} == {
            p.display_name for p in coverage.pupils if p.live is ConsentStatus.GIVEN
        }
        return {pupil.display_name: pupil.live for pupil in coverage.pupils}


def test_a_linked_carers_yes_lets_the_pupil_join(
    any_session_factory: sessionmaker[Session],
) -> None:
    lesson_id, _, _ = _lesson_with_one_consenting_carer(any_session_factory)

    assert _who_can_join(any_session_factory, lesson_id) == {
        "Amy Adams": ConsentStatus.GIVEN,
        "Ben Adams": ConsentStatus.MISSING,
    }


def test_unlinking_the_carer_who_said_yes_stops_the_pupil_joining(
    any_session_factory: sessionmaker[Session],
) -> None:
    lesson_id, amy_id, alex_id = _lesson_with_one_consenting_carer(any_session_factory)
    assert _who_can_join(any_session_factory, lesson_id)["Amy Adams"] is ConsentStatus.GIVEN

    # The school unlinks Alex (a change of carer, a court order): the link goes, the record of
    # what Alex said stays.
    with any_session_factory() as session:
        amy = session.get_one(Pupil, amy_id)
        amy.parent_links = [link for link in amy.parent_links if link.parent_id != alex_id]
        session.commit()

    with any_session_factory() as session:
        amy = session.get_one(Pupil, amy_id)
        assert [consent.parent_id for consent in amy.consents] == [alex_id]
        assert pupil_consent_facts(amy).records == ()
    assert _who_can_join(any_session_factory, lesson_id) == {
        "Amy Adams": ConsentStatus.MISSING,
        "Ben Adams": ConsentStatus.MISSING,
    }


def test_a_yes_from_a_carer_who_was_never_linked_does_not_count(
    any_session_factory: sessionmaker[Session],
) -> None:
    lesson_id, _, _ = _lesson_with_one_consenting_carer(any_session_factory)
    with any_session_factory() as session:
        lesson = session.get_one(Lesson, lesson_id)
        ben = next(p for p in lesson.class_group.pupils if p.first_name == "Ben")
        stranger = records.parent(session, lesson.school.trust, "Not Ben's Carer")
        records.consent(session, ben, stranger, "v1")
        session.commit()

    assert _who_can_join(any_session_factory, lesson_id)["Ben Adams"] is ConsentStatus.MISSING


def test_linking_the_carer_again_brings_their_yes_back(
    any_session_factory: sessionmaker[Session],
) -> None:
    lesson_id, amy_id, alex_id = _lesson_with_one_consenting_carer(any_session_factory)
    with any_session_factory() as session:
        amy = session.get_one(Pupil, amy_id)
        amy.parent_links = []
        session.commit()
    assert _who_can_join(any_session_factory, lesson_id)["Amy Adams"] is ConsentStatus.MISSING

    with any_session_factory() as session:
        records.link(session, session.get_one(Pupil, amy_id), session.get_one(Parent, alex_id))
        session.commit()

    assert _who_can_join(any_session_factory, lesson_id)["Amy Adams"] is ConsentStatus.GIVEN


def test_an_unlinked_carers_withdrawal_no_longer_counts_either(
    any_session_factory: sessionmaker[Session],
) -> None:
    """Only linked carers speak for the pupil, both ways: a withdrawal by someone who is not
    linked to the pupil does not override the yes of the carer who is."""
    with any_session_factory() as session:
        trust = records.trust(session)
        records.consent_text(session, trust, "v1")
        amy = records.pupil(session, records.school(session, trust))
        mum = records.parent(session, trust, "Mum")
        former = records.parent(session, trust, "Former Carer")
        records.link(session, amy, mum)
        records.consent(session, amy, mum, "v1", given_at=T0)
        records.consent(session, amy, former, "v1", given_at=T0, withdrawn_at=T0 + DAY)
        session.commit()

        facts = pupil_consent_facts(amy)

    assert [record.withdrawn_at for record in facts.records] == [None]
    assert facts.pupil_id == amy.id
    assert facts.display_name == "Amy Adams"
