"""Schema versions: bring a database to the schema this gatecam expects, or refuse it.

The schema is versioned with Alembic (its ``alembic_version`` table). The revisions
ship inside the package (``daemon/store/migrations/versions``) and ``env.py`` there runs
on the connection handed over from here, so no ``alembic.ini`` is needed at run time.
:func:`ensure_schema` runs when a :class:`~daemon.store.db.Store` opens (daemon start,
every CLI command) and from ``gatecam migrate``.

The baseline revision (0001) is the schema of :mod:`daemon.store.tables` as it stood when
versions began; it adopts the databases made before that (``create_all`` plus an added
``passages.access_reason``) without touching their rows. A database stamped with a
revision this code does not know was written by a newer gatecam and is refused.

Memory: importing Alembic costs about 11 MB of RSS (its DDL layer loads every dialect).
A database already at :data:`HEAD` is recognised with one Core query and Alembic is not
imported at all; only a start that really migrates pays for it (until the next restart).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import column, inspect, select, table
from sqlalchemy.engine import Connection, Engine

from daemon.errors import StorageError

__all__ = ["HEAD", "MIGRATIONS", "VERSION_TABLE", "SchemaChange", "current_revision",
           "ensure_schema"]

log = logging.getLogger(__name__)

HEAD = "0005"
"""The newest revision shipped (tests/store/test_migrate.py checks it is the scripts' head)."""

VERSION_TABLE = "alembic_version"
MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """What :func:`ensure_schema` found and left: revisions before and after (None: none)."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        """True when a migration ran."""
        return self.before != self.after


def current_revision(conn: Connection) -> str | None:
    """The database's schema revision; None when it has no version table (new or pre-0001)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    version = table(VERSION_TABLE, column("version_num"))
    found = conn.scalar(select(version.c.version_num))
    return None if found is None else str(found)


def ensure_schema(engine: Engine, shown_url: str) -> SchemaChange:
    """Upgrade the database behind ``engine`` to :data:`HEAD`; StorageError (one line) when
    it is newer than this code or a migration fails. ``shown_url`` has no password."""
    with engine.connect() as conn:
        before = current_revision(conn)
    if before == HEAD:  # the usual start: no Alembic import (see the module docstring)
        return SchemaChange(before, HEAD)
    _upgrade(engine, before, shown_url)
    log.info("store: schema of %s upgraded from %s to %s",
             shown_url, before or "no version (adopted)", HEAD)
    return SchemaChange(before, HEAD)


def _upgrade(engine: Engine, before: str | None, shown_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    known = {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}
    if before is not None and before not in known:
        raise StorageError(
            f"the database {shown_url} has schema revision {before}, newer than this gatecam "
            f"knows (up to {HEAD}): install the gatecam release that wrote it, or restore a "
            "backup of the database"
        )
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # A revision that rebuilds a table (batch mode) drops the old one: with foreign
            # keys on, that DROP would cascade into outbox rows. Off for the migration only
            # (a no-op inside a transaction, hence before it begins), checked after.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
            if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise StorageError(f"the schema upgrade of {shown_url} broke a foreign key")
        except CommandError as exc:
            raise StorageError(f"cannot upgrade the schema of {shown_url}: {exc}") from exc
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
