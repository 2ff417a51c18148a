"""``gatecam allow add|edit|remove|list|search|import|export``: the allow and deny lists.

An entry is a plate on one list with an owner or group, a validity window (visitor passes,
monthly permits) and a scope (some cameras; entry or exit lanes); the fields and the file
format are :mod:`daemon.store.listfile`'s, the same as the operator page's. Plates are
normalised (daemon.plates.normalize); one outside the GA 36 grammar is refused unless
``--force`` (a typo on an allow list is a gate that never opens). Cameras must be in the
config. Times without an offset are the machine's local time. The running daemon picks
changes up within ``access.refresh_s``.

``import``: every line skipped is reported with its reason; any bad line writes nothing.
``--replace`` swaps both lists for the file's content in one transaction, but refuses to
remove a deny entry the file does not list unless ``--drop-deny`` (each one is named).
``export`` writes the file ``import`` reads back to the same entries.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon import plates
from daemon.access import entry_doc, entry_state
from daemon.config.models import load_config
from daemon.store import listfile
from daemon.store.db import Store
from daemon.store.listfile import EntryError, Fields
from daemon.store.records import AccessEntry

_FIELD_HELP = {
    "note": "free text kept with the entry (who, why)",
    "owner": "the owner or group (a tenant, a company, \"visitors\")",
    "valid-from": "first day or time it holds (2026-12-01, 2026-12-01T08:00; default: now on)",
    "valid-until": "last day or time it holds, inclusive (2026-12-31; default: no end)",
    "cameras": "camera ids it holds on, comma-separated (default: every camera)",
    "direction": "entry, exit or any: lanes of that configured direction (default: any)",
}


def _fields(p: argparse.ArgumentParser, clears: bool) -> None:
    for name, text in _FIELD_HELP.items():
        p.add_argument(f"--{name}", help=text + ("; '' clears it" if clears else ""))


def register(sub: Any) -> None:
    """Add the ``allow`` command and its sub-commands to the main parser's subparsers."""
    p = sub.add_parser("allow", help="manage the allow / deny lists "
                                     "(add, edit, remove, list, search, import, export)")
    p.add_argument("--config", "-c", required=True, type=Path)
    acts = p.add_subparsers(dest="allow_command", required=True)

    add = acts.add_parser("add", help="put plates on the allow list (or --deny)")
    add.add_argument("plates", nargs="+")
    add.add_argument("--deny", action="store_true", help="the deny list instead")
    _fields(add, clears=False)
    add.add_argument("--force", action="store_true", help="accept a plate outside the grammar")
    add.set_defaults(func=cmd_add)

    edit = acts.add_parser("edit", help="change an entry's fields (the others stay)")
    edit.add_argument("plates", nargs="+")
    edit.add_argument("--deny", action="store_true", help="an entry of the deny list")
    _fields(edit, clears=True)
    edit.set_defaults(func=cmd_edit)

    rm = acts.add_parser("remove", help="take plates off the allow list (or --deny / --both)")
    rm.add_argument("plates", nargs="+")
    which = rm.add_mutually_exclusive_group()
    which.add_argument("--deny", action="store_true")
    which.add_argument("--both", action="store_true")
    rm.set_defaults(func=cmd_remove)

    ls = acts.add_parser("list", help="print both lists")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=cmd_list, query="")

    find = acts.add_parser("search", help="entries whose plate, owner, note or cameras match")
    find.add_argument("query")
    find.add_argument("--json", action="store_true", help="one JSON object per line")
    find.set_defaults(func=cmd_list)

    imp = acts.add_parser("import", help=f"load entries from a CSV file ({listfile.FORMAT})")
    imp.add_argument("file", type=Path)
    imp.add_argument("--replace", action="store_true", help="replace both lists with the file")
    imp.add_argument("--force", action="store_true", help="accept plates outside the grammar")
    imp.add_argument("--drop-deny", action="store_true",
                     help="with --replace: remove deny entries absent from the file")
    imp.set_defaults(func=cmd_import)

    exp = acts.add_parser("export", help="write both lists as the CSV file import reads")
    exp.add_argument("file", type=Path, nargs="?", help="default: standard output")
    exp.set_defaults(func=cmd_export)


def _open(args: argparse.Namespace) -> tuple[Store, list[str]]:
    cfg = load_config(args.config)
    return Store(cfg.store.url), [c.id for c in cfg.cameras]


def _given(args: argparse.Namespace) -> dict[str, str | None]:
    return {k.replace("-", "_"): getattr(args, k.replace("-", "_")) for k in _FIELD_HELP}


