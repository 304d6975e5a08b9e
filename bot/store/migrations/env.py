"""Alembic's environment: migrations run on the connection :func:`bot.store.db.init_schema`
hands over (``config.attributes["connection"]``), inside its transaction."""

from __future__ import annotations

from alembic import context

from bot.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
