"""``gatecam allow import``: no line vanishes, no deny entry is dropped without being named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.access import AccessControl
from daemon.cli import main as cli
from daemon.cli.allow import parse_import
from daemon.config.models import AccessConfig
from daemon.domain import Passage
from daemon.store.db import Store


def _config(tmp_path: Path) -> tuple[list[str], str]:
    cfg = tmp_path / "c.yaml"
    url = f"sqlite:///{tmp_path}/g.db"
    cfg.write_text(f"site: lot-a\ncameras: [{{id: e1, url: /dev/null}}]\n"
                   f"store: {{url: '{url}'}}\n", encoding="utf-8")
    return ["allow", "--config", str(cfg)], url


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
    _, errors, _ = parse_import("苏E00001,deny,stolen, seen by guard\n", force=False)
    assert errors and errors[0].startswith("line 1:") and "fields" in errors[0], errors


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
