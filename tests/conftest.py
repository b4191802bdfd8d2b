"""Shared fixtures: a real database for every test that needs one.

SQLite (a file in the test's own folder) always. PostgreSQL too when SAFECLASS_TEST_POSTGRES_URL
names a server where the test user may create databases (scripts/test starts one): each test that
asks for `any_engine` then runs once per database, each time on a database of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from safeclass.store.db import make_engine, make_session_factory, upgrade

POSTGRES_URL = os.environ.get("SAFECLASS_TEST_POSTGRES_URL", "")


def _sqlite_engine(folder: Path) -> Engine:
    engine = make_engine(f"sqlite:///{folder / 'safeclass-test.db'}")
    upgrade(engine)
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = _sqlite_engine(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = _sqlite_engine(tmp_path)
        yield engine
        engine.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("SAFECLASS_TEST_POSTGRES_URL is not set (scripts/test sets it)")
    name = f"safeclass_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(
        make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    )
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def any_session_factory(any_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(any_engine)
