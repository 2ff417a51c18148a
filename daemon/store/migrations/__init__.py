"""Alembic migrations of gatecam's database, shipped in the package (run by daemon.store.migrate).

A new revision: add ``versions/vNNNN_<what>.py`` with ``revision``, ``down_revision`` and
``upgrade()`` (op.* from Alembic, batch mode for SQLite table changes), change
:mod:`daemon.store.tables` the same way and move :data:`daemon.store.migrate.HEAD` to it;
tests/store/test_migrate.py checks that the upgraded schema equals the tables.
"""
