"""Alembic's environment: migrate on the connection daemon.store.migrate hands over.

No URL, no ini file, no logging set-up here: the caller owns the connection and the logs.
"""

from __future__ import annotations

from alembic import context

from daemon.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
