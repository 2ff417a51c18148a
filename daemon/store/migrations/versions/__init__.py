"""Alembic revisions, one file each (loaded by path by Alembic, not imported as modules)."""
