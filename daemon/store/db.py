"""Persistence: the queries over passages, OCR reads, the outbox and the access lists.

Tables live in :mod:`daemon.store.tables`; every query is SQLAlchemy Core (no ORM). SQLite
by default (pragmas in :mod:`daemon.store.sqlite`); any SQLAlchemy URL works the same way
(PostgreSQL through ``postgresql+psycopg://``), no dialect-specific SQL elsewhere. Writes
come from one thread (the recorder; ``gatecam allow`` from its own short-lived process);
reads from any. A SQLite file that is really corrupt at start is moved aside and a new one
started (:mod:`daemon.store.recovery`, :attr:`Store.recovery`); any other error stays a
:class:`~daemon.errors.StorageError`. The schema is brought to HEAD on open (migrate.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine, Row, make_url
from sqlalchemy.exc import DatabaseError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from daemon.domain import Passage, PlateRead
from daemon.errors import StorageError
from daemon.store import accesslist
from daemon.store.migrate import ensure_schema
from daemon.store.records import MQTT, AccessEntry, OutboxMessage, PendingMessage
from daemon.store.recovery import is_corrupt, move_aside, probe, sqlite_file
from daemon.store.sqlite import SYNCHRONOUS, create_group_writable, sqlite_pragmas
from daemon.store.tables import (
    outbox,
    passage_from_row,
    passage_values,
    passages,
    read_values,
    reads,
)

log = logging.getLogger(__name__)

def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """The database: the SQLite pragmas, the schema brought to HEAD on open
    (:mod:`daemon.store.migrate`; ``schema`` says what changed) and every query gatecam needs."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 5000,
        clock: Callable[[], datetime] = _utcnow,
        synchronous: str = "FULL",
    ) -> None:
        """Open (and create or upgrade if needed) the database at a SQLAlchemy ``url``.

        A corrupt SQLite file is moved aside and replaced (module docstring); a schema newer
        than this code, or any other failure, raises :class:`StorageError`.
        """
        self._clock = clock
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
        self._synchronous = synchronous
        self.recovery: dict[str, str] | None = None
        """Set when a corrupt database was moved aside at start: ``moved_to``, ``error``, ``at``."""
        shown = url if "@" not in url else "<url with credentials>"
        try:
            parsed = make_url(url)
            path = sqlite_file(parsed)
            # Probe first, read-only and immutable: a failed open through the engine would
            # let SQLite delete the -wal/-shm files on close, and they belong to the copy.
            bad = probe(path) if path is not None else None
            if path is not None and bad is not None:
                self.recovery = move_aside(path, bad, self._clock())
            try:
                self.engine: Engine = self._open(parsed, busy_timeout_ms)
            except DatabaseError as exc:
                if path is None or self.recovery is not None or not is_corrupt(exc.orig):
                    raise
                self.recovery = move_aside(path, exc.orig, self._clock())
                self.engine = self._open(parsed, busy_timeout_ms)
        except StorageError:
            raise
        except PermissionError as exc:
            raise StorageError(
                f"cannot open the database {exc.filename or url}: permission denied (the "
                "service's files belong to the group gatecam: sudo usermod -aG gatecam $USER, "
                "then log in again)") from exc
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"cannot open the database {shown}: {exc}") from exc
        log.debug("store open: %s", self.shown_url)

    def _open(self, parsed: URL, busy_timeout_ms: int) -> Engine:
        """The engine for ``parsed``, with SQLite pragmas, its schema brought to HEAD."""
        kwargs: dict[str, Any] = {}
        self._sqlite = parsed.get_backend_name() == "sqlite"
        if self._sqlite:
            db = parsed.database or ""
            if db in ("", ":memory:") or "mode=memory" in str(parsed.query):
                # One shared connection, or each thread would see its own empty database.
                kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
            elif not db.startswith("file:"):
                create_group_writable(Path(db).expanduser())
        engine = create_engine(parsed, **kwargs)
        if self._sqlite:
            event.listen(engine, "connect", sqlite_pragmas(busy_timeout_ms, self._synchronous))
        self.engine = engine
        self.shown_url = parsed.render_as_string(hide_password=True)
        try:
            self.schema = ensure_schema(engine, self.shown_url)
        except BaseException:
            engine.dispose()  # no open handle on a file that may be moved aside
            raise
        return engine

    # -- writes (one writer thread) --
    def record_passage(
        self,
        passage: Passage,
        reads: Sequence[PlateRead],
        messages: Sequence[OutboxMessage],
    ) -> None:
        """Insert the passage, its reads and its outbox rows in ONE transaction (all or nothing)."""
        self.record_passages([(passage, reads, messages)])

    def record_passages(
        self, batch: Sequence[tuple[Passage, Sequence[PlateRead], Sequence[OutboxMessage]]]
    ) -> None:
        """Several passages with their reads and outbox rows in ONE transaction (group commit:
        one fsync for a burst); outbox ids follow the batch order.

        Executemany inserts: this is the writer's hot path (about a third of the CPU per
        passage, measured with scripts/bench_delivery.py).
        """
        now = self._clock()
        read_rows = [read_values(r, p.event_id, now) for p, rs, _ in batch for r in rs]
        outbox_rows = [
            {"event_id": p.event_id, "topic": m[0], "payload": m[1], "retain": m[2],
             "created_at": now, "attempts": 0, "target": m[3] if len(m) > 3 else MQTT}
            for p, _, messages in batch for m in messages
        ]
        with self.engine.begin() as conn:
            conn.execute(insert(passages), [passage_values(p) for p, _, _ in batch])
            if read_rows:
                conn.execute(insert(reads), read_rows)
            if outbox_rows:  # one statement in list order: ids ascend in publication order
                conn.execute(insert(outbox), outbox_rows)

    def record_read(self, read: PlateRead, event_id: str) -> None:
        """Insert one OCR read on its own (reads of passages not (yet) recorded)."""
        with self.engine.begin() as conn:
            conn.execute(insert(reads), read_values(read, event_id, self._clock()))

    def mark_delivered(self, outbox_ids: Iterable[int], at: datetime) -> int:
        """Stamp outbox rows delivered (PUBACK received); returns how many changed."""
        ids = sorted(set(outbox_ids))
        if not ids:
            return 0
        with self.engine.begin() as conn:
            res = conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids), outbox.c.delivered_at.is_(None))
                .values(delivered_at=at)
            )
            return int(res.rowcount or 0)

    def bump_attempts(self, outbox_ids: Iterable[int]) -> None:
        """Count one more publish attempt for each row."""
        ids = sorted(set(outbox_ids))
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(attempts=outbox.c.attempts + 1)
            )

    def apply_delivery(
        self, attempted: Iterable[int], delivered: Iterable[int], at: datetime
    ) -> None:
        """Attempt counts and delivery marks in one transaction (the publisher's batches)."""
        att, done = sorted(attempted), sorted(set(delivered))
        if not att and not done:
            return
        with self.engine.begin() as conn:  # hot path, once per PUBACK batch
            by_count: dict[int, list[int]] = {}
            for i in sorted(set(att)):  # a row published twice in a batch counts twice
                by_count.setdefault(att.count(i), []).append(i)
            for n, ids in by_count.items():
                conn.execute(update(outbox).where(outbox.c.id.in_(ids))
                             .values(attempts=outbox.c.attempts + n))
            if done:
                conn.execute(update(outbox)
                             .where(outbox.c.id.in_(done), outbox.c.delivered_at.is_(None))
                             .values(delivered_at=at))

    def purge_before(self, cutoff: datetime) -> int:
        """Retention: delete passages captured before ``cutoff`` with their delivered outbox
        rows and reads; a passage with an undelivered message is kept, with its reads. Reads
        older than ``cutoff`` of no stored passage go too. Returns passages deleted.
        """
        with self.engine.begin() as conn:
            undelivered = select(outbox.c.event_id).where(outbox.c.delivered_at.is_(None))
            old = select(passages.c.event_id).where(
                passages.c.captured_at < cutoff, passages.c.event_id.not_in(undelivered)
            )
            ids = list(conn.scalars(old))
            self._delete_passages(conn, ids)
            conn.execute(delete(reads).where(
                reads.c.created_at < cutoff,
                reads.c.event_id.not_in(select(passages.c.event_id)),
            ))
            return len(ids)

    def drop_undelivered(self, before: datetime | None, keep: int | None) -> list[str]:
        """Give up delivering: delete the outbox rows of passages with an undelivered message
        captured before ``before``, and of all but the ``keep`` newest of them. The passages
        and their reads stay (ordinary retention applies to them now). Returns the event ids,
        oldest first."""
        pending = select(outbox.c.event_id).where(outbox.c.delivered_at.is_(None))
        q = (select(passages.c.event_id, passages.c.captured_at)
             .where(passages.c.event_id.in_(pending))
             .order_by(passages.c.captured_at.desc(), passages.c.event_id.desc()))
        with self.engine.begin() as conn:
            doomed = [
                event_id for i, (event_id, at) in enumerate(conn.execute(q))
                if (keep is not None and i >= keep) or (before is not None and at < before)
            ]
            for chunk in (doomed[i : i + 500] for i in range(0, len(doomed), 500)):
                conn.execute(delete(outbox).where(outbox.c.event_id.in_(chunk)))
        return doomed[::-1]

    def purge_oldest(self, n: int) -> int:
        """Retention by size: delete the ``n`` oldest fully delivered passages; returns how many."""
        with self.engine.begin() as conn:
            undelivered = select(outbox.c.event_id).where(outbox.c.delivered_at.is_(None))
            ids = list(conn.scalars(
                select(passages.c.event_id)
                .where(passages.c.event_id.not_in(undelivered))
                .order_by(passages.c.captured_at, passages.c.event_id)
                .limit(n)
            ))
            self._delete_passages(conn, ids)
            return len(ids)

    @staticmethod
    def _delete_passages(conn: Connection, ids: Sequence[str]) -> None:
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            conn.execute(delete(outbox).where(outbox.c.event_id.in_(chunk)))
            conn.execute(delete(reads).where(reads.c.event_id.in_(chunk)))
            conn.execute(delete(passages).where(passages.c.event_id.in_(chunk)))

    def used_bytes(self) -> int | None:
        """Bytes the SQLite database really uses (pages minus free pages); None elsewhere."""
        if not self._sqlite:
            return None
        with self.engine.connect() as conn:
            pages = int(conn.execute(text("PRAGMA page_count")).scalar() or 0)
            free = int(conn.execute(text("PRAGMA freelist_count")).scalar() or 0)
            size = int(conn.execute(text("PRAGMA page_size")).scalar() or 0)
        return (pages - free) * size

    # -- access lists (gatecam allow, the operator page; read by the recorder): accesslist.py
    def access_add(self, plate: str, kind: str, note: str | None = None) -> bool:
        """Put ``plate`` (normalised) on a list, always valid on every lane; False when it was
        there already (a note given replaces the old one)."""
        with self.engine.begin() as conn:
            return accesslist.add(conn, plate, kind, note, self._clock())

    def access_put(self, entry: AccessEntry, *, overwrite: bool = True) -> bool:
        """Store a whole entry (owner, window, scope); True when new, False when it existed
        (replaced, or left as it was without ``overwrite``)."""
        with self.engine.begin() as conn:
            return accesslist.put(conn, entry, self._clock(), overwrite=overwrite)

    def access_put_all(self, entries: Iterable[AccessEntry]) -> int:
        """:meth:`access_put` of each entry, all in one transaction; how many were new."""
        with self.engine.begin() as conn:
            return sum(accesslist.put(conn, e, self._clock()) for e in entries)

    def access_edit(self, plate: str, kind: str, changes: Mapping[str, Any]) -> bool:
        """Change fields of one entry (``accesslist.EDITABLE``); False when it is not listed."""
        with self.engine.begin() as conn:
            return accesslist.edit(conn, plate, kind, changes)

    def access_remove(self, plate: str, kind: str | None = None) -> int:
        """Take ``plate`` off one list (or both); returns entries removed."""
        with self.engine.begin() as conn:
            return accesslist.remove(conn, plate, kind)

    def access_replace(self, entries: Iterable[AccessEntry]) -> int:
        """Replace both lists with ``entries`` in one transaction."""
        with self.engine.begin() as conn:
            return accesslist.replace(conn, entries, self._clock())

    def access_entries(self) -> list[AccessEntry]:
        """Every list entry, deny first, then by plate."""
        with self.engine.connect() as conn:
            return accesslist.entries(conn)

    # -- reads (any thread) --
    def pending_outbox(self, limit: int = 100, target: str = MQTT) -> list[PendingMessage]:
        """Undelivered outbox rows of one target, oldest first (publication order)."""
        with self.engine.connect() as conn:  # prebuilt statement: this is the hot path
            rows = conn.execute(_PENDING, {"limit": limit, "target": target})
            return [PendingMessage(*row) for row in rows]

    def outbox_delivered_count(self) -> int:
        """Rows delivered so far (for status and tests)."""
        return self._outbox_count(delivered=True)

    def outbox_backlog(self) -> int:
        """Rows not delivered yet (metrics, /healthz)."""
        return self._outbox_count(delivered=False)

    def _outbox_count(self, *, delivered: bool) -> int:
        at = outbox.c.delivered_at
        q = select(func.count()).select_from(outbox).where(
            at.is_not(None) if delivered else at.is_(None)
        )
        with self.engine.connect() as conn:
            return int(conn.scalar(q) or 0)

    def recent_passages(
        self, limit: int = 20, camera: str | None = None, plate: str | None = None
    ) -> list[dict[str, Any]]:
        """Latest passages first, as event dicts (the MQTT payload shape, JSON-ready)."""
        return [p.as_event() for p in self.recent_passage_objects(limit, camera, plate)]

    def recent_passage_objects(
        self, limit: int = 20, camera: str | None = None, plate: str | None = None
    ) -> list[Passage]:
        """Latest passages first, as domain objects."""
        q = select(passages).order_by(passages.c.captured_at.desc(), passages.c.event_id)
        if camera is not None:
            q = q.where(passages.c.camera == camera)
        if plate is not None:
            q = q.where(passages.c.plate == plate)
        with self.engine.connect() as conn:
            return [passage_from_row(row) for row in conn.execute(q.limit(limit))]

    def reads_for(self, event_id: str) -> list[Row[Any]]:
        """The reads recorded for one passage, in insertion order: rows of every
        :data:`daemon.store.tables.reads` column (``row.ok``, ``row.created_at``...)."""
        q = select(reads).where(reads.c.event_id == event_id).order_by(reads.c.id)
        with self.engine.connect() as conn:
            return list(conn.execute(q))

    def calls_since(self, since: datetime) -> int:
        """OCR reads that sent a request since ``since`` (a retried candidate counts once)."""
        q = select(func.count()).where(reads.c.called.is_(True), reads.c.created_at >= since)
        with self.engine.connect() as conn:
            return int(conn.scalar(q) or 0)

    def passage_count(self) -> int:
        """Number of passages stored."""
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(passages)) or 0)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


_o, _p = outbox.c, passages.c
_PENDING = (
    select(_o.id, _o.event_id, _o.topic, _o.payload, _o.retain, _o.created_at, _o.attempts,
           _p.captured_at)
    .join_from(outbox, passages, _p.event_id == _o.event_id)
    .where(_o.target == bindparam("target"), _o.delivered_at.is_(None))
    .order_by(_o.id)
    .limit(bindparam("limit"))
)
"""Undelivered rows oldest first. Built once: building this select on every call cost
about 4x its execution (the publisher runs it after every PUBACK; bench_delivery.py)."""
