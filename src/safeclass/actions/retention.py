"""Retention: delete what has been kept as long as the school's policy allows (`safeclass retention
run`, and a job inside `serve`).

Which records are due is decided in `safeclass.domain.retention`; here they are read, deleted, and
each deletion is audited in the same transaction: one `retention_deleted` entry per record type
and school, holding counts and the period applied, never what was deleted. A run that finds
nothing due writes nothing.

How the hard cases are handled (the reasons are in docs/privacy.md, "How deletion works"):
- Chat lives in the lesson's log, which is kept longer. A message's data is emptied into a
  tombstone (`event_log.redact`); the log's chain covers a salted digest of each row's data, so it
  still verifies, and still catches any other change.
- Attendance is kept longer than the log it is read from. Just before a lesson's log is deleted its
  register is written out as `AttendanceRecord`s, in the same transaction, unless the attendance
  period has run out as well.
- A lesson's log goes whole, counted from its last event, so no chain is left half there.
- Messages to the school's safeguarding system are counted from when they were delivered or given
  up on (one still waiting to be sent is never due), and also go with their incident.
- Consent emails are counted from when they were made, whatever became of them.
- Sign-ins belong to the trust, not to one school: they are kept for the shortest period the trust
  or any of its schools sets. No other audit entry is deleted by age.
- A recording is a file and a row. The files (the recording and any raw files left of it) are
  deleted first, inside the row's transaction: if a file cannot be deleted the rows stay and the
  problem is reported, and a file already deleted when the transaction fails is simply missing
  the next time (never a file kept with no row to say it exists). A run must be told where the
  recordings are (`recordings_root`); one that is not deletes none and says so.

Each record type and school is done in a transaction of its own, so one failure (a log that cannot
be read, say) stops only that part: the rest still runs, and the failure comes back in the report
(`problems`) for the command to print and the job to log. Nothing is ever skipped quietly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from safeclass.actions.audit import record_audit
from safeclass.actions.recordings import delete_recording_files
from safeclass.domain.attendance import AttendanceLine, Stretch, attendance
from safeclass.domain.lesson.codec import BadEventError
from safeclass.domain.lesson.model import Person
from safeclass.domain.policy import resolve
from safeclass.domain.retention import (
    Dated,
    RecordType,
    RetentionPeriods,
    cutoff,
    expired,
    message_settled_at,
    register_outlives_log,
    trust_wide,
)
from safeclass.store import event_log
from safeclass.store.db import transaction
from safeclass.store.models import (
    AttendanceRecord,
    AuditEntry,
    Consent,
    ConsentMessage,
    Incident,
    IncidentNote,
    IncidentState,
    Lesson,
    LessonEventRecord,
    Pupil,
    Recording,
    RecordingState,
    School,
    Trust,
    WebhookDelivery,
)
from safeclass.store.queries import school_policy, trust_policy

log = logging.getLogger(__name__)

AUDIT_ACTION = "retention_deleted"
# The audit entries retention deletes: sign-ins, sign-outs and failed or refused attempts. Every
# other audit entry (policy changes, rosters, consent, retention's own entries) is kept.
SIGN_IN_ACTIONS = frozenset(
    {
        "sign_in",
        "sign_in_failed",
        "sign_in_locked",
        "sign_in_refused_inactive",
        "sign_out",
        "sso_sign_in_refused",
    }
)
_BATCH = 500


@dataclass(frozen=True)
class Deletion:
    """What one record type lost at one school (None: trust-wide records) in one run."""

    record_type: RecordType
    school_id: int | None
    count: int
    kept_for_days: int
    registers_kept: int = 0  # lesson logs only: people whose attendance was kept on its own


@dataclass(frozen=True)
class RetentionReport:
    at: datetime
    dry_run: bool
    deletions: tuple[Deletion, ...]
    problems: tuple[str, ...]
    schools: dict[int, str] = field(default_factory=dict)

    def total(self, record_type: RecordType) -> int:
        return sum(d.count for d in self.deletions if d.record_type is record_type)

    @property
    def ok(self) -> bool:
        return not self.problems


class RetentionError(Exception):
    """A part of a run that could not be done. Its message says which and why."""


# A step finds the records of one type due at one school (None: the trust-wide sign-in records),
# and unless this is a dry run deletes them and writes the audit entry. It returns the deletion,
# or None when nothing was due.
_Step = Callable[[Session, "_Run", Any], "Deletion | None"]


@dataclass(frozen=True)
class _Run:
    now: datetime
    dry_run: bool
    periods: dict[int | None, RetentionPeriods]
    recordings_root: Path | None = None
    # Lessons whose logs this run deleted (or, in a dry run, would have): their chat is not
    # counted again.
    logs_gone: set[int] = field(default_factory=set)

    def days(self, record_type: RecordType, school_id: int | None) -> int:
        return self.periods[school_id].days[record_type]

    def cutoff(self, record_type: RecordType, school_id: int | None) -> datetime:
        return cutoff(self.now, self.periods[school_id].period(record_type))


def run_retention(
    session_factory: sessionmaker[Session],
    *,
    now: datetime,
    dry_run: bool = False,
    recordings_root: Path | None = None,
) -> RetentionReport:
    """Delete everything that is due at `now` (or, with `dry_run`, only count it). Recordings'
    files are under `recordings_root` (`media.recording_files.recordings_root`)."""
    with session_factory() as session:
        schools = session.scalars(
            select(School).options(selectinload(School.trust)).order_by(School.id)
        ).all()
        trusts = session.scalars(select(Trust).order_by(Trust.id)).all()
        periods: dict[int | None, RetentionPeriods] = {
            s.id: RetentionPeriods.from_policy(school_policy(s)) for s in schools
        }
        trust_periods = [RetentionPeriods.from_policy(resolve(trust_policy(t))) for t in trusts]
        names = {s.id: s.name for s in schools}
    if trust_periods:
        periods[None] = trust_wide([*trust_periods, *periods.values()])
    run = _Run(now=now, dry_run=dry_run, periods=periods, recordings_root=recordings_root)

    # Logs before chat (a log that goes takes its chat with it), and registers are kept before
    # their logs go. Incidents before their messages: a message that goes with its incident is
    # counted there, not again.
    steps: list[tuple[_Step, int | None]] = [
        (step, school.id)
        for step in (
            _lesson_logs,
            _chat,
            _attendance,
            _incidents,
            _webhook_messages,
            _recordings,
            _withdrawn_consent,
            _consent_emails,
        )
        for school in schools
    ]
    if None in periods:
        steps.append((_sign_ins, None))

    deletions: list[Deletion] = []
    problems: list[str] = []
    for step, school_id in steps:
        try:
            if dry_run:  # the steps write nothing in a dry run; closing the session rolls back
                with session_factory() as session:
                    deletion = step(session, run, school_id)
            else:
                with transaction(session_factory) as session:
                    deletion = step(session, run, school_id)
        except RetentionError as error:
            problems.append(str(error))
            continue
        except Exception as error:
            log.exception("retention: %s for school %s failed", step.__name__, school_id)
            problems.append(
                f"{_STEP_NAMES[step]} at "
                f"{names[school_id] if school_id is not None else 'the trust'}: "
                f"{type(error).__name__}: {error}"
            )
            continue
        if deletion is not None:
            deletions.append(deletion)
    return RetentionReport(
        at=now, dry_run=dry_run, deletions=tuple(deletions), problems=tuple(problems), schools=names
    )


def _audit(session: Session, run: _Run, deletion: Deletion, **extra: Any) -> None:
    record_audit(
        session,
        AUDIT_ACTION,
        actor=None,
        school_id=deletion.school_id,
        data={
            "record_type": deletion.record_type.value,
            "count": deletion.count,
            "kept_for_days": deletion.kept_for_days,
            **extra,
        },
    )


def _finish(
    session: Session, run: _Run, deletion: Deletion, delete_now: Callable[[], int], **extra: Any
) -> Deletion:
    """Delete (unless this is a dry run) and audit in the caller's transaction."""
    if run.dry_run:
        return deletion
    deleted = delete_now()
    if deleted != deletion.count:
        # Something changed the records between reading and deleting them: undo, say so.
        raise RetentionError(
            f"{_STEP_NAMES_BY_TYPE[deletion.record_type]}: expected to delete {deletion.count} "
            f"but the database deleted {deleted}; nothing was deleted. Run it again."
        )
    _audit(session, run, deletion, **extra)
    return deletion


