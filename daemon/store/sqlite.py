"""SQLite specifics of the Store: the pragmas on each connection, the file's mode.

WAL with ``synchronous=FULL`` (a Pi at a gate loses power), a busy timeout, foreign keys
on; a new database file is created 0660 so the service and the operators' group can both
write it and the ``-wal``/``-shm`` files SQLite derives from it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

SYNCHRONOUS = ("FULL", "NORMAL")
"""SQLite ``synchronous`` levels a Store accepts (WAL mode). FULL is the default: NORMAL may
roll the last commits back on a power cut (a Pi at a gate loses power). It costs one WAL
fsync per commit: 0.2 -> 0.45 ms per passage transaction on the dev VM's disk
(``scripts/bench_delivery.py --compare-sync``), nothing next to gate rates; group commit
keeps bursts cheap."""


def create_group_writable(path: Path) -> None:
    """Make the SQLite file (and its folder) if absent, 0660 less the umask: SQLite gives its
    -wal and -shm files the database's mode, so the group gatecam (operators' commands) and
    the service can both write whichever process created them (SQLite alone makes 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o660))


def sqlite_pragmas(busy_timeout_ms: int, synchronous: str) -> Callable[[Any, Any], None]:
    """A connect hook setting gatecam's SQLite pragmas on each new DBAPI connection."""

    def hook(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    return hook
