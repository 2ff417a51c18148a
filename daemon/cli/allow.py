"""``gatecam allow add|remove|list|import``: manage the allow and deny lists in the database.

Plates are normalised (daemon.plates.normalize) before they are stored; a plate
that does not fit the GA 36 grammar is refused unless ``--force`` (a typo on an
allow list is a gate that never opens). The running daemon picks changes up
within ``access.refresh_s``.

Import file: one entry per line, ``PLATE[,allow|deny[,note]]`` (UTF-8; ``#``
starts a comment; the list defaults to ``allow``). ``--replace`` swaps both
lists for the file's content in one transaction; without it entries are added.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from daemon import plates
from daemon.config.models import load_config
from daemon.store.db import Store


def register(sub: Any) -> None:
    """Add the ``allow`` command and its sub-commands to the main parser's subparsers."""
    p = sub.add_parser("allow", help="manage the allow / deny lists (add, remove, list, import)")
    p.add_argument("--config", "-c", required=True, type=Path)
    acts = p.add_subparsers(dest="allow_command", required=True)

    add = acts.add_parser("add", help="put plates on the allow list (or --deny)")
    add.add_argument("plates", nargs="+")
    add.add_argument("--deny", action="store_true", help="the deny list instead")
    add.add_argument("--note", help="free text kept with the entry (who, why)")
    add.add_argument("--force", action="store_true", help="accept a plate outside the grammar")
    add.set_defaults(func=cmd_add)

    rm = acts.add_parser("remove", help="take plates off the allow list (or --deny / --both)")
    rm.add_argument("plates", nargs="+")
    which = rm.add_mutually_exclusive_group()
    which.add_argument("--deny", action="store_true")
    which.add_argument("--both", action="store_true")
    rm.set_defaults(func=cmd_remove)

    ls = acts.add_parser("list", help="print both lists")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=cmd_list)

    imp = acts.add_parser("import", help="load entries from a file (PLATE[,allow|deny[,note]])")
    imp.add_argument("file", type=Path)
    imp.add_argument("--replace", action="store_true", help="replace both lists with the file")
    imp.add_argument("--force", action="store_true", help="accept plates outside the grammar")
    imp.set_defaults(func=cmd_import)


def _store(args: argparse.Namespace) -> Store:
    return Store(load_config(args.config).store.url)


def _plate(raw: str, force: bool) -> str | None:
    plate = plates.normalize(raw)
    if not plate:
        print(f"allow: empty plate {raw!r}", file=sys.stderr)
        return None
    if not plates.is_valid(plate) and not force:
        print(f"allow: {raw!r} is not a valid plate (use --force to keep it anyway)",
              file=sys.stderr)
        return None
    return plate


def cmd_add(args: argparse.Namespace) -> int:
    """Add plates; exit 1 if any was refused (the others are still added)."""
    kind = "deny" if args.deny else "allow"
    store = _store(args)
    failed = False
    try:
        for raw in args.plates:
            plate = _plate(raw, args.force)
            if plate is None:
                failed = True
                continue
            added = store.access_add(plate, kind, args.note)
            print(f"{kind} {plate}: {'added' if added else 'already listed'}")
    finally:
        store.close()
    return 1 if failed else 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Remove plates; exit 1 if one was on no list."""
    kind = None if args.both else ("deny" if args.deny else "allow")
    store = _store(args)
    missing = False
    try:
        for raw in args.plates:
            plate = plates.normalize(raw)
            n = store.access_remove(plate, kind)
            print(f"{kind or 'allow+deny'} {plate}: {'removed' if n else 'not listed'}")
            missing = missing or n == 0
    finally:
        store.close()
    return 1 if missing else 0


def cmd_list(args: argparse.Namespace) -> int:
    """Print every entry, deny first."""
    store = _store(args)
    try:
        for e in store.access_entries():
            if args.json:
                print(json.dumps({"plate": e.plate, "list": e.kind, "note": e.note,
                                  "created_at": e.created_at.isoformat()}, ensure_ascii=False))
            else:
                print(f"{e.kind}\t{e.plate}\t{e.note or ''}")
    finally:
        store.close()
    return 0


def parse_import(text: str, force: bool) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """Entries and error lines (``file line: problem``) from an import file's text."""
    entries: list[tuple[str, str, str | None]] = []
    errors: list[str] = []
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    for n, row in enumerate(csv.reader(lines), start=1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0]:
            continue
        kind = (cells[1].lower() if len(cells) > 1 and cells[1] else "allow")
        if kind not in ("allow", "deny"):
            errors.append(f"line {n}: list {cells[1]!r} is not allow or deny")
            continue
        plate = plates.normalize(cells[0])
        if not plates.is_valid(plate) and not force:
            errors.append(f"line {n}: {cells[0]!r} is not a valid plate")
            continue
        entries.append((plate, kind, cells[2] if len(cells) > 2 and cells[2] else None))
    return entries, errors


def cmd_import(args: argparse.Namespace) -> int:
    """Import a file; nothing is written when any line is bad (fix the file, run again)."""
    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"allow import: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    entries, errors = parse_import(text, args.force)
    for line in errors:
        print(f"allow import: {args.file}: {line}", file=sys.stderr)
    if errors:
        return 1
    store = _store(args)
    try:
        if args.replace:
            n = store.access_replace(entries)
            print(f"allow import: lists replaced, {n} entr{'y' if n == 1 else 'ies'}")
        else:
            added = sum(store.access_add(p, k, note) for p, k, note in entries)
            print(f"allow import: {added} added, {len(entries) - added} already listed")
    finally:
        store.close()
    return 0
