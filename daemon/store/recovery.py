"""A corrupt SQLite database at start: recognise it, move it aside, say so.

Only a SQLite file that SQLite itself calls corrupt ("file is not a database",
"database disk image is malformed") qualifies; a permission error, a missing folder
or any PostgreSQL error never does (the start fails with a StorageError as before).

The file is first probed read-only and immutable: an open through the engine that
fails lets SQLite delete the ``-wal``/``-shm`` files when it closes, and they belong
with the copy (the last commits may be in the WAL). The copy is named
``<name>.corrupt-<UTC yyyymmddThhmmssZ>`` with its side files beside it; an ALERT is
logged and :func:`move_aside` returns the record the storage status carries.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL

from daemon.domain import utc_iso

log = logging.getLogger(__name__)

CORRUPT_CODES = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
"""sqlite3 error names of a file that is not (or no longer) a readable database."""

SIDE_FILES = ("", "-wal", "-shm", "-journal")


def sqlite_file(parsed: URL) -> Path | None:
    """The file of a SQLite URL naming a plain path (not memory, not a ``file:`` URI)."""
    if parsed.get_backend_name() != "sqlite":
        return None
    db = parsed.database or ""
    if db in ("", ":memory:") or db.startswith("file:") or "mode=memory" in str(parsed.query):
        return None
    return Path(db).expanduser()


def is_corrupt(exc: BaseException | None) -> bool:
    """True for SQLite's "file is not a database" / "malformed", nothing else."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    text = str(exc)
    return (getattr(exc, "sqlite_errorname", "") in CORRUPT_CODES
            or "file is not a database" in text or "malformed" in text)


def probe(path: Path) -> sqlite3.DatabaseError | None:
    """The corruption error of an existing SQLite file, read without touching it; None when
    it is fine, absent, or fails otherwise (the real open reports that)."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        return exc if is_corrupt(exc) else None
    finally:
        conn.close()
    return None


def move_aside(path: Path, error: BaseException | None, now: datetime) -> dict[str, str]:
    """Rename a corrupt database and its side files with a timestamp; log an ALERT.

    Returns ``{"moved_to", "error", "at"}`` for the storage status.
    """
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():  # twice in one second: never overwrite the first copy
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}.{n}")
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    log.error("ALERT: database %s is corrupt (%s): moved to %s and a new empty database "
              "started; events are published and recorded, the history is in the moved file",
              path, error, target)
    return {"moved_to": str(target), "error": str(error), "at": utc_iso(now)}
