"""``gatecam allow add|remove|list|import``: manage the allow and deny lists in the database.

Plates are normalised (daemon.plates.normalize) before they are stored; a plate
that does not fit the GA 36 grammar is refused unless ``--force`` (a typo on an
allow list is a gate that never opens). The running daemon picks changes up
within ``access.refresh_s``.

Import file: one entry per line, ``PLATE[,allow|deny[,note]]`` (UTF-8, a BOM is
fine; a line whose first non-blank character is ``#`` is a comment, a ``#`` in a
note is text; quote a note that has commas; the list defaults to ``allow``). Every
line skipped is reported with its reason; any bad line writes nothing. ``--replace``
swaps both lists for the file's content in one transaction, but refuses to remove a
deny entry the file does not list unless ``--drop-deny`` (each one is named).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import unicodedata
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
    imp.add_argument("--drop-deny", action="store_true",
                     help="with --replace: remove deny entries absent from the file")
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


Entry = tuple[str, str, str | None]
"""``(plate, list, note)`` as :meth:`Store.access_replace` takes it."""

_FORMAT = "PLATE[,allow|deny[,note]]"


def _visible(text: str) -> str:
    """``text`` without Unicode format characters (BOM, zero-width), stripped."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()


def _lines(text: str) -> list[str]:
    # Only line breaks break lines: str.splitlines() would also split a note at U+2028 or \x1c.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _fields(line: str) -> list[str]:
    """The fields of one line; csv.Error on a quote left open or stray text after one."""
    rows = list(csv.reader([line], strict=True, skipinitialspace=True))
    return [cell.strip() for cell in rows[0]] if rows else []


def _entry(cells: list[str], force: bool) -> Entry | str:
    """The entry of one line's fields, or why it is refused."""
    if len(cells) > 3:
        return f"{len(cells)} fields, expected {_FORMAT} (quote a note that has commas)"
    kind = _visible(cells[1]).lower() if len(cells) > 1 and _visible(cells[1]) else "allow"
    if kind not in ("allow", "deny"):
        return f"list {cells[1]!r} is not allow or deny"
    plate = plates.normalize(cells[0])
    if not plate:
        return "no plate"
    if not plates.is_valid(plate) and not force:
        return f"{cells[0]!r} is not a valid plate (use --force to keep it anyway)"
    note = cells[2] if len(cells) > 2 and cells[2] else None
    return plate, kind, note


def parse_import(text: str, force: bool) -> tuple[list[Entry], list[str], list[tuple[int, str]]]:
    """Entries, errors (``line N: problem``) and skipped lines (``(N, why)``) of a file's text.

    Each physical line is one entry, parsed with the csv module on its own, so a quote
    left open is an error on its line and never swallows the lines after it. ``#`` starts
    a comment only as a line's first non-blank character: inside a note it is text. A BOM
    and other invisible characters never reach a plate (daemon.plates.normalize). The
    same plate on both lists, or twice with different notes, is an error; an exact
    duplicate line is skipped and reported.
    """
    entries: list[Entry] = []
    errors: list[str] = []
    skipped: list[tuple[int, str]] = []
    seen: dict[str, tuple[int, Entry]] = {}
    for n, line in enumerate(_lines(text.removeprefix("\ufeff")), start=1):
        visible = _visible(line)
        if not visible or visible.startswith("#"):
            skipped.append((n, "comment" if visible else "blank line"))
            continue
        try:
            got = _entry(_fields(line), force)
        except csv.Error as exc:
            got = f"{exc} (a quote left open? quote a whole field: \"note, with comma\")"
        if isinstance(got, str):
            errors.append(f"line {n}: {got}")
            continue
        first = seen.get(got[0])
        if first is None:
            seen[got[0]] = (n, got)
            entries.append(got)
        elif first[1] == got:
            skipped.append((n, f"duplicate of line {first[0]}"))
        elif first[1][1] != got[1]:
            errors.append(f"line {n}: {got[0]} is on the {got[1]} list here and on the "
                          f"{first[1][1]} list at line {first[0]}")
        else:
            errors.append(f"line {n}: {got[0]} again with another note (line {first[0]})")
    return entries, errors, skipped


def _replace(store: Store, entries: list[Entry], drop_deny: bool) -> int:
    """Swap both lists for ``entries``; refuse (1) to drop a deny entry unless ``drop_deny``."""
    wanted = {(p, k) for p, k, _ in entries}
    gone = [e for e in store.access_entries() if (plates.normalize(e.plate), e.kind) not in wanted]
    gone_deny = [e.plate for e in gone if e.kind == "deny"]
    if gone_deny and not drop_deny:
        print(f"allow import: --replace would remove {len(gone_deny)} deny "
              f"entr{'y' if len(gone_deny) == 1 else 'ies'} absent from the file: "
              f"{', '.join(gone_deny)}; nothing written. Add them to the file, or pass "
              "--drop-deny to remove them", file=sys.stderr)
        return 1
    n = store.access_replace(entries)
    for e in gone:
        print(f"{e.kind} {e.plate}: removed")
    print(f"allow import: lists replaced, {n} entr{'y' if n == 1 else 'ies'}, "
          f"{len(gone)} removed")
    return 0


def _add(store: Store, entries: list[Entry]) -> None:
    """Add ``entries``; say which allow entries a deny entry overrides."""
    deny = {plates.normalize(e.plate) for e in store.access_entries() if e.kind == "deny"}
    added = 0
    for plate, kind, note in entries:
        added += store.access_add(plate, kind, note)
        if kind == "allow" and plate in deny:
            print(f"allow {plate}: also on the deny list, which wins", file=sys.stderr)
    print(f"allow import: {added} added, {len(entries) - added} already listed")


def cmd_import(args: argparse.Namespace) -> int:
    """Import a file; nothing is written when any line is bad (fix the file, run again)."""
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 ({exc.reason})"
        print(f"allow import: cannot read {args.file}: {why or exc}", file=sys.stderr)
        return 1
    entries, errors, skipped = parse_import(text, args.force)
    for n, why in skipped:
        print(f"allow import: {args.file}: line {n}: skipped: {why}", file=sys.stderr)
    for line in errors:
        print(f"allow import: {args.file}: {line}", file=sys.stderr)
    if errors:
        print(f"allow import: nothing written ({len(errors)} bad line(s))", file=sys.stderr)
        return 1
    store = _store(args)
    try:
        if args.replace:
            return _replace(store, entries, args.drop_deny)
        _add(store, entries)
    finally:
        store.close()
    return 0
