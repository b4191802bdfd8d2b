"""`safeclass retention run`, as a school's IT admin runs it (or cron does)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from safeclass.actions.retention import RetentionSchedule
from safeclass.cli import app
from safeclass.config import Config
from safeclass.store import event_log
from safeclass.store.db import make_engine, make_session_factory
from safeclass.store.models import AuditEntry, LessonEventRecord, School
from safeclass.timeutil import utc_now
from tests.actions.test_retention import _a_lesson_at
from tests.store import records


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SAFECLASS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SAFECLASS_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    for command in (["trust", "create", "Riverside"], ["school", "add", "Oak Primary"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    return runner


@pytest.fixture
def factory(runner: CliRunner) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(Config.from_env().database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _old_sign_in(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        entry = AuditEntry(at=utc_now() - timedelta(days=91), action="sign_in", data={})
        session.add(entry)
        session.commit()
        return entry.id


def _sign_in_is_there(factory: sessionmaker[Session], entry_id: int) -> bool:
    # By id and action: SQLite may give a deleted row's id to the next new row.
    with factory() as session:
        entry = session.get(AuditEntry, entry_id)
        return entry is not None and entry.action == "sign_in"


def test_a_dry_run_shows_the_counts_and_deletes_nothing(
    runner: CliRunner, factory: sessionmaker[Session]
) -> None:
    entry = _old_sign_in(factory)

    result = runner.invoke(app, ["retention", "run", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "would delete" in result.output
    assert "sign-in records" in result.output
    assert "the whole trust" in result.output
    assert "90 days" in result.output
    assert "dry run: nothing was deleted" in result.output
    assert _sign_in_is_there(factory, entry)


def test_a_run_deletes_what_is_due_and_audits_the_count(
    runner: CliRunner, factory: sessionmaker[Session]
) -> None:
    entry = _old_sign_in(factory)

    result = runner.invoke(app, ["retention", "run"])
    again = runner.invoke(app, ["retention", "run"])

    assert result.exit_code == 0, result.output
    assert "deleted" in result.output
    assert not _sign_in_is_there(factory, entry)
    with factory() as session:
        audited = session.scalars(
            select(AuditEntry.data).where(AuditEntry.action == "retention_deleted")
        ).all()
    assert audited == [{"record_type": "sign_in", "count": 1, "kept_for_days": 90}]
    assert again.exit_code == 0
    assert "Nothing was due for deletion." in again.output


def test_a_part_that_fails_is_an_error_and_the_rest_still_runs(
    runner: CliRunner, factory: sessionmaker[Session]
) -> None:
    entry = _old_sign_in(factory)
    with factory() as session:
        school = session.scalars(select(School)).one()
        host = records.staff(session, school.trust)
        lesson = records.lesson(session, school, host, []).id
        event_log.append(session, lesson, _a_lesson_at(utc_now() - timedelta(days=400)))
        session.execute(
            update(LessonEventRecord)
            .where(LessonEventRecord.seq == 1)
            .values(data={"type": "joined"})
        )
        session.commit()

    result = runner.invoke(app, ["retention", "run"])

    assert result.exit_code == 1
    assert f"Error: Lesson {lesson}'s log cannot be read" in result.output
    assert "Traceback" not in result.output
    assert not _sign_in_is_there(factory, entry)


def test_serve_runs_retention_every_six_hours(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[object] = []
    monkeypatch.setenv("SAFECLASS_MEDIA", "0")
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))

    result = runner.invoke(app, ["serve"])

    assert result.exit_code == 0, result.output
    schedule = served[0].state.retention  # type: ignore[attr-defined]
    assert isinstance(schedule, RetentionSchedule)
    assert schedule.every == 6 * 60 * 60


def test_a_policy_that_cannot_be_read_stops_the_run_with_nothing_deleted(
    runner: CliRunner, factory: sessionmaker[Session]
) -> None:
    entry = _old_sign_in(factory)
    with factory() as session:
        session.scalars(select(School)).one().trust.policy_values = {
            "retention_sign_in_log_days": "ninety"
        }
        session.commit()

    result = runner.invoke(app, ["retention", "run"])

    assert result.exit_code == 1
    assert "Error: Nothing was deleted: " in result.output
    assert "Traceback" not in result.output
    assert _sign_in_is_there(factory, entry)
