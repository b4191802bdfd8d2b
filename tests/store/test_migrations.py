"""The migrations: every revision goes up and comes back down cleanly, on SQLite and PostgreSQL,
and the schema they build is exactly the one the models describe."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from safeclass.store.db import alembic_config, upgrade
from safeclass.store.models import Base

MODEL_TABLES = set(Base.metadata.tables)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _revisions_oldest_first(engine: Engine) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(engine))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def _differences(engine: Engine) -> list[Any]:
    """What `alembic revision --autogenerate` would write: nothing, if the models and the
    migrations agree. The options are the ones migrations/env.py runs with."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_as_batch": connection.dialect.name == "sqlite",
            },
        )
        return list(compare_metadata(context, Base.metadata))


def test_the_fixture_database_is_at_the_newest_revision(any_engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config(any_engine))

    assert _current_revision(any_engine) == script.get_current_head()
    assert _tables(any_engine) == MODEL_TABLES


def test_the_migrated_schema_matches_the_models(any_engine: Engine) -> None:
    assert _differences(any_engine) == []


def test_downgrade_to_nothing_then_upgrade_again(any_engine: Engine) -> None:
    config = alembic_config(any_engine)

    command.downgrade(config, "base")

    assert _tables(any_engine) == set()
    assert _current_revision(any_engine) is None

    upgrade(any_engine)

    assert _tables(any_engine) == MODEL_TABLES
    assert _differences(any_engine) == []


def test_each_revision_goes_up_and_down_one_step_at_a_time(any_engine: Engine) -> None:
    """A downgrade that only works from the very top (or a step that leaves something behind)
    fails here, at the revision that is wrong."""
    config = alembic_config(any_engine)
    revisions = _revisions_oldest_first(any_engine)
    assert revisions[0] == "0001"
    command.downgrade(config, "base")

    tables_at: dict[str, set[str]] = {}
    for revision in revisions:
        command.upgrade(config, revision)
        assert _current_revision(any_engine) == revision
        tables_at[revision] = _tables(any_engine)

    for below, revision in reversed(list(zip([None, *revisions], revisions, strict=False))):
        command.downgrade(config, below or "base")
        assert _current_revision(any_engine) == below, f"downgrading {revision}"
        assert _tables(any_engine) == (tables_at[below] if below else set())

    assert tables_at[revisions[-1]] == MODEL_TABLES


def test_upgrading_twice_changes_nothing(any_engine: Engine) -> None:
    """Every command upgrades first, so upgrading an up-to-date database must be harmless."""
    before = _current_revision(any_engine)

    upgrade(any_engine)

    assert _current_revision(any_engine) == before
    assert _tables(any_engine) == MODEL_TABLES
