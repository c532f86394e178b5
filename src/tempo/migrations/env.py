"""Alembic environment: runs on a connection handed over by `tempo.core.db.migrate`."""

from alembic import context

from tempo.migrations import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `tempo migrate`, which supplies the connection")

context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
