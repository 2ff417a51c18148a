"""``gatecam allow``: no import line vanishes, no deny entry is dropped without being named;
owners, windows and scopes through add, edit, search, export and import."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.access import AccessControl
from daemon.cli import main as cli
from daemon.config.models import AccessConfig
from daemon.domain import Passage
from daemon.store.db import Store
from daemon.store.listfile import Parsed, parse_file


def _config(tmp_path: Path) -> tuple[list[str], str]:
    cfg = tmp_path / "c.yaml"
    url = f"sqlite:///{tmp_path}/g.db"
    cfg.write_text(f"site: lot-a\ncameras: [{{id: e1, url: /dev/null}}]\n"
                   f"store: {{url: '{url}'}}\n", encoding="utf-8")
    return ["allow", "--config", str(cfg)], url


def parse_import(text: str, force: bool) -> tuple[list[tuple[str, str, str | None]], list[str],
                                                list[tuple[int, str]]]:
    """(plate, list, note) of each entry, errors, skipped lines (the fields the tests check)."""
    got: Parsed = parse_file(text, force=force)
    return [(e.plate, e.kind, e.note) for e in got.entries], got.errors, got.skipped


def _entries(url: str) -> set[tuple[str, str, str | None]]:
    store = Store(url)
    try:
        return {(e.plate, e.kind, e.note) for e in store.access_entries()}
    finally:
        store.close()


def test_hash_inside_a_quoted_note_keeps_the_following_deny_lines() -> None:
    text = ('京A12345,allow,"gate #3, north"\n'
            "苏E00001,deny,stolen\n"
            "沪C99999,deny\n")
    entries, errors, _ = parse_import(text, force=False)
    assert errors == []
    assert entries == [("京A12345", "allow", "gate #3, north"),
                       ("苏E00001", "deny", "stolen"), ("沪C99999", "deny", None)]


def test_comments_are_whole_lines_only_and_a_hash_in_a_note_is_kept() -> None:
    entries, errors, skipped = parse_import(
        "# staff\n  # indented comment\n\n苏E00001,deny,stolen # reported\n", force=False)
    assert errors == []
    assert entries == [("苏E00001", "deny", "stolen # reported")]
    assert [n for n, _ in skipped] == [1, 2, 3]


def test_an_unclosed_quote_is_an_error_on_its_line_and_swallows_nothing() -> None:
    entries, errors, _ = parse_import('京A12345,allow,"open note\n苏E00001,deny\n', force=False)
    assert [e.split(":", 1)[0] for e in errors] == ["line 1"], errors
    assert entries == [("苏E00001", "deny", None)]


def test_extra_fields_are_an_error_not_dropped() -> None:
    _, errors, _ = parse_import("苏E00001,deny,stolen,guard,,,,any,north gate\n", force=False)
    assert errors and errors[0].startswith("line 1:") and "9 fields" in errors[0], errors
    # an old file's unquoted comma in a note: the rest is a field of its own, never lost,
    # and an error where it cannot be what that column holds
    _, errors, _ = parse_import("苏E00001,deny,stolen, seen by guard, north gate\n", False)
    assert errors and "valid_from: 'north gate'" in errors[0], errors


def test_bom_and_zero_width_characters_never_reach_the_store() -> None:
    text = "\ufeff京A12345\n粤B\u200b12345,allow\n\u2060沪C99999\u00ad,deny\n"
    entries, errors, _ = parse_import(text, force=False)
    assert errors == []
    assert [p for p, _, _ in entries] == ["京A12345", "粤B12345", "沪C99999"]


def test_the_same_plate_on_both_lists_in_one_file_is_an_error() -> None:
    _, errors, _ = parse_import("苏E00001,allow\n苏E00001,deny\n", force=False)
    assert errors and "line 2" in errors[0] and "line 1" in errors[0], errors


def test_a_duplicate_line_is_reported_as_skipped() -> None:
    entries, errors, skipped = parse_import("苏E00001,deny\n苏E00001,deny\n", force=False)
    assert errors == [] and len(entries) == 1
    assert skipped == [(2, "duplicate of line 1")]


def test_replace_refuses_to_drop_deny_entries_absent_from_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    c, url = _config(tmp_path)
    assert cli.main([*c, "add", "--deny", "沪C99999", "苏E00001"]) == 0
    assert cli.main([*c, "add", "京A12345"]) == 0
    f = tmp_path / "l.csv"
    f.write_text("京A12345\n苏E00001,deny\n", encoding="utf-8")
    before = _entries(url)
    capsys.readouterr()
    assert cli.main([*c, "import", "--replace", str(f)]) == 1
    err = capsys.readouterr().err
    assert "沪C99999" in err and "--drop-deny" in err, err
    assert _entries(url) == before  # nothing written
    assert cli.main([*c, "import", "--replace", "--drop-deny", str(f)]) == 0
    out = capsys.readouterr().out
    assert "deny 沪C99999: removed" in out, out
    assert _entries(url) == {("京A12345", "allow", None), ("苏E00001", "deny", None)}


def test_import_reports_skipped_lines_and_writes_nothing_on_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    c, url = _config(tmp_path)
    f = tmp_path / "l.csv"
    f.write_text("# staff\n京A12345\n苏E00001,deny,\"stolen\n沪C99999,deny\n", encoding="utf-8")
    assert cli.main([*c, "import", str(f)]) == 1
    err = capsys.readouterr().err
    assert f"{f}: line 3:" in err and "quote" in err, err
    assert _entries(url) == set()
    f.write_text("# staff\n京A12345\n", encoding="utf-8")
    assert cli.main([*c, "import", str(f)]) == 0
    err = capsys.readouterr().err
    assert "line 1: skipped: comment" in err, err


def test_stored_entries_with_invisible_characters_still_match(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    store.access_add("\ufeff京A12345", "allow")  # written by an older gatecam
    store.access_add("苏E0\u200b0001", "deny")
    t = datetime(2026, 1, 1, tzinfo=UTC)

    def passage(plate: str) -> Passage:
        return Passage(event_id=plate, site="s", camera="c", direction="entry", captured_at=t,
                       decided_at=t, plate=plate, confidence=99, category="实体车牌")

    access = AccessControl(store, AccessConfig())
    assert access.apply(passage("京A12345")).access == "allow"
    assert access.apply(passage("苏E00001")).access == "deny"
    store.close()


def _two_cameras(tmp_path: Path) -> tuple[list[str], str]:
    cfg = tmp_path / "c.yaml"
    url = f"sqlite:///{tmp_path}/g.db"
    cfg.write_text("site: lot-a\ncameras: [{id: entry-1, url: /dev/null, direction: entry},\n"
                   "  {id: exit-1, url: /dev/null, direction: exit}]\n"
                   f"store: {{url: '{url}'}}\n", encoding="utf-8")
    return ["allow", "--config", str(cfg)], url


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_add_edit_search_with_owner_window_and_scope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    c, url = _two_cameras(tmp_path)
    assert cli.main([*c, "add", "京A12345", "--owner", "Flat 12", "--note", "monthly",
                     "--valid-from", "2026-12-01T00:00Z", "--valid-until",
                     "2026-12-31T23:59:59+08:00", "--cameras", "entry-1", "--direction",
                     "entry"]) == 0
    assert cli.main([*c, "add", "粤B12345", "--owner", "visitors"]) == 0
    assert cli.main([*c, "add", "京A12345", "--owner", "someone else"]) == 0  # kept as is
    assert "already listed" in capsys.readouterr().out
    for bad in (["--cameras", "entry-9"], ["--direction", "sideways"],
                ["--valid-until", "31/12/2026"], ["--valid-from", "2026-12-02",
                                                  "--valid-until", "2026-12-01"]):
        assert cli.main([*c, "add", "沪C99999", *bad]) == 1, bad
        assert "沪C99999" not in str(_entries(url))
    capsys.readouterr()
    assert cli.main([*c, "search", "flat", "--json"]) == 0
    [e] = _json_lines(capsys.readouterr().out)
    assert e == {"plate": "京A12345", "list": "allow", "note": "monthly", "owner": "Flat 12",
                 "valid_from": "2026-12-01T00:00:00.000Z",
                 "valid_until": "2026-12-31T15:59:59.000Z", "cameras": ["entry-1"],
                 "direction": "entry", "state": e["state"], "created_at": e["created_at"]}
    assert e["state"] in ("holds", "expired", "not_yet_valid")
    # edit changes the given fields only; '' clears one
    assert cli.main([*c, "edit", "京A12345", "--cameras", "entry-1,exit-1", "--valid-until",
                     "", "--direction", ""]) == 0
    assert cli.main([*c, "edit", "京A12345", "--valid-until", "2026-11-01"]) == 1  # < from
    assert cli.main([*c, "edit", "京A99999", "--owner", "x"]) == 1  # not listed
    assert cli.main([*c, "edit", "京A12345"]) == 1  # nothing to change
    capsys.readouterr()
    assert cli.main([*c, "list", "--json"]) == 0
    got = {e["plate"]: e for e in _json_lines(capsys.readouterr().out)}
    assert (got["京A12345"]["cameras"], got["京A12345"]["valid_until"],
            got["京A12345"]["direction"], got["京A12345"]["owner"]) == (
        ["entry-1", "exit-1"], None, "any", "Flat 12")
    assert got["粤B12345"]["owner"] == "visitors"
    assert cli.main([*c, "search", "exit-1"]) == 0  # cameras are searched too
    out = capsys.readouterr().out
    assert "京A12345" in out and "粤B12345" not in out


def test_export_then_import_round_trips_every_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    c, url = _two_cameras(tmp_path)
    assert cli.main([*c, "add", "京A12345", "--owner", "Flat 12, north", "--note",
                     'says "hi", #3', "--valid-from", "2026-12-01", "--valid-until",
                     "2026-12-31", "--cameras", "entry-1;exit-1", "--direction", "exit"]) == 0
    assert cli.main([*c, "add", "--deny", "苏E00001", "--valid-until", "2027-01-31T12:00Z"]) == 0
    assert cli.main([*c, "add", "粤B12345"]) == 0
    before = Store(url)
    stored = before.access_entries()
    before.close()
    f = tmp_path / "lists.csv"
    assert cli.main([*c, "export", str(f)]) == 0
    text = f.read_text(encoding="utf-8")
    assert text.startswith("# plate,list,note,owner,valid_from,valid_until,cameras,direction\n")
    assert cli.main([*c, "remove", "--both", "京A12345", "苏E00001", "粤B12345"]) == 0
    assert cli.main([*c, "import", str(f)]) == 0
    after = Store(url)
    back = after.access_entries()
    after.close()
    strip = [replace(e, created_at=None) for e in stored]
    assert [replace(e, created_at=None) for e in back] == strip
    assert cli.main([*c, "import", "--replace", str(f)]) == 0  # the same lists again
    capsys.readouterr()
    assert cli.main([*c, "export"]) == 0
    assert capsys.readouterr().out == text  # stdout: the same bytes


def test_import_with_bad_fields_reports_each_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    c, url = _two_cameras(tmp_path)
    assert cli.main([*c, "add", "粤B12345", "--owner", "kept"]) == 0
    f = tmp_path / "l.csv"
    f.write_text("京A12345,allow,,Flat 1,2026-12-01,2026-12-31,entry-1,entry\n"
                 "京A22345,allow,,,2026-13-01\n"
                 "京A32345,allow,,,,,gate-7\n"
                 "京A42345,allow,,,,,,both\n"
                 "京A52345,allow,,,2026-12-02,2026-12-01\n"
                 "粤B12345,allow,,changed\n", encoding="utf-8")
    before = _entries(url)
    assert cli.main([*c, "import", str(f)]) == 1
    err = capsys.readouterr().err
    for n, what in ((2, "valid_from"), (3, "camera 'gate-7'"), (4, "direction"),
                    (5, "after valid_until")):
        assert f"line {n}: " in err and what in err, (n, err)
    assert "line 1:" not in err and "line 6:" not in err and "nothing written" in err
    assert _entries(url) == before
    store = Store(url)
    [kept] = store.access_entries()
    store.close()
    assert kept.owner == "kept"
