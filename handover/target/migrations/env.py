"""Alembic environment, driven from :func:`handover.target.migrate.alembic_config`.

The caller passes an open SQLAlchemy connection in ``config.attributes["connection"]``; there is no
``alembic.ini`` and no URL here. Offline (``--sql``) mode is not supported: the target is always a live database.
"""

from __future__ import annotations

from alembic import context

from handover.target.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI
    raise RuntimeError("run migrations through handover: handover db upgrade --db URL")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
