"""Retention: lesson logs sealed so that chat can be deleted on schedule, and registers kept on
their own once a lesson's log is deleted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 10:30:00

Each row of a lesson's log gets a random salt and the SHA-256 of its data with that salt, and its
hash is worked out again over that digest instead of the data (see `safeclass.store.event_log`).
Only logs whose chain verifies the old way are re-sealed, so the new chain vouches for exactly what
the old one did; a log that was already damaged keeps its old hashes (digest left empty) and
`safeclass audit verify` still reports it where it was damaged. Incidents that quote the hash of
the newest row they read are given that row's new hash.

The hash functions are copied here, not imported, so that this revision keeps doing what it did
whatever `event_log` becomes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from safeclass.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

GENESIS = "0" * 64

_events = sa.table(
    "lesson_events",
    sa.column("id", sa.Integer()),
    sa.column("lesson_id", sa.Integer()),
    sa.column("seq", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("type", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("data", sa.JSON()),
    sa.column("data_digest", sa.String()),
    sa.column("data_salt", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_incidents = sa.table("incidents", sa.column("log_hash", sa.String()))


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash(prev_hash: str, row: Any, content: dict[str, Any]) -> str:
    body = _canonical(
        {
            "lesson_id": row.lesson_id,
            "seq": row.seq,
            "at": row.at.isoformat(),
            "type": row.type,
            "actor": row.actor,
            **content,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _legacy_hash(prev_hash: str, row: Any) -> str:
    return _hash(prev_hash, row, {"data": row.data})


def _digest(salt: str, data: dict[str, Any]) -> str:
    return hashlib.sha256(f"{salt}\n{_canonical(data)}".encode()).hexdigest()


def _sealed_hash(prev_hash: str, row: Any) -> str | None:
    """The row's hash by the 0009 scheme, or None if its data does not match its digest."""
    if row.data_digest is None:
        return None
    if row.data_salt is not None and _digest(row.data_salt, row.data) != row.data_digest:
        return None
    return _hash(prev_hash, row, {"data_sha256": row.data_digest})


def _chain_holds(rows: Sequence[Any], row_hash: Callable[[str, Any], str | None]) -> bool:
    prev_hash = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        if row.seq != expected_seq or row.prev_hash != prev_hash:
            return False
        if row_hash(prev_hash, row) != row.hash:
            return False
        prev_hash = row.hash
    return True


def _reseal(*, upgrading: bool) -> None:
    connection = op.get_bind()
    lesson_ids = connection.scalars(
        sa.select(_events.c.lesson_id).distinct().order_by(_events.c.lesson_id)
    ).all()
    renamed: dict[str, str] = {}
    for lesson_id in lesson_ids:
        rows = connection.execute(
            sa.select(_events).where(_events.c.lesson_id == lesson_id).order_by(_events.c.seq)
        ).all()
        if not _chain_holds(rows, _legacy_hash if upgrading else _sealed_hash):
            continue  # damaged: left as it is, so that verify still shows where
        prev_hash = GENESIS
        for row in rows:
            if upgrading:
                salt = secrets.token_hex(16)
                digest = _digest(salt, row.data)
                new_hash = _hash(prev_hash, row, {"data_sha256": digest})
                values = {"data_salt": salt, "data_digest": digest}
            else:
                new_hash = _legacy_hash(prev_hash, row)
                values = {}
            connection.execute(
                sa.update(_events)
                .where(_events.c.id == row.id)
                .values(prev_hash=prev_hash, hash=new_hash, **values)
            )
            renamed[row.hash] = new_hash
            prev_hash = new_hash
    for old, new in renamed.items():
        connection.execute(
            sa.update(_incidents).where(_incidents.c.log_hash == old).values(log_hash=new)
        )


def upgrade() -> None:
    with op.batch_alter_table("lesson_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("data_salt", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))
    _reseal(upgrading=True)

    op.create_table(
        "attendance_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("stretches", sa.JSON(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("lesson_ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lessons.id"],
            name=op.f("fk_attendance_records_lesson_id_lessons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_attendance_records_school_id_schools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_records")),
        sa.UniqueConstraint("lesson_id", "person", name=op.f("uq_attendance_records_lesson_id")),
    )
    with op.batch_alter_table("attendance_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attendance_records_school_ended", ["school_id", "lesson_ended_at"], unique=False
        )


def downgrade() -> None:
    # Registers kept on their own cannot go back into logs that were deleted: they go. Logs are
    # sealed the old way again where the new seal holds (a message deleted on schedule stays
    # deleted: its tombstone is what the old seal then covers).
    with op.batch_alter_table("attendance_records", schema=None) as batch_op:
        batch_op.drop_index("ix_attendance_records_school_ended")
    op.drop_table("attendance_records")
    _reseal(upgrading=False)
    with op.batch_alter_table("lesson_events", schema=None) as batch_op:
        batch_op.drop_column("redacted_at")
        batch_op.drop_column("data_salt")
        batch_op.drop_column("data_digest")
