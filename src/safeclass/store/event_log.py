"""Each lesson's event log: append-only rows, each carrying the hash of the row before.

The hash of a row covers its lesson, position, time, type and actor, a digest of its data, and the
previous row's hash, so changing, deleting or inserting any row breaks the chain from that row on.
`verify` reports the first broken link.

Why a digest of the data and not the data: chat is kept for a shorter time (90 days by default)
than the rest of the log (a year), and it lives in the log's `chat_sent` and `chat_flagged` rows.
The chain covers `SHA-256(salt, data)` with a random salt per row, kept beside the data. To delete
a message on schedule (`redact`), its data becomes a tombstone and its salt is wiped; the digest
stays, so the chain still verifies and still proves that a message was there, when, of which kind
and from whom, but not what it said. Wiping the salt matters: without it nobody can test a guess
("was it 'yes'?") against the digest. `verify` still catches every other change: an altered row's
data no longer matches its digest, and only chat rows may be emptied, only into the tombstone.

Rows written before migration 0009 carried the hash of their data itself. 0009 re-sealed every log
whose chain still verified (nothing is lost: the old chain vouched for exactly that data); a log
that was already damaged was left as it was (`data_digest` None), and is still checked the old way,
so it is still reported where it was damaged.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from safeclass.domain.lesson.codec import event_from_json, event_to_json
from safeclass.domain.lesson.events import AnyEvent
from safeclass.store.models import LessonEventRecord

GENESIS = "0" * 64
# The rows whose data retention may delete before the rest of the log: what chat said.
REDACTABLE_TYPES = frozenset({"chat_sent", "chat_flagged"})
TOMBSTONE: dict[str, Any] = {"deleted": "kept for its retention period, then deleted"}
# Bulk statements name at most this many rows (far below any database's parameter limit).
_BATCH = 500


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def data_digest(salt: str, data: dict[str, Any]) -> str:
    return hashlib.sha256(f"{salt}\n{_canonical(data)}".encode()).hexdigest()


def _row_hash(
    prev_hash: str,
    lesson_id: int,
    seq: int,
    at: datetime,
    type_: str,
    actor: str,
    digest: str,
) -> str:
    body = _canonical(
        {
            "lesson_id": lesson_id,
            "seq": seq,
            "at": at.isoformat(),
            "type": type_,
            "actor": actor,
            "data_sha256": digest,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _legacy_row_hash(
    prev_hash: str,
    lesson_id: int,
    seq: int,
    at: datetime,
    type_: str,
    actor: str,
    data: dict[str, Any],
) -> str:
    """The hash of rows written before migration 0009, kept for logs it could not re-seal."""
    body = _canonical(
        {
            "lesson_id": lesson_id,
            "seq": seq,
            "at": at.isoformat(),
            "type": type_,
            "actor": actor,
            "data": data,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _actor_of(event: AnyEvent) -> str:
    for name in ("by", "actor", "pid"):
        value = getattr(event, name, None)
        if isinstance(value, str):
            return value
    return ""


def append(session: Session, lesson_id: int, events: Sequence[AnyEvent]) -> None:
    """Add events to the end of a lesson's log, in the caller's transaction."""
    if not events:
        return
    # Two writers for one lesson would fork the chain: the unique (lesson_id, seq) constraint makes
    # the second one fail instead, and the live-lesson lock keeps that from happening in one server.
    last = session.execute(
        select(LessonEventRecord.seq, LessonEventRecord.hash)
        .where(LessonEventRecord.lesson_id == lesson_id)
        .order_by(LessonEventRecord.seq.desc())
        .limit(1)
    ).first()
    seq, prev_hash = (last[0], last[1]) if last is not None else (0, GENESIS)
    for event in events:
        seq += 1
        data = event_to_json(event)
        actor = _actor_of(event)
        salt = secrets.token_hex(16)
        digest = data_digest(salt, data)
        row_hash = _row_hash(prev_hash, lesson_id, seq, event.at, event.type, actor, digest)
        session.add(
            LessonEventRecord(
                lesson_id=lesson_id,
                seq=seq,
                at=event.at,
                type=event.type,
                actor=actor,
                data=data,
                data_digest=digest,
                data_salt=salt,
                prev_hash=prev_hash,
                hash=row_hash,
            )
        )
        prev_hash = row_hash


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    hash: str
    event: AnyEvent


def load_rows(session: Session, lesson_id: int) -> list[LoggedEvent]:
    """The lesson's events with their positions and hashes. Chat deleted on schedule is left out:
    only that a message was sent remains in the row, and no event can be rebuilt from that."""
    rows = session.scalars(
        select(LessonEventRecord)
        .where(LessonEventRecord.lesson_id == lesson_id, LessonEventRecord.redacted_at.is_(None))
        .order_by(LessonEventRecord.seq)
    )
    return [LoggedEvent(row.seq, row.hash, event_from_json(row.data)) for row in rows]


def load(session: Session, lesson_id: int) -> list[AnyEvent]:
    return [logged.event for logged in load_rows(session, lesson_id)]


def redact(session: Session, row_ids: Sequence[int], *, at: datetime) -> int:
    """Delete what these chat rows said, keeping the rows and the chain (see the module's
    docstring). Rows of any other type, and rows already emptied, are left alone. Returns how many
    were emptied."""
    emptied = 0
    for start in range(0, len(row_ids), _BATCH):
        result = session.execute(
            update(LessonEventRecord)
            .where(
                LessonEventRecord.id.in_(row_ids[start : start + _BATCH]),
                LessonEventRecord.type.in_(REDACTABLE_TYPES),
                LessonEventRecord.redacted_at.is_(None),
            )
            .values(data=TOMBSTONE, data_salt=None, redacted_at=at)
            .execution_options(synchronize_session=False)
        )
        emptied += _rowcount(result)
    return emptied


def delete_logs(session: Session, lesson_ids: Sequence[int]) -> int:
    """Delete these lessons' whole logs (a whole log goes, so no chain is left half there).
    Returns how many rows were deleted."""
    deleted = 0
    for start in range(0, len(lesson_ids), _BATCH):
        result = session.execute(
            delete(LessonEventRecord)
            .where(LessonEventRecord.lesson_id.in_(lesson_ids[start : start + _BATCH]))
            .execution_options(synchronize_session=False)
        )
        deleted += _rowcount(result)
    return deleted


def _rowcount(result: object) -> int:
    count = getattr(result, "rowcount", None)
    if not isinstance(count, int) or count < 0:
        raise RuntimeError("The database did not say how many rows it changed.")
    return count


def verify_all(session: Session) -> list[ChainReport]:
    return [verify(session, lesson_id) for lesson_id in lessons_with_logs(session)]


def lessons_with_logs(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(LessonEventRecord.lesson_id).distinct().order_by(LessonEventRecord.lesson_id)
        )
    )


@dataclass(frozen=True)
class ChainReport:
    lesson_id: int
    rows: int
    broken_at_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.broken_at_seq is None


def verify(session: Session, lesson_id: int) -> ChainReport:
    rows: Iterable[LessonEventRecord] = session.scalars(
        select(LessonEventRecord)
        .where(LessonEventRecord.lesson_id == lesson_id)
        .order_by(LessonEventRecord.seq)
    )
    prev_hash = GENESIS
    count = 0
    for expected_seq, row in enumerate(rows, start=1):
        count += 1
        if row.seq != expected_seq:
            return ChainReport(lesson_id, count, expected_seq, f"row {expected_seq} is missing")
        if row.prev_hash != prev_hash:
            return ChainReport(
                lesson_id, count, row.seq, "it does not follow on from the row before"
            )
        problem = _row_problem(row, prev_hash)
        if problem is not None:
            return ChainReport(lesson_id, count, row.seq, problem)
        prev_hash = row.hash
    return ChainReport(lesson_id, count, None, None)


def _row_problem(row: LessonEventRecord, prev_hash: str) -> str | None:
    """What is wrong with one row, given the hash of the row before; None if nothing."""
    if row.data_digest is None:
        if row.redacted_at is not None:
            return (
                "its chat was deleted on schedule, but this record was already damaged before it "
                "could be re-sealed (database upgrade 0009), so the rest cannot be checked"
            )
        recomputed = _legacy_row_hash(
            prev_hash, row.lesson_id, row.seq, row.at, row.type, row.actor, row.data
        )
        return None if recomputed == row.hash else "its contents were changed"
    if row.redacted_at is None:
        if row.data_salt is None or data_digest(row.data_salt, row.data) != row.data_digest:
            return "its contents were changed"
    elif row.type not in REDACTABLE_TYPES or row.data != TOMBSTONE or row.data_salt is not None:
        return "it was emptied, and only chat may be deleted before the rest of the record"
    recomputed = _row_hash(
        prev_hash, row.lesson_id, row.seq, row.at, row.type, row.actor, row.data_digest
    )
    return None if recomputed == row.hash else "its contents were changed"


def count_events(session: Session, lesson_id: int) -> int:
    return session.scalar(select(func.count()).where(LessonEventRecord.lesson_id == lesson_id)) or 0
