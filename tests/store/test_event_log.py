"""The lesson event log: an append-only hash chain that reports the first broken link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.events import AnyEvent, Joined, LessonPrepared, LockChanged
from safeclass.domain.lesson.model import (
    LessonRules,
    Person,
    Presence,
    Role,
    RosterPupil,
    RosterStaff,
    Via,
)
from safeclass.store import event_log
from safeclass.store.models import (
    ClassGroup,
    Lesson,
    LessonEventRecord,
    School,
    StaffMember,
    Trust,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _lesson(session: Session) -> int:
    trust = Trust(name="Trust")
    session.add(trust)
    session.flush()
    school = School(trust_id=trust.id, name="School", slug=f"s{trust.id}")
    session.add(school)
    session.flush()
    host = StaffMember(trust_id=trust.id, email=f"t{trust.id}@x.example", display_name="Teacher")
    group = ClassGroup(school_id=school.id, name="Class", year_group=4)
    session.add_all([host, group])
    session.flush()
    lesson = Lesson(
        school_id=school.id,
        class_group_id=group.id,
        host_id=host.id,
        title="Lesson",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
    )
    session.add(lesson)
    session.flush()
    return lesson.id


def _events(lesson_id: int) -> list[AnyEvent]:
    pupil = RosterPupil("Amy Adams", True, ReasonCode.CONSENT_GIVEN, "Yes", False)
    return [
        LessonPrepared(
            at=T0,
            lesson_id=str(lesson_id),
            rules=LessonRules(),
            pupils={"1": pupil},
            staff={"7": RosterStaff("Tess Teacher", True)},
            guests={},
        ),
        Joined(
            at=T0 + timedelta(seconds=5),
            pid="pa",
            person=Person(Role.STAFF, "7"),
            display_name="Tess Teacher",
            device="session:1",
            via=Via.STAFF_SIGN_IN,
            presence=Presence.ADMITTED,
            mic_on=False,
            camera_on=False,
            mic_allowed=True,
            camera_allowed=True,
            duplicate_of=None,
            parent_present=False,
        ),
        LockChanged(at=T0 + timedelta(seconds=9), locked=True, by="pa", automatic=False),
    ]


@pytest.fixture
def logged(any_session_factory: sessionmaker[Session]) -> tuple[sessionmaker[Session], int]:
    with any_session_factory() as session:
        lesson_id = _lesson(session)
        events = _events(lesson_id)
        event_log.append(session, lesson_id, events[:2])
        event_log.append(session, lesson_id, events[2:])
        event_log.append(session, lesson_id, [])
        session.commit()
    return any_session_factory, lesson_id


def test_events_come_back_as_they_went_in_and_the_chain_verifies(
    logged: tuple[sessionmaker[Session], int],
) -> None:
    factory, lesson_id = logged
    with factory() as session:
        assert event_log.load(session, lesson_id) == _events(lesson_id)
        rows = session.scalars(select(LessonEventRecord).order_by(LessonEventRecord.seq)).all()
        assert [row.seq for row in rows] == [1, 2, 3]
        assert rows[0].prev_hash == event_log.GENESIS
        assert rows[1].prev_hash == rows[0].hash
        assert rows[2].actor == "pa"
        report = event_log.verify(session, lesson_id)
        assert report.ok
        assert report.rows == 3
        assert event_log.count_events(session, lesson_id) == 3
        assert [r.ok for r in event_log.verify_all(session)] == [True]


def test_an_edited_row_breaks_the_chain_at_that_row(
    logged: tuple[sessionmaker[Session], int],
) -> None:
    factory, lesson_id = logged
    with factory() as session:
        row = session.scalars(select(LessonEventRecord).where(LessonEventRecord.seq == 2)).one()
        row.data = {**row.data, "display_name": "Someone Else"}
        session.commit()
        report = event_log.verify(session, lesson_id)
        assert not report.ok
        assert report.broken_at_seq == 2
        assert report.problem == "its contents were changed"


def test_a_deleted_row_is_reported_missing(logged: tuple[sessionmaker[Session], int]) -> None:
    factory, lesson_id = logged
    with factory() as session:
        session.execute(delete(LessonEventRecord).where(LessonEventRecord.seq == 2))
        session.commit()
        report = event_log.verify(session, lesson_id)
        assert report.broken_at_seq == 2
        assert report.problem == "row 2 is missing"


def test_a_rewritten_link_is_reported(logged: tuple[sessionmaker[Session], int]) -> None:
    factory, lesson_id = logged
    with factory() as session:
        session.execute(
            update(LessonEventRecord).where(LessonEventRecord.seq == 3).values(prev_hash="f" * 64)
        )
        session.commit()
        report = event_log.verify(session, lesson_id)
        assert report.broken_at_seq == 3
        assert report.problem == "it does not follow on from the row before"


def test_each_lesson_has_its_own_chain(logged: tuple[sessionmaker[Session], int]) -> None:
    factory, first = logged
    with factory() as session:
        second = _lesson(session)
        event_log.append(session, second, _events(second)[:1])
        session.commit()
        assert event_log.lessons_with_logs(session) == [first, second]
        row = session.scalars(
            select(LessonEventRecord).where(LessonEventRecord.lesson_id == second)
        ).one()
        assert row.seq == 1
        assert row.prev_hash == event_log.GENESIS
        assert all(r.ok for r in event_log.verify_all(session))
