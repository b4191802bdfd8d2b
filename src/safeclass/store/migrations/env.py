"""Alembic environment: SafeClass passes its own engine in; there is no alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from safeclass.store.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("Run migrations through 'safeclass db upgrade', which passes the engine in")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
