"""Each lesson's event log: append-only rows, each carrying the hash of the row before.

The hash of a row covers its lesson, position, time, type, actor and data, and the previous row's
hash, so changing, deleting or inserting any row breaks the chain from that row on. `verify`
reports the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safeclass.domain.lesson.codec import event_from_json, event_to_json
from safeclass.domain.lesson.events import AnyEvent
from safeclass.store.models import LessonEventRecord

GENESIS = "0" * 64


def _row_hash(
    prev_hash: str,
    lesson_id: int,
    seq: int,
    at: datetime,
    type_: str,
    actor: str,
    data: dict[str, Any],
) -> str:
    body = json.dumps(
        {
            "lesson_id": lesson_id,
            "seq": seq,
            "at": at.isoformat(),
            "type": type_,
            "actor": actor,
            "data": data,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
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
        row_hash = _row_hash(prev_hash, lesson_id, seq, event.at, event.type, actor, data)
        session.add(
            LessonEventRecord(
                lesson_id=lesson_id,
                seq=seq,
                at=event.at,
                type=event.type,
                actor=actor,
                data=data,
                prev_hash=prev_hash,
                hash=row_hash,
            )
        )
        prev_hash = row_hash


def load(session: Session, lesson_id: int) -> list[AnyEvent]:
    rows = session.scalars(
        select(LessonEventRecord)
        .where(LessonEventRecord.lesson_id == lesson_id)
        .order_by(LessonEventRecord.seq)
    )
    return [event_from_json(row.data) for row in rows]


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
        recomputed = _row_hash(
            prev_hash, row.lesson_id, row.seq, row.at, row.type, row.actor, row.data
        )
        if recomputed != row.hash:
            return ChainReport(lesson_id, count, row.seq, "its contents were changed")
        prev_hash = row.hash
    return ChainReport(lesson_id, count, None, None)


def count_events(session: Session, lesson_id: int) -> int:
    return session.scalar(select(func.count()).where(LessonEventRecord.lesson_id == lesson_id)) or 0