def cmd_add(args: argparse.Namespace) -> int:
    """Add plates; exit 1 if any was refused (the others are still added)."""
    kind = "deny" if args.deny else "allow"
    store, cameras = _open(args)
    failed = False
    try:
        for raw in args.plates:
            try:
                e = listfile.parse_entry(Fields(raw, kind, **_given(args)), force=args.force,
                                         cameras=cameras)
            except EntryError as exc:
                print(f"allow: {raw}: {exc}", file=sys.stderr)
                failed = True
                continue
            if store.access_put(e, overwrite=False):
                print(f"{kind} {e.plate}: added ({_describe(e)})")
            else:
                print(f"{kind} {e.plate}: already listed (unchanged; `gatecam allow edit` "
                      "changes it)")
    finally:
        store.close()
    return 1 if failed else 0


def _changes(args: argparse.Namespace, cameras: list[str]) -> dict[str, Any]:
    """The fields given on the command line, parsed ('' clears one); EntryError."""
    given = {k: v for k, v in _given(args).items() if v is not None}
    return listfile.parse_changes(given, cameras=cameras)


def cmd_edit(args: argparse.Namespace) -> int:
    """Change the given fields of entries; exit 1 if one is not listed or a field is bad."""
    kind = "deny" if args.deny else "allow"
    store, cameras = _open(args)
    try:
        try:
            changes = _changes(args, cameras)
        except EntryError as exc:
            print(f"allow edit: {exc}", file=sys.stderr)
            return 1
        if not changes:
            print("allow edit: nothing to change (give --owner, --valid-until, ...)",
                  file=sys.stderr)
            return 1
        missing = False
        for raw in args.plates:
            plate = plates.normalize(raw)
            try:
                found = store.access_edit(plate, kind, changes)
            except ValueError as exc:
                print(f"allow edit: {plate}: {exc}", file=sys.stderr)
                return 1
            print(f"{kind} {plate}: {'changed' if found else 'not listed'}")
            missing = missing or not found
    finally:
        store.close()
    return 1 if missing else 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Remove plates; exit 1 if one was on no list."""
    kind = None if args.both else ("deny" if args.deny else "allow")
    store, _ = _open(args)
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


def _describe(e: AccessEntry) -> str:
    return f"{listfile.window_text(e, None)}, {listfile.scope_text(e)}"


def as_json(e: AccessEntry, now: datetime) -> dict[str, Any]:
    """One entry as the JSON line ``list --json`` prints (the API's, ``list`` for ``kind``)."""
    doc = entry_doc(e, now)
    return {"plate": doc.pop("plate"), "list": doc.pop("kind"), **doc}


def cmd_list(args: argparse.Namespace) -> int:
    """Print the entries (those matching ``query``), deny first."""
    store, _ = _open(args)
    now = datetime.now(UTC)
    try:
        for e in listfile.search(store.access_entries(), args.query):
            if args.json:
                print(json.dumps(as_json(e, now), ensure_ascii=False))
            else:
                print("\t".join([e.kind, e.plate, e.owner or "-", _describe(e),
                                 entry_state(e, now), e.note or ""]))
    finally:
        store.close()
    return 0


def _replace(store: Store, entries: list[AccessEntry], drop_deny: bool) -> int:
    """Swap both lists for ``entries``; refuse (1) to drop a deny entry unless ``drop_deny``."""
    gone = listfile.dropped(store.access_entries(), entries)
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


def _merge(store: Store, entries: list[AccessEntry]) -> None:
    """Add or update ``entries`` (the file's fields win); say which allow entries a deny
    entry overrides."""
    deny = {plates.normalize(e.plate) for e in store.access_entries() if e.kind == "deny"}
    added = store.access_put_all(entries)
    for e in entries:
        if e.kind == "allow" and e.plate in deny:
            print(f"allow {e.plate}: also on the deny list, which wins where it holds",
                  file=sys.stderr)
    print(f"allow import: {added} added, {len(entries) - added} updated")


def cmd_import(args: argparse.Namespace) -> int:
    """Import a file; nothing is written when any line is bad (fix the file, run again)."""
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 ({exc.reason})"
        print(f"allow import: cannot read {args.file}: {why or exc}", file=sys.stderr)
        return 1
    store, cameras = _open(args)
    try:
        got = listfile.parse_file(text, force=args.force, cameras=cameras)
        for n, why in got.skipped:
            print(f"allow import: {args.file}: line {n}: skipped: {why}", file=sys.stderr)
        for line in got.errors:
            print(f"allow import: {args.file}: {line}", file=sys.stderr)
        if got.errors:
            print(f"allow import: nothing written ({len(got.errors)} bad line(s))",
                  file=sys.stderr)
            return 1
        if args.replace:
            return _replace(store, got.entries, args.drop_deny)
        _merge(store, got.entries)
    finally:
        store.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write both lists as CSV (local times with their offset) to a file or stdout."""
    store, _ = _open(args)
    try:
        text = listfile.to_csv(store.access_entries(), None)
    finally:
        store.close()
    if args.file is None or str(args.file) == "-":
        sys.stdout.write(text)
        return 0
    try:
        args.file.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"allow export: cannot write {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"allow export: {text.count(chr(10)) - 1} entries written to {args.file}")
    return 0
