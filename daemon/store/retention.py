"""Retention: keep an SD card from filling up — database rows and snapshot files, by age and bytes.

Policy (``store.retention``):
- rows: passages (with their reads and delivered outbox rows) captured more than
  ``max_age_days`` ago go; then, on SQLite with ``db_max_bytes`` set, the oldest
  delivered passages go in batches until the used bytes (pages minus free pages)
  fit. A passage with an undelivered message is never deleted. Freed pages are
  reused by SQLite; the file itself is not shrunk (no VACUUM on a running gate).
  Reads of a kept passage are kept with it.
- undelivered: a passage whose messages were never delivered (broker away) is kept for
  delivery only while younger than ``undelivered_max_age_days`` and among the
  ``undelivered_max_count`` newest such passages. Beyond that its outbox rows are
  deleted (delivery given up: an ALERT names them, ``undelivered_dropped`` counts them);
  the passage and its reads stay, under the rules above.
- snapshots: files older than ``snapshots_max_age_days`` go, then the oldest until
  the total is at most ``snapshots_max_bytes``; empty day folders are removed.

Row deletes are writes, so they run as a job in the recorder's writer thread;
file deletes run in the ``retention`` thread. :func:`plan_snapshot_deletions` is
pure (times are arguments).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.config.models import RetentionConfig
from daemon.store.db import Store
from daemon.store.recorder import Recorder

log = logging.getLogger(__name__)

BATCH = 500
"""Passages deleted per step when trimming by size."""


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """One file under the snapshot root."""

    path: Path
    size: int
    mtime: float
    """Seconds since the epoch."""


def plan_snapshot_deletions(
    files: Sequence[SnapshotFile], now: float, max_age_s: float, max_bytes: int | None
) -> list[Path]:
    """Files to delete: older than ``max_age_s``, then oldest first until ``max_bytes`` fit."""
    doomed: list[Path] = []
    kept: list[SnapshotFile] = []
    for f in sorted(files, key=lambda f: (f.mtime, str(f.path))):
        (doomed.append(f.path) if now - f.mtime > max_age_s else kept.append(f))
    if max_bytes is not None:
        total = sum(f.size for f in kept)
        for f in kept:
            if total <= max_bytes:
                break
            doomed.append(f.path)
            total -= f.size
    return doomed


def scan_snapshots(root: Path) -> list[SnapshotFile]:
    """Every finished snapshot file under ``root`` (``.tmp`` files in progress are skipped)."""
    out: list[SnapshotFile] = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if name.endswith(".tmp"):
                continue
            p = Path(dirpath) / name
            try:
                st = p.stat()
            except OSError:  # deleted meanwhile
                continue
            out.append(SnapshotFile(p, st.st_size, st.st_mtime))
    return out


def prune_snapshots(root: Path, cfg: RetentionConfig, now: float) -> tuple[int, int]:
    """Apply the snapshot policy; returns (files deleted, bytes freed)."""
    files = scan_snapshots(root)
    sizes = {f.path: f.size for f in files}
    plan = plan_snapshot_deletions(
        files, now, cfg.snapshots_max_age_days * 86400, cfg.snapshots_max_bytes
    )
    # Folder ages before our own deletes touch them: a folder the recorder wrote to in the
    # last hour is left alone (it may be about to receive the next snapshot).
    idle_dirs = []
    for dirpath, _dirs, _names in os.walk(root):
        d = Path(dirpath)
        try:
            if d != root and now - d.stat().st_mtime > 3600:
                idle_dirs.append(d)
        except OSError:
            continue
    deleted = freed = 0
    for path in plan:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted += 1
        freed += sizes.get(path, 0)
    for d in sorted(idle_dirs, key=lambda p: -len(p.parts)):  # deepest first
        with contextlib.suppress(OSError):
            d.rmdir()  # only succeeds when empty
    return deleted, freed


@dataclass(slots=True)
class RowStats:
    """What row retention did so far (the ``retention`` thread's counters)."""

    undelivered_dropped: int = 0
    """Passages whose undelivered messages were given up (deleted from the outbox)."""


def give_up_undelivered(store: Store, cfg: RetentionConfig, now: datetime) -> list[str]:
    """Bound the undelivered passages (call from the writer thread); ALERT for any dropped."""
    if cfg.undelivered_max_age_days is None and cfg.undelivered_max_count is None:
        return []
    before = (None if cfg.undelivered_max_age_days is None
              else now - timedelta(days=cfg.undelivered_max_age_days))
    dropped = store.drop_undelivered(before, cfg.undelivered_max_count)
    if dropped:
        shown = ", ".join(dropped[:5]) + (", ..." if len(dropped) > 5 else "")
        log.error("ALERT: retention: %d undelivered passage(s) given up (older than %s days or "
                  "beyond the newest %s): their messages are deleted from the outbox, never "
                  "to be published; the passages stay in the database: %s", len(dropped),
                  cfg.undelivered_max_age_days, cfg.undelivered_max_count, shown)
    return dropped


def prune_rows(
    store: Store, cfg: RetentionConfig, now: datetime, stats: RowStats | None = None
) -> int:
    """Apply the row policy (call from the writer thread); returns passages deleted."""
    dropped = give_up_undelivered(store, cfg, now)
    if stats is not None:
        stats.undelivered_dropped += len(dropped)
    deleted = store.purge_before(now - timedelta(days=cfg.max_age_days))
    if cfg.db_max_bytes is None:
        return deleted
    for _ in range(10_000):  # bounded: each step deletes BATCH rows or stops
        used = store.used_bytes()
        if used is None or used <= cfg.db_max_bytes:
            break
        step = store.purge_oldest(BATCH)
        deleted += step
        if step == 0:
            log.warning("retention: database uses %d bytes > %d but nothing more is deletable "
                        "(undelivered messages)", used, cfg.db_max_bytes)
            break
    return deleted


class Retention:
    """The ``retention`` thread: a pass at start, then every ``interval_s``."""

    def __init__(
        self,
        cfg: RetentionConfig,
        store: Store,
        recorder: Recorder,
        snapshots: Path | None,
        stop: threading.Event,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Nothing runs until :meth:`start`."""
        self._cfg = cfg
        self._store = store
        self._recorder = recorder
        self._snapshots = snapshots
        self._stop = stop
        self._clock = clock
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self.rows_deleted = 0
        self.rows = RowStats()
        self.files_deleted = 0
        self.bytes_freed = 0
        self.last_error: str | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the thread after the stop event is set."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self) -> None:
        """One pass: rows through the writer, snapshots here. Errors are logged, never raised."""
        now = self._clock()
        self._recorder.submit_job("retention of rows", self._rows_job(now))
        if self._snapshots is not None and self._snapshots.is_dir():
            try:
                files, freed = prune_snapshots(self._snapshots, self._cfg, now.timestamp())
            except OSError as exc:
                self.last_error = str(exc)
                log.error("retention: snapshots not pruned: %s", exc)
                return
            self.files_deleted += files
            self.bytes_freed += freed
            if files:
                log.info("retention: %d snapshot file(s) deleted, %d bytes freed", files, freed)
            self.last_error = None

    def _rows_job(self, now: datetime) -> Callable[[], None]:
        def job() -> None:
            n = prune_rows(self._store, self._cfg, now, self.rows)
            self.rows_deleted += n
            if n:
                log.info("retention: %d passage(s) deleted", n)

        return job

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._cfg.interval_s)
