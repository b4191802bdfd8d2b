"""Migration 0009 re-seals lesson logs so that chat can be deleted on schedule: a log whose chain
held is re-sealed and still verifies; a log that was already damaged is left as it was and is
still reported where it was damaged; an incident quoting a row's hash follows the new hash."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from safeclass.store import event_log
from safeclass.store.db import alembic_config, make_session_factory, upgrade
from safeclass.store.models import Incident, IncidentSource, LessonEventRecord
from safeclass.store.types import UTCDateTime
from tests.store import records

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_old_events = sa.table(
    "lesson_events",
    sa.column("lesson_id", sa.Integer()),
    sa.column("seq", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("type", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("data", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _old_hash(prev: str, lesson_id: int, seq: int, at: datetime, data: dict[str, Any]) -> str:
    """The row hash as written before 0009 (covering the data itself)."""
    body = json.dumps(
        {
            "lesson_id": lesson_id,
            "seq": seq,
            "at": at.isoformat(),
            "type": data["type"],
            "actor": "pa",
            "data": data,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def _chat(message_id: int, text: str, at: datetime) -> dict[str, Any]:
    return {
        "type": "chat_sent",
        "at": at.isoformat().replace("+00:00", "Z"),
        "message_id": message_id,
        "pid": "pa",
        "person": {"role": "pupil", "id": "1"},
        "display_name": "Amy Adams",
        "to": "class",
        "text": text,
    }


def _write_old_log(session: Session, lesson_id: int) -> list[str]:
    prev = "0" * 64
    hashes = []
    for seq in (1, 2, 3):
        at = T0 + timedelta(minutes=seq)
        data = _chat(seq, f"message {seq}", at)
        row_hash = _old_hash(prev, lesson_id, seq, at, data)
        session.execute(
            sa.insert(_old_events).values(
                lesson_id=lesson_id,
                seq=seq,
                at=at,
                type="chat_sent",
                actor="pa",
                data=data,
                prev_hash=prev,
                hash=row_hash,
            )
        )
        hashes.append(row_hash)
        prev = row_hash
    return hashes


def test_0009_reseals_sound_logs_and_leaves_damaged_ones_showing_the_damage(
    any_engine: Engine,
) -> None:
    command.downgrade(alembic_config(any_engine), "0008")
    factory = make_session_factory(any_engine)
    with factory() as session:
        trust = records.trust(session)
        school = records.school(session, trust)
        host = records.staff(session, trust)
        sound = records.lesson(session, school, host, []).id
        damaged = records.lesson(session, school, host, []).id
        old_hashes = _write_old_log(session, sound)
        _write_old_log(session, damaged)
        session.execute(
            sa.update(_old_events)
            .where(_old_events.c.lesson_id == damaged, _old_events.c.seq == 2)
            .values(data=_chat(2, "changed after it was written", T0 + timedelta(minutes=2)))
        )
        session.add(
            Incident(
                school_id=school.id,
                lesson_id=sound,
                lesson_title="Fractions",
                source=IncidentSource.STAFF_REPORT,
                occurred_at=T0,
                log_hash=old_hashes[-1],
            )
        )
        session.commit()

    upgrade(any_engine)

    with factory() as session:
        assert event_log.verify(session, sound).ok
        report = event_log.verify(session, damaged)
        assert (report.broken_at_seq, report.problem) == (2, "its contents were changed")
        rows = {
            row.lesson_id: row
            for row in session.scalars(select(LessonEventRecord).where(LessonEventRecord.seq == 3))
        }
        assert rows[sound].data_digest is not None
        assert rows[damaged].data_digest is None
        assert session.scalar(select(Incident.log_hash)) == rows[sound].hash
        assert [e.text for e in event_log.load(session, sound)] == [  # type: ignore[union-attr]
            "message 1",
            "message 2",
            "message 3",
        ]
        # The re-sealed log can now lose its chat on schedule and still verify.
        ids = list(session.scalars(select(LessonEventRecord.id)))
        event_log.redact(session, ids, at=T0 + timedelta(days=91))
        session.commit()
        assert event_log.verify(session, sound).ok
        report = event_log.verify(session, damaged)
        assert report.broken_at_seq == 1
        assert report.problem is not None
        assert "already damaged" in report.problem

    # Down again: the sound log is sealed the old way (what it says now, chat deleted).
    command.downgrade(alembic_config(any_engine), "0008")
    with factory() as session:
        old_rows = session.execute(
            sa.select(_old_events).where(_old_events.c.lesson_id == sound).order_by("seq")
        ).all()
    prev = "0" * 64
    for row in old_rows:
        assert row.prev_hash == prev
        body = json.dumps(
            {
                "lesson_id": row.lesson_id,
                "seq": row.seq,
                "at": row.at.isoformat(),
                "type": row.type,
                "actor": row.actor,
                "data": row.data,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        assert row.hash == hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()
        prev = row.hash
    upgrade(any_engine)
