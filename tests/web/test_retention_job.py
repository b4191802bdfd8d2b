"""Retention inside `serve`: it runs at start-up, in the background, without holding up requests."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.retention import RetentionSchedule
from safeclass.config import Config
from safeclass.store.models import AuditEntry
from safeclass.timeutil import utc_now
from safeclass.web.app import create_app
from tests.web.conftest import World


def _sign_ins(session_factory: sessionmaker[Session]) -> list[str]:
    with session_factory() as session:
        return list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.action == "sign_in"))
        )


def test_serve_runs_retention_at_start_up(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    with session_factory() as session:
        session.add(AuditEntry(at=utc_now() - timedelta(days=91), action="sign_in", data={}))
        session.commit()
    app = create_app(config, session_factory=session_factory, retention_every=3600)
    schedule = app.state.retention
    assert isinstance(schedule, RetentionSchedule)

    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        deadline = time.monotonic() + 30
        while schedule.last_report is None and time.monotonic() < deadline:
            time.sleep(0.05)

    assert schedule.last_report is not None
    assert schedule.last_problems == ()
    assert _sign_ins(session_factory) == []


def test_apps_built_without_it_have_no_retention_job(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    assert create_app(config, session_factory=session_factory).state.retention is None
