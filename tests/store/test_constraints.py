"""The rules the database itself keeps, on SQLite and PostgreSQL alike: whatever code writes the
rows, these cannot be broken."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from safeclass.domain.consent import ConsentScope
from safeclass.store.models import (
    AuditEntry,
    Consent,
    ConsentText,
    JoinLink,
    LessonEventRecord,
    Parent,
    ParentLink,
    Pupil,
    StaffMember,
    StaffRole,
    StaffRoleGrant,
    StaffSession,
    Trust,
    class_members,
)
from tests.store import records
from tests.store.records import T0


def _count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _refused(factory: sessionmaker[Session], write: Callable[[Session], object]) -> None:
    """`write` breaks a constraint: the database refuses it and nothing is kept."""
    with factory() as session, pytest.raises(IntegrityError):
        _write_and_commit(session, write)


def _write_and_commit(session: Session, write: Callable[[Session], object]) -> None:
    write(session)
    session.commit()


# --- Consent texts.


def test_a_consent_text_version_is_published_once_per_trust_and_scope(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)
        other_trust = records.trust(session, "Hillside Academies")
        records.consent_text(session, trust, "2026-09")
        # The same version name is fine for the other scope, and in another trust.
        records.consent_text(session, trust, "2026-09", scope=ConsentScope.RECORDING)
        records.consent_text(session, other_trust, "2026-09")
        session.commit()
        trust_id = trust.id

    def republish(session: Session) -> None:
        records.consent_text(session, session.get_one(Trust, trust_id), "2026-09")

    _refused(any_session_factory, republish)

    with any_session_factory() as session:
        assert _count(session, ConsentText) == 3


# --- Pupils, parents and the links between them.


def _family(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    """One pupil with two linked carers, both of whom said yes; the pupil is in a class and has a
    personal join link. Returns (pupil, first carer, second carer)."""
    with factory() as session:
        trust = records.trust(session)
        school = records.school(session, trust)
        host = records.staff(session, trust)
        amy = records.pupil(session, school)
        mum = records.parent(session, trust, "Alex Adams")
        dad = records.parent(session, trust, "Sam Adams")
        for carer in (mum, dad):
            records.link(session, amy, carer)
            records.consent(session, amy, carer)
        lesson = records.lesson(session, school, host, [amy])
        session.add(
            JoinLink(
                token_hash="a" * 64,
                school_id=school.id,
                pupil_id=amy.id,
                lesson_id=lesson.id,
                expires_at=T0,
            )
        )
        session.commit()
        return amy.id, mum.id, dad.id


def test_removing_a_pupil_removes_their_parent_links_consents_and_places(
    any_session_factory: sessionmaker[Session],
) -> None:
    amy, mum, dad = _family(any_session_factory)

    # Straight SQL, not the ORM: the database's own ON DELETE CASCADE does the work.
    with any_session_factory() as session:
        session.execute(delete(Pupil).where(Pupil.id == amy))
        session.commit()

    with any_session_factory() as session:
        assert _count(session, ParentLink) == 0
        assert _count(session, Consent) == 0
        assert _count(session, JoinLink) == 0
        assert session.scalar(select(func.count()).select_from(class_members)) == 0
        # The parents and carers themselves stay: they may have other children at the school.
        assert set(session.scalars(select(Parent.id))) == {mum, dad}


def test_a_pupil_removed_through_the_orm_takes_their_consents_with_them(
    any_session_factory: sessionmaker[Session],
) -> None:
    amy, _, _ = _family(any_session_factory)

    with any_session_factory() as session:
        session.delete(session.get_one(Pupil, amy))
        session.commit()

    with any_session_factory() as session:
        assert _count(session, Consent) == 0
        assert _count(session, ParentLink) == 0


def test_unlinking_a_carer_removes_only_that_link(
    any_session_factory: sessionmaker[Session],
) -> None:
    amy, mum, dad = _family(any_session_factory)

    with any_session_factory() as session:
        pupil = session.get_one(Pupil, amy)
        pupil.parent_links = [link for link in pupil.parent_links if link.parent_id != mum]
        session.commit()

    with any_session_factory() as session:
        assert list(session.scalars(select(ParentLink.parent_id))) == [dad]
        # What the unlinked carer said is kept for the record (queries ignore it: see
        # test_queries.py), and so is the carer.
        assert _count(session, Consent) == 2
        assert session.get(Parent, mum) is not None


def test_removing_a_carer_without_consent_records_removes_their_links(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)
        amy = records.pupil(session, records.school(session, trust))
        gran = records.parent(session, trust, "Gran")
        records.link(session, amy, gran)
        session.commit()
        gran_id, amy_id = gran.id, amy.id

    with any_session_factory() as session:
        session.execute(delete(Parent).where(Parent.id == gran_id))
        session.commit()

    with any_session_factory() as session:
        assert _count(session, ParentLink) == 0
        assert session.get(Pupil, amy_id) is not None


def test_a_carer_who_gave_consent_cannot_be_removed_from_under_the_record(
    any_session_factory: sessionmaker[Session],
) -> None:
    """Who said yes is part of the consent record: the carer row cannot silently disappear."""
    _, mum, _ = _family(any_session_factory)

    _refused(any_session_factory, lambda s: s.execute(delete(Parent).where(Parent.id == mum)))

    with any_session_factory() as session:
        assert session.get(Parent, mum) is not None
        assert _count(session, Consent) == 2


# --- Staff and their roles.


def test_a_role_is_granted_once_per_person_and_school(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)
        oak = records.school(session, trust, "oak")
        elm = records.school(session, trust, "elm")
        tess = records.staff(session, trust)
        session.add_all(
            [
                StaffRoleGrant(staff_id=tess.id, role=StaffRole.TEACHER, school_id=oak.id),
                # The same role at another school, and another role at the same school, are fine.
                StaffRoleGrant(staff_id=tess.id, role=StaffRole.TEACHER, school_id=elm.id),
                StaffRoleGrant(
                    staff_id=tess.id, role=StaffRole.SAFEGUARDING_LEAD, school_id=oak.id
                ),
            ]
        )
        session.commit()
        tess_id, oak_id = tess.id, oak.id

    def again(session: Session) -> None:
        session.add(StaffRoleGrant(staff_id=tess_id, role=StaffRole.TEACHER, school_id=oak_id))

    _refused(any_session_factory, again)

    with any_session_factory() as session:
        assert _count(session, StaffRoleGrant) == 3


def test_a_trust_admin_role_is_granted_once(any_session_factory: sessionmaker[Session]) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)
        ira = records.staff(session, trust)
        session.add(StaffRoleGrant(staff_id=ira.id, role=StaffRole.TRUST_ADMIN, school_id=None))
        session.commit()
        ira_id = ira.id

    def again(session: Session) -> None:
        session.add(StaffRoleGrant(staff_id=ira_id, role=StaffRole.TRUST_ADMIN, school_id=None))

    _refused(any_session_factory, again)


def test_an_unknown_role_is_never_written(any_session_factory: sessionmaker[Session]) -> None:
    with any_session_factory() as session:
        tess = records.staff(session, records.trust(session))
        session.commit()
        tess_id = tess.id

    with any_session_factory() as session, pytest.raises(StatementError, match="headteacher"):
        session.execute(
            insert(StaffRoleGrant).values(staff_id=tess_id, role="headteacher", school_id=None)
        )

    with any_session_factory() as session:
        assert _count(session, StaffRoleGrant) == 0


def test_removing_a_member_of_staff_removes_their_roles_and_sessions_and_keeps_the_audit(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)
        oak = records.school(session, trust)
        tess = records.staff(session, trust)
        session.add_all(
            [
                StaffRoleGrant(staff_id=tess.id, role=StaffRole.TEACHER, school_id=oak.id),
                StaffSession(token_hash="b" * 64, staff_id=tess.id, csrf_token="c", expires_at=T0),
                AuditEntry(actor_staff_id=tess.id, action="sign_in"),
            ]
        )
        session.commit()
        tess_id = tess.id

    with any_session_factory() as session:
        session.execute(delete(StaffMember).where(StaffMember.id == tess_id))
        session.commit()

    with any_session_factory() as session:
        assert _count(session, StaffRoleGrant) == 0
        assert _count(session, StaffSession) == 0
        entry = session.scalars(select(AuditEntry)).one()
        assert entry.action == "sign_in"
        assert entry.actor_staff_id is None


def test_a_staff_email_and_a_school_short_name_are_each_used_once(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)
        records.staff(session, trust, "tess@oak.example")
        records.school(session, trust, "oak")
        session.commit()
        trust_id = trust.id

    def same_email(session: Session) -> None:
        records.staff(session, session.get_one(Trust, trust_id), "tess@oak.example")

    def same_slug(session: Session) -> None:
        records.school(session, session.get_one(Trust, trust_id), "oak")

    _refused(any_session_factory, same_email)
    _refused(any_session_factory, same_slug)


# --- The lesson event log.


def test_a_lesson_event_number_is_used_once_per_lesson(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        trust = records.trust(session)
        school = records.school(session, trust)
        host = records.staff(session, trust)
        first = records.lesson(session, school, host, [])
        second = records.lesson(session, school, host, [])
        session.add_all(
            [
                _event(first.id, 1),
                _event(first.id, 2),
                # Each lesson numbers its own events from 1.
                _event(second.id, 1),
            ]
        )
        session.commit()
        first_id = first.id

    _refused(any_session_factory, lambda s: s.add(_event(first_id, 2)))

    with any_session_factory() as session:
        assert _count(session, LessonEventRecord) == 3


def _event(lesson_id: int, seq: int) -> LessonEventRecord:
    return LessonEventRecord(
        lesson_id=lesson_id, seq=seq, at=T0, type="test", prev_hash="0" * 64, hash=f"{seq:064x}"
    )