# --- The job inside `serve`.

RUN_EVERY_SECONDS = 6 * 60 * 60


class RetentionSchedule:
    """Runs retention at start-up and then every `every` seconds, in a worker thread so requests
    are never held up. Every problem is logged as an error (with its traceback when a whole run
    fails) and kept as `last_problems` for anyone looking; a failed run is tried again at the next
    turn, never given up on quietly."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        every: float = RUN_EVERY_SECONDS,
        now: Callable[[], datetime],
        recordings_root: Path | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.every = every
        self.now = now
        self.recordings_root = recordings_root
        self.last_report: RetentionReport | None = None
        self.last_problems: tuple[str, ...] = ()
        self.runs = 0

    async def run_once(self) -> None:
        self.runs += 1
        try:
            report = await asyncio.to_thread(
                run_retention,
                self.session_factory,
                now=self.now(),
                recordings_root=self.recordings_root,
            )
        except Exception as error:
            log.exception("retention run failed")
            self.last_problems = (f"The retention run failed: {type(error).__name__}: {error}",)
            return
        self.last_report = report
        self.last_problems = report.problems
        for deletion in report.deletions:
            log.info(
                "retention: deleted %d %s (school %s, kept %d days)",
                deletion.count,
                deletion.record_type.value,
                deletion.school_id,
                deletion.kept_for_days,
            )
        for problem in report.problems:
            log.error("retention: %s", problem)

    async def run_forever(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.every)


# --- Lesson logs, with their registers kept first.


def _lesson_logs(session: Session, run: _Run, school_id: int) -> Deletion | None:
    record_type = RecordType.LESSON_LOG
    last_event = func.max(LessonEventRecord.at)
    rows = session.execute(
        select(LessonEventRecord.lesson_id, last_event)
        .join(Lesson, Lesson.id == LessonEventRecord.lesson_id)
        .where(Lesson.school_id == school_id)
        .group_by(LessonEventRecord.lesson_id)
        .having(last_event <= run.cutoff(record_type, school_id))
        .order_by(LessonEventRecord.lesson_id)
    ).all()
    ended_at: dict[int, datetime] = dict(rows)
    due = expired(
        record_type,
        [Dated(lesson_id, school_id, at) for lesson_id, at in rows],
        run.periods,
        run.now,
    )
    if not due:
        return None
    registers: list[AttendanceRecord] = []
    # A practice lesson's register is of simulated pupils: not a record of anyone's attendance.
    practice = set(
        session.scalars(select(Lesson.id).where(Lesson.id.in_(due), Lesson.practice.is_(True)))
    )
    for lesson_id in due:
        if lesson_id in practice:
            continue
        if not register_outlives_log(ended_at[lesson_id], run.periods[school_id], run.now):
            continue
        try:
            lines = attendance(event_log.load(session, lesson_id))
        except BadEventError as error:
            raise RetentionError(
                f"Lesson {lesson_id}'s log cannot be read ({error}), so its register cannot be "
                "kept and no lesson log of its school was deleted. Check it with `safeclass audit "
                f"verify --lesson {lesson_id}`."
            ) from None
        registers.extend(_kept_register(school_id, lesson_id, ended_at[lesson_id], lines))
    deletion = Deletion(
        record_type,
        school_id,
        len(due),
        run.days(record_type, school_id),
        registers_kept=len(registers),
    )

    def delete_now() -> int:
        session.add_all(registers)
        event_log.delete_logs(session, due)
        return len(due)

    done = _finish(session, run, deletion, delete_now, registers_kept=len(registers))
    run.logs_gone.update(due)
    return done


def _kept_register(
    school_id: int, lesson_id: int, ended_at: datetime, lines: Sequence[AttendanceLine]
) -> list[AttendanceRecord]:
    return [
        AttendanceRecord(
            school_id=school_id,
            lesson_id=lesson_id,
            person=str(line.person),
            display_name=line.display_name,
            stretches=[
                {"in": s.start.isoformat(), "out": s.end.isoformat() if s.end else None}
                for s in line.stretches
            ],
            removed=line.removed,
            lesson_ended_at=ended_at,
        )
        for line in lines
    ]


def lesson_register(session: Session, lesson_id: int) -> list[AttendanceLine]:
    """A lesson's register wherever it is now: read from the lesson's log while that is kept,
    then from the register kept on its own (empty once that has gone too)."""
    if event_log.count_events(session, lesson_id):
        return attendance(event_log.load(session, lesson_id))
    return kept_register(session, lesson_id)


def kept_register(session: Session, lesson_id: int) -> list[AttendanceLine]:
    """A lesson's register as kept after its log was deleted (empty while the log is there, or
    once the attendance period has run out too), in the order people first came in."""
    records = session.scalars(
        select(AttendanceRecord)
        .where(AttendanceRecord.lesson_id == lesson_id)
        .order_by(AttendanceRecord.id)
    )
    lines = [
        AttendanceLine(
            person=Person.parse(record.person),
            display_name=record.display_name,
            stretches=[
                Stretch(
                    datetime.fromisoformat(s["in"]),
                    datetime.fromisoformat(s["out"]) if s["out"] is not None else None,
                )
                for s in record.stretches
            ],
            removed=record.removed,
        )
        for record in records
    ]
    return sorted(lines, key=lambda line: (line.stretches[0].start, line.display_name))


# --- Chat: what messages said is deleted; the rows stay, so the log's chain still verifies.


def _chat(session: Session, run: _Run, school_id: int) -> Deletion | None:
    record_type = RecordType.CHAT
    rows = session.execute(
        select(LessonEventRecord.id, LessonEventRecord.at, LessonEventRecord.lesson_id)
        .join(Lesson, Lesson.id == LessonEventRecord.lesson_id)
        .where(
            Lesson.school_id == school_id,
            LessonEventRecord.type.in_(event_log.REDACTABLE_TYPES),
            LessonEventRecord.redacted_at.is_(None),
            LessonEventRecord.at <= run.cutoff(record_type, school_id),
        )
        .order_by(LessonEventRecord.id)
    ).all()
    dated = [Dated(i, school_id, at) for i, at, lesson_id in rows if lesson_id not in run.logs_gone]
    due = expired(record_type, dated, run.periods, run.now)
    if not due:
        return None
    deletion = Deletion(record_type, school_id, len(due), run.days(record_type, school_id))
    return _finish(session, run, deletion, lambda: event_log.redact(session, due, at=run.now))


def _due(
    run: _Run, record_type: RecordType, school_id: int | None, rows: Iterable[Sequence[Any]]
) -> tuple[list[int], Deletion] | None:
    """Which of one school's records (id, start of their period) are due, and the deletion to
    report for them; None when none is."""
    dated = [Dated(key, school_id, since) for key, since in rows]
    due = expired(record_type, dated, run.periods, run.now)
    if not due:
        return None
    return due, Deletion(record_type, school_id, len(due), run.days(record_type, school_id))


# --- Registers kept on their own.


def _attendance(session: Session, run: _Run, school_id: int) -> Deletion | None:
    record_type = RecordType.ATTENDANCE
    rows = session.execute(
        select(AttendanceRecord.id, AttendanceRecord.lesson_ended_at).where(
            AttendanceRecord.school_id == school_id,
            AttendanceRecord.lesson_ended_at <= run.cutoff(record_type, school_id),
        )
    ).all()
    found = _due(run, record_type, school_id, rows)
    if found is None:
        return None
    due, deletion = found
    return _finish(session, run, deletion, lambda: _delete_ids(session, AttendanceRecord, due))


# --- Incidents: counted from closing; an open incident is never deleted by age.


def _incidents(session: Session, run: _Run, school_id: int) -> Deletion | None:
    record_type = RecordType.INCIDENT
    rows = session.execute(
        select(Incident.id, Incident.closed_at).where(
            Incident.school_id == school_id,
            Incident.state == IncidentState.CLOSED,
            Incident.closed_at <= run.cutoff(record_type, school_id),
        )
    ).all()
    found = _due(run, record_type, school_id, rows)
    if found is None:
        return None
    due, deletion = found

    def delete_now() -> int:
        # Notes and outgoing messages for the school's safeguarding system quote the incident:
        # they go with it rather than outlive it.
        _delete_where(session, IncidentNote, IncidentNote.incident_id, due)
        _delete_where(session, WebhookDelivery, WebhookDelivery.incident_id, due)
        return _delete_ids(session, Incident, due)

    return _finish(session, run, deletion, delete_now)


# --- Messages to the school's safeguarding system: counted from delivery or giving up. A message
# still waiting to be sent is never deleted by age (it still goes with its incident).


def _webhook_messages(session: Session, run: _Run, school_id: int) -> Deletion | None:
    record_type = RecordType.WEBHOOK_MESSAGE
    settled = func.coalesce(WebhookDelivery.delivered_at, WebhookDelivery.gave_up_at)
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.delivered_at, WebhookDelivery.gave_up_at).where(
            WebhookDelivery.school_id == school_id,
            settled <= run.cutoff(record_type, school_id),
        )
    ).all()
    found = _due(
        run,
        record_type,
        school_id,
        [(i, message_settled_at(delivered, gave_up)) for i, delivered, gave_up in rows],
    )
    if found is None:
        return None
    due, deletion = found
    return _finish(session, run, deletion, lambda: _delete_ids(session, WebhookDelivery, due))


# --- Recordings: counted from their end; the files go first, then the rows.


def _recordings(session: Session, run: _Run, school_id: int) -> Deletion | None:
    record_type = RecordType.RECORDING
    # A recording still being made is left for a later run; so is one that holds the moment of
    # an incident still open (evidence the safeguarding lead may need), until it is closed.
    in_open_incident = (
        select(Incident.id)
        .where(
            Incident.lesson_id == Recording.lesson_id,
            Incident.state != IncidentState.CLOSED,
            Incident.occurred_at >= Recording.started_at,
            Incident.occurred_at <= Recording.ended_at,
        )
        .exists()
    )
    rows = session.execute(
        select(Recording.id, Recording.ended_at).where(
            Recording.school_id == school_id,
            Recording.state.in_((RecordingState.READY, RecordingState.FAILED)),
            Recording.ended_at <= run.cutoff(record_type, school_id),
            ~in_open_incident,
        )
    ).all()
    found = _due(run, record_type, school_id, rows)
    if found is None:
        return None
    due, deletion = found
    root = run.recordings_root
    if root is None and not run.dry_run:
        raise RetentionError(
            f"{_STEP_NAMES[_recordings]}: {len(due)} recording(s) are due, but this run was not "
            "told where recording files are kept, so none was deleted."
        )

    def delete_now() -> int:
        assert root is not None
        for recording in session.scalars(select(Recording).where(Recording.id.in_(due))):
            try:
                delete_recording_files(root, recording)
            except OSError as error:
                raise RetentionError(
                    f"{_STEP_NAMES[_recordings]}: the files of recording {recording.number} of "
                    f"lesson {recording.lesson_id} could not be deleted ({error}). The records "
                    "of the school's recordings that are due were kept; the next run tries again."
                ) from None
        return _delete_ids(session, Recording, due)

    return _finish(session, run, deletion, delete_now)


# --- Consent: withdrawn consent, counted from the withdrawal. Consent that stands is kept.


def _withdrawn_consent(session: Session, run: _Run, school_id: int) -> Deletion | None:
    record_type = RecordType.WITHDRAWN_CONSENT
    rows = session.execute(
        select(Consent.id, Consent.withdrawn_at)
        .join(Pupil, Pupil.id == Consent.pupil_id)
        .where(
            Pupil.school_id == school_id,
            Consent.withdrawn_at.is_not(None),
            Consent.withdrawn_at <= run.cutoff(record_type, school_id),
        )
    ).all()
    found = _due(run, record_type, school_id, rows)
    if found is None:
        return None
    due, deletion = found
    return _finish(session, run, deletion, lambda: _delete_ids(session, Consent, due))


# --- Emails to parents about consent: counted from when each was made, sent or not.


def _consent_emails(session: Session, run: _Run, school_id: int) -> Deletion | None:
    record_type = RecordType.CONSENT_EMAIL
    rows = session.execute(
        select(ConsentMessage.id, ConsentMessage.created_at).where(
            ConsentMessage.school_id == school_id,
            ConsentMessage.created_at <= run.cutoff(record_type, school_id),
        )
    ).all()
    found = _due(run, record_type, school_id, rows)
    if found is None:
        return None
    due, deletion = found
    return _finish(session, run, deletion, lambda: _delete_ids(session, ConsentMessage, due))


# --- Sign-in records in the audit log (trust-wide).


def _sign_ins(session: Session, run: _Run, school_id: None) -> Deletion | None:
    record_type = RecordType.SIGN_IN
    rows = session.execute(
        select(AuditEntry.id, AuditEntry.at).where(
            AuditEntry.action.in_(SIGN_IN_ACTIONS),
            AuditEntry.at <= run.cutoff(record_type, school_id),
        )
    ).all()
    found = _due(run, record_type, school_id, rows)
    if found is None:
        return None
    due, deletion = found
    return _finish(session, run, deletion, lambda: _delete_ids(session, AuditEntry, due))


# --- Helpers.


def _delete_ids(session: Session, model: Any, ids: Sequence[int]) -> int:
    return _delete_where(session, model, model.id, ids)


def _delete_where(session: Session, model: Any, column: Any, ids: Sequence[int]) -> int:
    deleted = 0
    for start in range(0, len(ids), _BATCH):
        result = session.execute(
            delete(model)
            .where(column.in_(ids[start : start + _BATCH]))
            .execution_options(synchronize_session=False)
        )
        deleted += int(getattr(result, "rowcount", 0))
    return deleted


_STEP_NAMES: dict[_Step, str] = {
    _lesson_logs: "Deleting lesson logs",
    _chat: "Deleting chat",
    _attendance: "Deleting registers",
    _incidents: "Deleting closed incidents",
    _webhook_messages: "Deleting messages to the safeguarding system",
    _recordings: "Deleting recordings",
    _withdrawn_consent: "Deleting withdrawn consent",
    _consent_emails: "Deleting consent emails",
    _sign_ins: "Deleting sign-in records",
}
_STEP_NAMES_BY_TYPE: dict[RecordType, str] = {
    RecordType.LESSON_LOG: _STEP_NAMES[_lesson_logs],
    RecordType.CHAT: _STEP_NAMES[_chat],
    RecordType.ATTENDANCE: _STEP_NAMES[_attendance],
    RecordType.INCIDENT: _STEP_NAMES[_incidents],
    RecordType.WEBHOOK_MESSAGE: _STEP_NAMES[_webhook_messages],
    RecordType.RECORDING: _STEP_NAMES[_recordings],
    RecordType.WITHDRAWN_CONSENT: _STEP_NAMES[_withdrawn_consent],
    RecordType.CONSENT_EMAIL: _STEP_NAMES[_consent_emails],
    RecordType.SIGN_IN: _STEP_NAMES[_sign_ins],
}
