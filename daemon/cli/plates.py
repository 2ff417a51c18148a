"""``gatecam plates``: list recorded passages for an operator, filtered by plate, camera and time.

Output is an aligned table by default (times in the machine's local zone, the way an
operator at the gate reads a clock), ``--csv`` for a spreadsheet (UTC ISO 8601, every
column) or ``--json`` for one passage event per line (the MQTT payload shape).

Times for ``--since`` / ``--until`` are either relative to now (``90s``, ``15m``, ``2h``,
``3d``, ``1w``) or ISO 8601 (``2026-11-25``, ``2026-11-25T08:00``, ``...Z``, ``...+08:00``);
an ISO time without an offset is local time. The parsing and formatting below are pure
(the clock and the zone are arguments); only :func:`cmd_plates` touches the database.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.engine import make_url

from daemon.config.models import load_config
from daemon.domain import Passage
from daemon.store.db import Store
from daemon.store.queries import CSV_COLUMNS, csv_rows, find_passages, plate_pattern, write_csv

__all__ = ["CSV_COLUMNS", "cmd_plates", "csv_rows", "parse_when", "plate_pattern", "table",
           "write_csv"]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: datetime, tz: tzinfo) -> datetime:
    """``2h`` (before ``now``) or an ISO 8601 date/time (naive means ``tz``) -> aware UTC.

    Raises ValueError with a message fit for the operator.
    """
    m = _RELATIVE.match(text)
    if m:
        return (now - timedelta(seconds=float(m[1]) * _UNIT_S[m[2].lower()])).astimezone(UTC)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a relative time (30m, 2h, 3d, 1w) nor ISO 8601 "
            "(2026-11-25, 2026-11-25T08:00, 2026-11-25T08:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(UTC)


def _width(text: str) -> int:
    """Terminal columns: CJK characters (the province) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def table(passages: Sequence[Passage], tz: tzinfo) -> str:
    """An aligned table, one passage per line, times in ``tz``; a note when empty."""
    if not passages:
        return "no passages match"
    header = ("time", "camera", "dir", "plate", "colour", "conf", "access", "ocr", "ms",
              "event")
    rows = [header]
    for p in passages:
        flags = " late" if p.late else ""
        rows.append((
            p.captured_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), p.camera, p.direction,
            p.plate or "-", p.color or "-", str(p.confidence), p.access + flags,
            str(p.ocr_calls), str(round(p.latency_ms)), p.event_id[:8],
        ))
    widths = [max(_width(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(_pad(cell, w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    )


def register(sub: Any) -> None:
    """Add ``plates`` to the main parser's subparsers."""
    p = sub.add_parser("plates", help="list recorded passages (filter by plate, camera, time)",
                       description=(__doc__ or "").split("\n\n")[1].replace("``", ""))
    p.add_argument("--config", "-c", required=True, type=Path)
    p.add_argument("--plate", help="plate, any spelling (京A·F0236); * and ? are wildcards")
    p.add_argument("--camera", action="append", help="camera id (repeat for several)")
    p.add_argument("--since", help="from this time: 2h, 30m, 3d or ISO 8601 (local unless Z)")
    p.add_argument("--until", help="up to this time (same forms as --since)")
    p.add_argument("--limit", type=int, default=50, help="newest N passages (0: all; default 50)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV with a header, UTC times")
    fmt.add_argument("--json", action="store_true", help="one passage event (JSON) per line")
    p.set_defaults(func=cmd_plates)


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file named by ``url`` when it does not exist; None otherwise."""
    parsed = make_url(url)
    db = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or db in ("", ":memory:") or db.startswith("file:"):
        return None
    path = Path(db).expanduser()
    try:
        return None if path.exists() else path
    except PermissionError:  # the folder is the service's: Store says so in one line
        return None


def cmd_plates(args: argparse.Namespace, *, now: datetime | None = None,
               out: TextIO | None = None) -> int:
    """Print matching passages; 0 (even when none match), 2 on a bad filter."""
    out = out or sys.stdout
    local = datetime.now().astimezone().tzinfo or UTC
    now = now or datetime.now(UTC)
    try:
        since = parse_when(args.since, now, local) if args.since else None
        until = parse_when(args.until, now, local) if args.until else None
    except ValueError as exc:
        print(f"plates: {exc}", file=sys.stderr)
        return 2
    if since and until and since >= until:
        print("plates: --since must be before --until", file=sys.stderr)
        return 2
    cfg = load_config(args.config)
    missing = _missing_sqlite_file(cfg.store.url)
    if missing is not None:  # do not create an empty database where the daemon never wrote
        print(f"plates: no database at {missing} (is store.url the daemon's?)", file=sys.stderr)
        return 1
    store = Store(cfg.store.url)
    try:
        found = find_passages(store, plate=args.plate, cameras=args.camera, since=since,
                              until=until, limit=args.limit)
    finally:
        store.close()
    if args.csv:
        write_csv(found, out)
    elif args.json:
        for p in found:
            out.write(json.dumps(p.as_event(), ensure_ascii=False) + "\n")
    else:
        out.write(table(found, local) + "\n")
    return 0
