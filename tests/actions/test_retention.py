"""Retention on a real database: what has been kept for its school's period is deleted, nothing
else is, each deletion is audited as a count, and the lesson log's chain still verifies."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.incidents import LessonLog
from safeclass.actions.retention import (
    AUDIT_ACTION,
    RetentionSchedule,
    kept_register,
    lesson_register,
    run_retention,
)
from safeclass.domain.attendance import attendance
from safeclass.domain.chat_checks import ChatCheckKind, Finding
from safeclass.domain.lesson.codec import event_to_json
from safeclass.domain.lesson.events import (
    Admitted,
    AnyEvent,
    ChatFlagged,
    ChatSent,
    Joined,
    LockChanged,
    PhaseChanged,
    Removed,
)
from safeclass.domain.lesson.model import ChatTo, Person, Phase, Presence, Role, Via
from safeclass.domain.policy import (
    RETENTION_CHAT,
    RETENTION_CONSENT_EMAILS,
    RETENTION_LESSON_EVENTS,
)
from safeclass.domain.retention import RecordType
from safeclass.store import event_log
from safeclass.store.models import (
    AttendanceRecord,
    AuditEntry,
    Consent,
    ConsentMessage,
    ConsentMessageState,
    Incident,
    IncidentNote,
    IncidentSource,
    IncidentState,
    Lesson,
    LessonEventRecord,
    Parent,
    Pupil,
    School,
    StaffMember,
    WebhookDelivery,
)
from tests.store import records

NOW = datetime(2028, 3, 1, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
TEACHER = Person(Role.STAFF, "7")
AMY = Person(Role.PUPIL, "1")
BEN = Person(Role.PUPIL, "2")


@dataclass
class World:
    factory: sessionmaker[Session]
    oak: int  # a school on the trust's defaults
    elm: int  # a school that keeps chat 30 days and lesson logs 100
    oak_staff: int
    oak_pupil: int
    elm_pupil: int
    parent: int


@pytest.fixture
def world(any_session_factory: sessionmaker[Session]) -> World:
    with any_session_factory() as session:
        trust = records.trust(session)
        oak = records.school(session, trust, "oak")
        elm = records.school(session, trust, "elm")
        elm.policy_overrides = {RETENTION_CHAT.key: 30, RETENTION_LESSON_EVENTS.key: 100}
        host = records.staff(session, trust)
        carer = records.parent(session, trust)
        made = World(
            any_session_factory,
            oak.id,
            elm.id,
            host.id,
            records.pupil(session, oak).id,
            records.pupil(session, elm).id,
            carer.id,
        )
        session.commit()
    return made


def _lesson(world: World, school_id: int) -> int:
    with world.factory() as session:
        school = session.get_one(School, school_id)
        host = session.get_one(StaffMember, world.oak_staff)
        lesson = records.lesson(session, school, host, [])
        session.commit()
        return lesson.id


def _joined(at: datetime, pid: str, person: Person, name: str) -> Joined:
    staff = person.role is Role.STAFF
    return Joined(
        at=at,
        pid=pid,
        person=person,
        display_name=name,
        device=pid,
        via=Via.STAFF_SIGN_IN if staff else Via.PUPIL_LINK,
        presence=Presence.ADMITTED if staff else Presence.WAITING,
        mic_on=False,
        camera_on=False,
        mic_allowed=True,
        camera_allowed=True,
        duplicate_of=None,
        parent_present=False,
    )


def _chat(at: datetime, message_id: int, text: str) -> ChatSent:
    return ChatSent(
        at=at,
        message_id=message_id,
        pid="a",
        person=AMY,
        display_name="Amy Adams",
        to=ChatTo.CLASS,
        text=text,
    )


def _flagged(at: datetime, text: str) -> ChatFlagged:
    return ChatFlagged(
        at=at,
        pid="a",
        person=AMY,
        display_name="Amy Adams",
        to=ChatTo.CLASS,
        text=text,
        findings=(Finding(ChatCheckKind.PHONE_NUMBER, 0, len(text)),),
        blocked=True,
        message_id=None,
        reminder="Keep your number to yourself.",
    )


def _a_lesson_at(start: datetime) -> list[AnyEvent]:
    """A whole lesson: a teacher, Amy let in, Ben let in then removed, chat, the end."""
    minute = timedelta(minutes=1)
    return [
        _joined(start, "t", TEACHER, "Tess Teacher"),
        _joined(start + minute, "a", AMY, "Amy Adams"),
        _joined(start + minute, "b", BEN, "Ben Brown"),
        Admitted(at=start + 2 * minute, pid="a", by="t"),
        Admitted(at=start + 2 * minute, pid="b", by="t"),
        _chat(start + 3 * minute, 1, "my answer is 3/4"),
        _flagged(start + 4 * minute, "07700 900123"),
        Removed(at=start + 5 * minute, pid="b", by="t", reason="unkind words"),
        LockChanged(at=start + 6 * minute, locked=True, by="t", automatic=False),
        PhaseChanged(at=start + 30 * minute, phase=Phase.ENDED, reason="ended_by_staff"),
    ]


def _log(world: World, lesson_id: int, events: list[AnyEvent]) -> None:
    with world.factory() as session:
        event_log.append(session, lesson_id, events)
        session.commit()


def _rows(world: World, lesson_id: int) -> list[LessonEventRecord]:
    with world.factory() as session:
        return list(
            session.scalars(
                select(LessonEventRecord)
                .where(LessonEventRecord.lesson_id == lesson_id)
                .order_by(LessonEventRecord.seq)
            )
        )


def _audit(world: World) -> list[tuple[int | None, dict[str, Any]]]:
    with world.factory() as session:
        return [
            (entry.school_id, entry.data)
            for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.action == AUDIT_ACTION).order_by(AuditEntry.id)
            )
        ]


def _count(world: World, model: Any) -> int:
    with world.factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --- Chat: emptied at its period; the chain still verifies and still catches changes.


def test_chat_past_its_period_is_emptied_and_the_log_still_verifies(world: World) -> None:
    lesson = _lesson(world, world.oak)
    old, young = NOW - 90 * DAY, NOW - 90 * DAY + timedelta(seconds=1)
    _log(world, lesson, [*_a_lesson_at(old - timedelta(minutes=3))[:5], _chat(old, 1, "old")])
    _log(world, lesson, [_flagged(old, "07700 900123"), _chat(young, 2, "still kept")])

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.school_id, d.count) for d in report.deletions] == [
        (RecordType.CHAT, world.oak, 2)
    ]
    rows = _rows(world, lesson)
    emptied = [row for row in rows if row.redacted_at is not None]
    assert [row.seq for row in emptied] == [6, 7]
    assert all(row.data == event_log.TOMBSTONE and row.data_salt is None for row in emptied)
    assert "old" not in str([row.data for row in rows])
    assert "07700" not in str([row.data for row in rows])
    with world.factory() as session:
        assert event_log.verify(session, lesson).ok
        kept_chat = [e for e in event_log.load(session, lesson) if isinstance(e, ChatSent)]
    assert [message.text for message in kept_chat] == ["still kept"]
    assert _audit(world) == [(world.oak, {"record_type": "chat", "count": 2, "kept_for_days": 90})]


def test_after_chat_is_emptied_a_changed_row_is_still_caught(world: World) -> None:
    lesson = _lesson(world, world.oak)
    _log(world, lesson, _a_lesson_at(NOW - 100 * DAY))
    run_retention(world.factory, now=NOW)
    rows = _rows(world, lesson)
    lock = next(row for row in rows if row.type == "lock_changed")
    chat = next(row for row in rows if row.type == "chat_sent")

    with world.factory() as session:
        session.execute(
            update(LessonEventRecord)
            .where(LessonEventRecord.id == lock.id)
            .values(data={**lock.data, "locked": False})
        )
        report = event_log.verify(session, lesson)
        session.rollback()
    assert (report.broken_at_seq, report.problem) == (lock.seq, "its contents were changed")

    # An emptied message cannot be filled in again with something else...
    with world.factory() as session:
        session.execute(
            update(LessonEventRecord)
            .where(LessonEventRecord.id == chat.id)
            .values(data={**_rows_data_of_chat(), "text": "made up"}, redacted_at=None)
        )
        report = event_log.verify(session, lesson)
        session.rollback()
    assert (report.broken_at_seq, report.problem) == (chat.seq, "its contents were changed")

    # ...and nothing but chat may be emptied.
    with world.factory() as session:
        session.execute(
            update(LessonEventRecord)
            .where(LessonEventRecord.id == lock.id)
            .values(data=event_log.TOMBSTONE, data_salt=None, redacted_at=NOW)
        )
        report = event_log.verify(session, lesson)
    assert report.broken_at_seq == lock.seq
    assert report.problem is not None
    assert "only chat" in report.problem


def _rows_data_of_chat() -> dict[str, Any]:
    return event_to_json(_chat(NOW, 1, "x"))


def test_redact_leaves_rows_that_are_not_chat_alone(world: World) -> None:
    lesson = _lesson(world, world.oak)
    _log(world, lesson, _a_lesson_at(NOW - 10 * DAY))
    ids = [row.id for row in _rows(world, lesson)]

    with world.factory() as session:
        emptied = event_log.redact(session, ids, at=NOW)
        again = event_log.redact(session, ids, at=NOW)
        session.commit()

    assert (emptied, again) == (2, 0)
    assert [row.type for row in _rows(world, lesson) if row.redacted_at is not None] == [
        "chat_sent",
        "chat_flagged",
    ]


def test_each_school_keeps_chat_for_its_own_period(world: World) -> None:
    oak_lesson, elm_lesson = _lesson(world, world.oak), _lesson(world, world.elm)
    for lesson in (oak_lesson, elm_lesson):
        _log(world, lesson, _a_lesson_at(NOW - 31 * DAY))

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.school_id, d.count, d.kept_for_days) for d in report.deletions] == [
        (RecordType.CHAT, world.elm, 2, 30)
    ]
    assert not any(row.redacted_at for row in _rows(world, oak_lesson))


# --- Lesson logs go whole at their period, their register kept first.


def test_a_lesson_log_goes_at_a_year_and_its_register_is_kept(world: World) -> None:
    lesson = _lesson(world, world.oak)
    events = _a_lesson_at(NOW - 365 * DAY - timedelta(minutes=30))
    _log(world, lesson, events)
    expected = attendance(events)
    with world.factory() as session:
        assert lesson_register(session, lesson) == expected  # read from the log while it is there

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.count, d.registers_kept) for d in report.deletions] == [
        (RecordType.LESSON_LOG, 1, 3)
    ]
    assert _rows(world, lesson) == []
    with world.factory() as session:
        kept = kept_register(session, lesson)
        assert lesson_register(session, lesson) == kept
        assert event_log.verify_all(session) == []
    assert kept == expected
    assert [(line.display_name, line.removed) for line in kept] == [
        ("Tess Teacher", False),
        ("Amy Adams", False),
        ("Ben Brown", True),
    ]
    assert _audit(world) == [
        (
            world.oak,
            {"record_type": "lesson_log", "count": 1, "kept_for_days": 365, "registers_kept": 3},
        )
    ]


def test_a_log_a_moment_younger_than_its_period_is_kept_whole(world: World) -> None:
    lesson = _lesson(world, world.oak)
    events = _a_lesson_at(NOW - 365 * DAY - timedelta(minutes=30) + timedelta(microseconds=1))
    _log(world, lesson, events)

    report = run_retention(world.factory, now=NOW)

    # Its chat was older than 90 days, so that went; the rest is all there.
    assert [d.record_type for d in report.deletions] == [RecordType.CHAT]
    assert len(_rows(world, lesson)) == len(events)
    assert _count(world, AttendanceRecord) == 0


def test_the_kept_register_goes_at_two_years(world: World) -> None:
    lesson = _lesson(world, world.oak)
    _log(world, lesson, _a_lesson_at(NOW - 400 * DAY))
    run_retention(world.factory, now=NOW)
    ended = NOW - 400 * DAY + timedelta(minutes=30)
    assert _count(world, AttendanceRecord) == 3

    assert (
        run_retention(world.factory, now=ended + 730 * DAY - timedelta(seconds=1)).deletions == ()
    )
    report = run_retention(world.factory, now=ended + 730 * DAY)

    assert [(d.record_type, d.count) for d in report.deletions] == [(RecordType.ATTENDANCE, 3)]
    assert _count(world, AttendanceRecord) == 0


def test_no_register_is_kept_when_attendance_ran_out_with_the_log(world: World) -> None:
    lesson = _lesson(world, world.oak)
    _log(world, lesson, _a_lesson_at(NOW - 800 * DAY))

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.registers_kept) for d in report.deletions] == [
        (RecordType.LESSON_LOG, 0)
    ]
    assert _count(world, AttendanceRecord) == 0


def test_a_log_that_cannot_be_read_is_reported_and_not_deleted(world: World) -> None:
    broken, fine = _lesson(world, world.oak), _lesson(world, world.elm)
    _log(world, broken, _a_lesson_at(NOW - 400 * DAY))
    _log(world, fine, _a_lesson_at(NOW - 400 * DAY))
    with world.factory() as session:
        session.execute(
            update(LessonEventRecord)
            .where(LessonEventRecord.lesson_id == broken, LessonEventRecord.seq == 1)
            .values(data={"type": "joined", "nonsense": True})
        )
        session.commit()

    report = run_retention(world.factory, now=NOW)

    assert len(report.problems) == 1
    assert f"Lesson {broken}'s log cannot be read" in report.problems[0]
    assert len(_rows(world, broken)) == 10
    assert _rows(world, fine) == []
    assert not report.ok
    # The rest still ran: the broken log's chat is gone all the same.
    assert [(d.record_type, d.school_id) for d in report.deletions] == [
        (RecordType.LESSON_LOG, world.elm),
        (RecordType.CHAT, world.oak),
    ]


# --- Incidents, consent, sign-ins.


def _incident(world: World, *, closed_at: datetime | None, opened_at: datetime) -> int:
    with world.factory() as session:
        incident = Incident(
            school_id=world.oak,
            lesson_title="Fractions",
            source=IncidentSource.STAFF_REPORT,
            state=IncidentState.CLOSED if closed_at else IncidentState.IN_REVIEW,
            occurred_at=opened_at,
            opened_at=opened_at,
            updated_at=closed_at or opened_at,
            closed_at=closed_at,
        )
        session.add(incident)
        session.flush()
        session.add(IncidentNote(incident_id=incident.id, author_name="DSL", body="Spoke to mum."))
        session.commit()
        return incident.id


def test_closed_incidents_go_25_years_after_closing_and_open_ones_never(world: World) -> None:
    period = 9125 * DAY
    gone = _incident(world, closed_at=NOW - period, opened_at=NOW - period - 9 * DAY)
    closed_later = _incident(world, closed_at=NOW - period + DAY, opened_at=NOW - period - DAY)
    still_open = _incident(world, closed_at=None, opened_at=NOW - 2 * period)

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.count) for d in report.deletions] == [(RecordType.INCIDENT, 1)]
    with world.factory() as session:
        left = set(session.scalars(select(Incident.id)))
        notes = set(session.scalars(select(IncidentNote.incident_id)))
    assert left == {closed_later, still_open}
    assert gone not in notes


def test_withdrawn_consent_goes_a_year_after_withdrawal_and_standing_consent_never(
    world: World,
) -> None:
    with world.factory() as session:
        child = session.get_one(Pupil, world.oak_pupil)
        carer = session.get_one(Parent, world.parent)
        old = NOW - 3650 * DAY
        standing = records.consent(session, child, carer, given_at=old).id
        withdrawn = records.consent(
            session, child, carer, given_at=old, withdrawn_at=NOW - 365 * DAY
        )
        recent = records.consent(session, child, carer, given_at=old, withdrawn_at=NOW - 364 * DAY)
        kept = {standing, recent.id}
        gone = withdrawn.id
        session.commit()

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.count) for d in report.deletions] == [
        (RecordType.WITHDRAWN_CONSENT, 1)
    ]
    with world.factory() as session:
        assert set(session.scalars(select(Consent.id))) == kept
    assert gone not in kept


def _audit_entry(world: World, action: str, at: datetime) -> int:
    with world.factory() as session:
        entry = AuditEntry(at=at, action=action, data={"address": "192.0.2.1"})
        session.add(entry)
        session.commit()
        return entry.id


def test_sign_in_records_go_at_90_days_and_other_audit_entries_stay(world: World) -> None:
    gone = [
        _audit_entry(world, action, NOW - 90 * DAY)
        for action in ("sign_in", "sign_in_failed", "sign_out", "sso_sign_in_refused")
    ]
    young = _audit_entry(world, "sign_in", NOW - 89 * DAY)
    other = _audit_entry(world, "policy_changed", NOW - 3650 * DAY)

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.school_id, d.count) for d in report.deletions] == [
        (RecordType.SIGN_IN, None, 4)
    ]
    with world.factory() as session:
        # Not retention's own entry: SQLite may give it a deleted row's id.
        left = set(session.scalars(select(AuditEntry.id).where(AuditEntry.action != AUDIT_ACTION)))
    assert {young, other} <= left
    assert not left & set(gone)


def test_sign_ins_keep_to_the_shortest_period_in_the_trust(world: World) -> None:
    with world.factory() as session:
        session.get_one(School, world.elm).policy_overrides = {"retention_sign_in_log_days": 30}
        session.commit()
    _audit_entry(world, "sign_in", NOW - 30 * DAY)

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.kept_for_days) for d in report.deletions] == [
        (RecordType.SIGN_IN, 30)
    ]


# --- Emails to parents about consent, and messages to the school's safeguarding system.


def _consent_email(world: World, school_id: int, state: ConsentMessageState, at: datetime) -> int:
    with world.factory() as session:
        message = ConsentMessage(
            school_id=school_id,
            parent_id=world.parent,
            to_address="alex@example.org",
            subject="Your permission for live lessons",
            body="Dear Alex, [personal link: shown only when it was made]",
            state=state,
            created_at=at,
            sent_at=at if state is ConsentMessageState.SENT else None,
        )
        session.add(message)
        session.commit()
        return message.id


def test_consent_emails_go_a_year_after_they_were_made_whatever_became_of_them(
    world: World,
) -> None:
    with world.factory() as session:
        session.get_one(School, world.elm).policy_overrides = {RETENTION_CONSENT_EMAILS.key: 30}
        session.commit()
    year = 365 * DAY
    gone = [_consent_email(world, world.oak, state, NOW - year) for state in ConsentMessageState]
    gone.append(_consent_email(world, world.elm, ConsentMessageState.SENT, NOW - 30 * DAY))
    kept = {
        _consent_email(world, world.oak, ConsentMessageState.OUTBOX, NOW - year + TICK),
        _consent_email(world, world.elm, ConsentMessageState.SENT, NOW - 30 * DAY + TICK),
    }

    counted = run_retention(world.factory, now=NOW, dry_run=True)
    assert _count(world, ConsentMessage) == 6
    report = run_retention(world.factory, now=NOW)

    expected = [
        (RecordType.CONSENT_EMAIL, world.oak, 3, 365),
        (RecordType.CONSENT_EMAIL, world.elm, 1, 30),
    ]
    assert [(d.record_type, d.school_id, d.count, d.kept_for_days) for d in counted.deletions] == (
        expected
    )
    assert [(d.record_type, d.school_id, d.count, d.kept_for_days) for d in report.deletions] == (
        expected
    )
    with world.factory() as session:
        assert set(session.scalars(select(ConsentMessage.id))) == kept
    assert not kept & set(gone)
    assert _audit(world) == [
        (world.oak, {"record_type": "consent_email", "count": 3, "kept_for_days": 365}),
        (world.elm, {"record_type": "consent_email", "count": 1, "kept_for_days": 30}),
    ]


def _message(
    world: World,
    incident: int,
    *,
    delivered_at: datetime | None = None,
    gave_up_at: datetime | None = None,
    attempts: int = 1,
) -> int:
    made = NOW - 400 * DAY
    with world.factory() as session:
        delivery = WebhookDelivery(
            incident_id=incident,
            school_id=world.oak,
            event="incident.opened",
            payload={"incident": {"id": incident}},
            created_at=made,
            attempts=attempts,
            next_attempt_at=None if delivered_at or gave_up_at else made,
            delivered_at=delivered_at,
            gave_up_at=gave_up_at,
            last_error="" if delivered_at else "The safeguarding system answered 503.",
        )
        session.add(delivery)
        session.commit()
        return delivery.id


def test_safeguarding_messages_go_90_days_after_delivery_or_giving_up_and_waiting_ones_never(
    world: World,
) -> None:
    still_open = _incident(world, closed_at=None, opened_at=NOW - 400 * DAY)
    period = 90 * DAY
    gone = {
        _message(world, still_open, delivered_at=NOW - period),
        _message(world, still_open, gave_up_at=NOW - period, attempts=5),
    }
    kept = {
        _message(world, still_open, delivered_at=NOW - period + TICK),
        _message(world, still_open, gave_up_at=NOW - period + TICK, attempts=5),
        _message(world, still_open, attempts=0),  # waiting to be sent
        _message(world, still_open, attempts=3),  # waiting to be tried again
    }

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.school_id, d.count) for d in report.deletions] == [
        (RecordType.WEBHOOK_MESSAGE, world.oak, 2)
    ]
    with world.factory() as session:
        assert set(session.scalars(select(WebhookDelivery.id))) == kept
        assert session.get(Incident, still_open) is not None
    assert not kept & gone
    assert _audit(world) == [
        (world.oak, {"record_type": "webhook_message", "count": 2, "kept_for_days": 90})
    ]


def test_a_safeguarding_message_goes_with_its_incident_and_is_not_counted_again(
    world: World,
) -> None:
    closed = NOW - 9125 * DAY
    incident = _incident(world, closed_at=closed, opened_at=closed - DAY)
    _message(world, incident, delivered_at=closed - DAY)
    _message(world, incident, attempts=2)  # still waiting: it goes with its incident all the same

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.count) for d in report.deletions] == [(RecordType.INCIDENT, 1)]
    assert _count(world, WebhookDelivery) == 0


# --- Runs as a whole.


def test_a_dry_run_counts_and_changes_nothing(world: World) -> None:
    lesson = _lesson(world, world.oak)
    _log(world, lesson, _a_lesson_at(NOW - 400 * DAY))
    _audit_entry(world, "sign_in", NOW - 400 * DAY)
    before = [(row.id, row.data, row.hash) for row in _rows(world, lesson)]

    report = run_retention(world.factory, now=NOW, dry_run=True)

    assert report.dry_run
    assert [(d.record_type, d.count, d.registers_kept) for d in report.deletions] == [
        (RecordType.LESSON_LOG, 1, 3),
        (RecordType.SIGN_IN, 1, 0),
    ]
    assert [(row.id, row.data, row.hash) for row in _rows(world, lesson)] == before
    assert _count(world, AttendanceRecord) == 0
    assert _audit(world) == []


def test_a_second_run_finds_nothing_and_writes_nothing(world: World) -> None:
    lesson = _lesson(world, world.oak)
    _log(world, lesson, _a_lesson_at(NOW - 200 * DAY))
    first = run_retention(world.factory, now=NOW)
    entries = _audit(world)

    second = run_retention(world.factory, now=NOW)

    assert first.deletions
    assert second.deletions == ()
    assert _audit(world) == entries


# --- Property: over random ages, exactly what has expired goes, at each school's own period.

ages = st.lists(
    st.tuples(
        st.sampled_from(("oak", "elm")),
        st.one_of(
            st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)),
            # As often as anywhere else: a microsecond either side of each school's period.
            st.builds(
                lambda days, nudge: days * DAY + nudge * timedelta(microseconds=1),
                st.sampled_from((30, 90)),
                st.integers(min_value=-1, max_value=1),
            ),
        ),
    ),
    max_size=12,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(messages=ages)
def test_exactly_the_chat_past_each_schools_period_is_deleted(
    world: World, messages: list[tuple[str, timedelta]]
) -> None:
    with world.factory() as session:
        session.execute(delete(LessonEventRecord))
        session.commit()
    lessons = {"oak": _lesson(world, world.oak), "elm": _lesson(world, world.elm)}
    period = {"oak": 90 * DAY, "elm": 30 * DAY}
    for index, (school, age) in enumerate(messages, start=1):
        _log(world, lessons[school], [_chat(NOW - age, index, f"message {index}")])

    run_retention(world.factory, now=NOW)

    with world.factory() as session:
        kept = {
            event.text
            for lesson in lessons.values()
            for event in event_log.load(session, lesson)
            if isinstance(event, ChatSent)
        }
        assert all(event_log.verify(session, lesson).ok for lesson in lessons.values())
    assert kept == {
        f"message {index}"
        for index, (school, age) in enumerate(messages, start=1)
        if age < period[school]
    }


# --- The job inside serve.


def test_the_schedule_runs_and_keeps_its_report(world: World) -> None:
    _audit_entry(world, "sign_in", NOW - 400 * DAY)
    schedule = RetentionSchedule(world.factory, every=3600, now=lambda: NOW)

    asyncio.run(schedule.run_once())

    assert schedule.last_report is not None
    assert schedule.last_report.total(RecordType.SIGN_IN) == 1
    assert schedule.last_problems == ()


def test_a_failing_run_is_logged_and_kept_not_swallowed(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_factory() -> Session:
        raise RuntimeError("the database is not there")

    schedule = RetentionSchedule(broken_factory, every=3600, now=lambda: NOW)  # type: ignore[arg-type]

    with caplog.at_level(logging.ERROR, logger="safeclass.actions.retention"):
        asyncio.run(schedule.run_once())

    assert schedule.last_problems == (
        "The retention run failed: RuntimeError: the database is not there",
    )
    assert "retention run failed" in caplog.text
    assert "RuntimeError" in caplog.text


def test_nothing_is_due_in_a_database_without_a_trust(
    any_session_factory: sessionmaker[Session],
) -> None:
    report = run_retention(any_session_factory, now=NOW)

    assert (report.deletions, report.problems) == ((), ())


def test_a_part_the_database_refuses_is_reported_and_the_rest_still_runs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    _audit_entry(world, "sign_in", NOW - 100 * DAY)
    with world.factory() as session:
        session.execute(text("ALTER TABLE consents RENAME TO consents_away"))
        session.commit()

    with caplog.at_level(logging.ERROR, logger="safeclass.actions.retention"):
        report = run_retention(world.factory, now=NOW)

    assert len(report.problems) == 2  # one per school
    assert report.problems[0].startswith("Deleting withdrawn consent at Oak: ")
    assert "retention: _withdrawn_consent for school" in caplog.text
    assert [d.record_type for d in report.deletions] == [RecordType.SIGN_IN]


def test_a_deletion_that_does_not_match_what_was_found_is_undone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    lesson = _lesson(world, world.oak)
    _log(world, lesson, _a_lesson_at(NOW - 100 * DAY))
    redact = event_log.redact

    def redact_and_miscount(session: Session, row_ids: Any, *, at: datetime) -> int:
        return redact(session, row_ids, at=at) - 1

    monkeypatch.setattr(event_log, "redact", redact_and_miscount)

    report = run_retention(world.factory, now=NOW)

    assert report.problems == (
        "Deleting chat: expected to delete 2 but the database deleted 1; nothing was deleted. "
        "Run it again.",
    )
    assert not any(row.redacted_at for row in _rows(world, lesson))
    assert _audit(world) == []


def test_the_schedule_logs_each_problem_as_an_error(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    lesson = _lesson(world, world.oak)
    _log(world, lesson, _a_lesson_at(NOW - 400 * DAY))
    with world.factory() as session:
        session.execute(
            update(LessonEventRecord)
            .where(LessonEventRecord.seq == 1)
            .values(data={"type": "joined"})
        )
        session.commit()
    schedule = RetentionSchedule(world.factory, every=3600, now=lambda: NOW)

    with caplog.at_level(logging.ERROR, logger="safeclass.actions.retention"):
        asyncio.run(schedule.run_once())

    assert len(schedule.last_problems) == 1
    assert f"Lesson {lesson}'s log cannot be read" in caplog.text


def test_an_incident_can_still_be_opened_on_a_lesson_whose_chat_was_deleted(
    world: World,
) -> None:
    lesson = _lesson(world, world.oak)
    old = NOW - 90 * DAY
    events = _a_lesson_at(old - timedelta(minutes=3))
    _log(world, lesson, [*events[:5], _chat(old, 1, "gone by now")])
    run_retention(world.factory, now=NOW)
    _log(world, lesson, [_chat(NOW - DAY, 2, "still here")])

    with world.factory() as session:
        lesson_log = LessonLog.read(session, lesson)
        timeline, chat, _ = lesson_log.snapshot(NOW - DAY)

    assert [line["text"] for line in chat] == ["still here"]
    assert "gone by now" not in str(timeline)


def test_a_practice_lessons_log_goes_without_keeping_a_register(world: World) -> None:
    lesson = _lesson(world, world.oak)
    with world.factory() as session:
        session.get_one(Lesson, lesson).practice = True
        session.commit()
    _log(world, lesson, _a_lesson_at(NOW - 365 * DAY - timedelta(minutes=30)))

    report = run_retention(world.factory, now=NOW)

    assert [(d.record_type, d.count, d.registers_kept) for d in report.deletions] == [
        (RecordType.LESSON_LOG, 1, 0)
    ]
    assert _rows(world, lesson) == []
    assert _count(world, AttendanceRecord) == 0
