"""The access lists' queries (table ``access_list``): entries read, put, edited, removed and
replaced, each in one transaction. :class:`~daemon.store.db.Store`'s ``access_*`` methods
call these; ``gatecam allow``, the operator page and the access decision go through them.

A (plate, list) pair is one entry (the table's unique constraint); plates arrive
normalised and checked by the caller (:mod:`daemon.store.listfile` parses the text forms).
An entry's cameras are stored space-separated (camera ids hold no spaces), NULL for all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from daemon.store.records import ACCESS_KINDS, DIRECTIONS, AccessEntry
from daemon.store.tables import access_list

EDITABLE = ("note", "owner", "valid_from", "valid_until", "cameras", "direction")
"""The fields :func:`edit` may change (the plate and its list identify the entry)."""

_A = access_list.c


def check(e: AccessEntry) -> None:
    """ValueError when ``e`` could not be stored as it is (the parsers say it better first)."""
    if e.kind not in ACCESS_KINDS:
        raise ValueError(f"list {e.kind!r} is not one of {ACCESS_KINDS}")
    if e.direction not in DIRECTIONS:
        raise ValueError(f"direction {e.direction!r} is not one of {DIRECTIONS}")
    if e.valid_from and e.valid_until and e.valid_from > e.valid_until:
        raise ValueError(f"{e.plate}: valid_from is after valid_until")


def _values(e: AccessEntry) -> dict[str, Any]:
    return {"plate": e.plate, "kind": e.kind, "note": e.note, "owner": e.owner,
            "valid_from": e.valid_from, "valid_until": e.valid_until,
            "cameras": " ".join(e.cameras) or None, "direction": e.direction}


def entries(conn: Connection) -> list[AccessEntry]:
    """Every entry, deny first, then by plate."""
    rows = conn.execute(select(_A.plate, _A.kind, _A.note, _A.created_at, _A.owner,
                               _A.valid_from, _A.valid_until, _A.cameras, _A.direction)
                        .order_by(_A.kind.desc(), _A.plate))
    return [AccessEntry(r.plate, r.kind, r.note, r.created_at, r.owner, r.valid_from,
                        r.valid_until, tuple((r.cameras or "").split()), r.direction or "any")
            for r in rows]


def add(conn: Connection, plate: str, kind: str, note: str | None, now: datetime) -> bool:
    """An always-valid, all-lanes entry; False when (plate, kind) was there already (a
    note given replaces its note, nothing else changes)."""
    check(AccessEntry(plate, kind))
    found = conn.scalar(select(_A.id).where(_A.plate == plate, _A.kind == kind))
    if found is not None:
        if note is not None:
            conn.execute(update(access_list).where(_A.id == found).values(note=note))
        return False
    conn.execute(insert(access_list).values(plate=plate, kind=kind, note=note, created_at=now))
    return True


def put(conn: Connection, e: AccessEntry, now: datetime, *, overwrite: bool = True) -> bool:
    """Store ``e`` whole: a new entry (True), or (``overwrite``) every field of the existing
    one (False; without ``overwrite`` the existing one is left as it is)."""
    check(e)
    found = conn.scalar(select(_A.id).where(_A.plate == e.plate, _A.kind == e.kind))
    if found is None:
        conn.execute(insert(access_list).values(**_values(e), created_at=now))
        return True
    if overwrite:
        conn.execute(update(access_list).where(_A.id == found).values(**_values(e)))
    return False


def edit(conn: Connection, plate: str, kind: str, changes: Mapping[str, Any]) -> bool:
    """Change some fields of one entry (None clears a field); False when there is none."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    found = conn.execute(select(access_list).where(_A.plate == plate, _A.kind == kind)).first()
    if found is None:
        return False
    old = {k: getattr(found, k) for k in EDITABLE}
    old["cameras"] = tuple((old["cameras"] or "").split())
    new = AccessEntry(plate, kind, **{**old, **changes})
    check(new)
    conn.execute(update(access_list).where(_A.id == found.id).values(**_values(new)))
    return True


def remove(conn: Connection, plate: str, kind: str | None) -> int:
    """Take ``plate`` off one list (or both when ``kind`` is None); entries removed."""
    q = delete(access_list).where(_A.plate == plate)
    if kind is not None:
        q = q.where(_A.kind == kind)
    return int(conn.execute(q).rowcount or 0)


def replace(conn: Connection, new: Iterable[AccessEntry], now: datetime) -> int:
    """Both lists become ``new`` (the last of a repeated (plate, list) wins); its size."""
    unique = {(e.plate, e.kind): e for e in new}
    for e in unique.values():
        check(e)
    conn.execute(delete(access_list))
    if unique:
        conn.execute(insert(access_list),
                     [{**_values(e), "created_at": now} for e in unique.values()])
    return len(unique)
