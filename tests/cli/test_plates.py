"""``gatecam plates`` and ``gatecam check-config`` as an operator runs them."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from daemon.cli.main import _parser
from daemon.cli.plates import _width, parse_when, plate_pattern, table
from daemon.domain import Passage, Rect
from daemon.errors import EX_CONFIG
from daemon.store.db import Store
from tests.support.daemon import ROOT

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))

# (minutes before NOW, camera, plate): newest last
SEEDED = [
    (300, "entry-1", "京AF0236"),
    (90, "exit-1", "沪B12345"),
    (30, "entry-1", "沪B12345"),
    (5, "entry-1", None),  # a passage where no plate could be read
]


def _passage(n: int, minutes_ago: int, camera: str, plate: str | None) -> Passage:
    at = NOW - timedelta(minutes=minutes_ago)
    return Passage(
        event_id=f"ev-{n:04d}-0000-4000-8000-000000000000", site="lot-a", camera=camera,
        direction="exit" if camera.startswith("exit") else "entry", captured_at=at,
        decided_at=at + timedelta(milliseconds=400), plate=plate, color="蓝" if plate else None,
        confidence=97 if plate else 0, category="实体车牌" if plate else None,
        rect=Rect(10, 20, 130, 40) if plate else None, access="allow" if plate else "unknown",
        ocr_calls=2, request_ids=("req-a", "req-b"), latency_ms=181.4,
    )


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A config whose SQLite store holds :data:`SEEDED`; returns the config path."""
    db = tmp_path / "gatecam.db"
    store = Store(f"sqlite:///{db}")
    try:
        for n, (ago, cam, plate) in enumerate(SEEDED):
            store.record_passage(_passage(n, ago, cam, plate), [], [])
    finally:
        store.close()
    cfg = tmp_path / "gatecam.yaml"
    cfg.write_text(yaml.safe_dump({
        "site": "lot-a", "cameras": [{"id": "entry-1", "url": "rtsp://127.0.0.1:9/x"}],
        "store": {"url": f"sqlite:///{db}"},
    }), encoding="utf-8")
    return cfg


def plates(cfg: Path, *args: str) -> tuple[int, str]:
    """Parse like the console script does, run with the fixed clock; (status, stdout)."""
    ns: argparse.Namespace = _parser().parse_args(["plates", "--config", str(cfg), *args])
    out = io.StringIO()
    rc = ns.func(ns, now=NOW, out=out)
    return rc, out.getvalue()


def ids(text: str) -> list[int]:
    """Seed indexes of JSON lines, in output order."""
    return [int(json.loads(line)["event_id"][3:7]) for line in text.splitlines()]


# -- pure parts -----------------------------------------------------------------------


def test_parse_when_relative_and_iso() -> None:
    assert parse_when("2h", NOW, UTC) == NOW - timedelta(hours=2)
    assert parse_when("90s", NOW, UTC) == NOW - timedelta(seconds=90)
    assert parse_when("1.5D", NOW, UTC) == NOW - timedelta(hours=36)
    assert parse_when("1w", NOW, UTC) == NOW - timedelta(days=7)
    # without an offset: the operator's zone; with one: as written; always returned as UTC
    assert parse_when("2026-11-25T08:00", NOW, BEIJING) == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    assert parse_when("2026-11-25", NOW, BEIJING) == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert parse_when("2026-11-25T08:00:00Z", NOW, BEIJING) == datetime(2026, 11, 25, 8,
                                                                          tzinfo=UTC)
    assert parse_when("2026-11-25T08:00+08:00", NOW, UTC).hour == 0
    with pytest.raises(ValueError, match="neither a relative time"):
        parse_when("yesterday", NOW, UTC)


def test_plate_filter_is_normalised_and_takes_wildcards() -> None:
    assert plate_pattern("京a·f0236") == ("京AF0236", False)
    assert plate_pattern("ＡＦ０２３６") == ("AF0236", False)  # full-width from a phone keyboard
    assert plate_pattern("*b 12345") == ("*B12345", True)


def test_table_aligns_cjk_plates_and_says_when_empty() -> None:
    rows = [_passage(0, 5, "entry-1", "京AF0236"), _passage(1, 3, "exit-long-name", None)]
    text = table(rows, BEIJING)
    lines = text.splitlines()
    assert lines[0].split() == ["time", "camera", "dir", "plate", "colour", "conf", "access",
                                "ocr", "ms", "event"]
    assert lines[1].startswith("2026-11-25 19:55:00  entry-1 ")  # shown in the given zone
    # the CJK province counts two columns: "access" starts at the same screen column everywhere
    cols = {_width(line[: line.index(word)]) for line, word in
            zip(lines, ("access", "allow", "unknown"), strict=True)}
    assert len(cols) == 1, text
    assert "-" in lines[2].split() and "ev-0001-" in lines[2]
    assert table([], UTC) == "no passages match"


# -- through the command line ------------------------------------------------------------


def test_filters_by_plate_camera_and_time(seeded: Path) -> None:
    assert plates(seeded, "--json")[1] and ids(plates(seeded, "--json")[1]) == [3, 2, 1, 0]
    assert ids(plates(seeded, "--json", "--plate", "沪b·12345")[1]) == [2, 1]
    assert ids(plates(seeded, "--json", "--plate", "*12345", "--camera", "exit-1")[1]) == [1]
    assert ids(plates(seeded, "--json", "--camera", "entry-1", "--camera", "exit-1",
                      "--limit", "2")[1]) == [3, 2]
    assert ids(plates(seeded, "--json", "--since", "2h")[1]) == [3, 2, 1]
    assert ids(plates(seeded, "--json", "--since", "2h", "--until", "10m")[1]) == [2, 1]
    assert ids(plates(seeded, "--json", "--until", "2026-11-25T08:00:00Z")[1]) == [0]
    assert plates(seeded, "--plate", "粤Z0000A港") == (0, "no passages match\n")


def test_csv_has_every_column_in_utc(seeded: Path) -> None:
    rc, out = plates(seeded, "--csv", "--since", "1h")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["plate"] for r in rows] == ["", "沪B12345"]
    row = rows[1]
    assert row["captured_at"] == "2026-11-25T11:30:00.000Z"
    assert (row["camera"], row["direction"], row["color"], row["confidence"]) == (
        "entry-1", "entry", "蓝", "97")
    assert (row["ocr_calls"], row["latency_ms"], row["request_ids"]) == ("2", "181",
                                                                          "req-a req-b")
    assert row["late"] == "no" and row["access"] == "allow"


def test_bad_time_and_missing_database_are_clear_errors(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plates(seeded, "--since", "last tuesday")[0] == 2
    assert "neither a relative time" in capsys.readouterr().err
    assert plates(seeded, "--since", "1h", "--until", "2h")[0] == 2
    other = tmp_path / "other.yaml"
    other.write_text(seeded.read_text().replace("gatecam.db", "nowhere/g.db"))
    assert plates(other)[0] == 1
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()  # looking must not create an empty database


def test_console_script_prints_the_table(seeded: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "daemon", "plates", "-c", str(seeded),
                          "--plate", "京AF0236"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    head, row = res.stdout.splitlines()
    assert head.startswith("time ") and "京AF0236" in row and "ev-0000" in row


def test_check_config_reports_every_error_with_its_yaml_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "site: lot-a\n"                                 # 1
        "cameras:\n"                                    # 2
        "  - id: entry-1\n"                             # 3
        "    url: rtsp://cam/1\n"                       # 4
        "  - id: exit-1\n"                              # 5
        "    url: rtsp://cam/2\n"                       # 6
        "    roi: [[0, 0], [2, 0], [1, 1]]\n"           # 7
        "    fps_limt: 5\n"                             # 8
        "mqtt:\n"                                       # 9
        "  port: 99999\n"                               # 10
        "  password: hunter22\n",                       # 11
        encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("site: a\ncameras:\n  - id: x\n    url: [oops\n", encoding="utf-8")
    for path, expected in (
        (bad, [":7: cameras -> 1 -> roi -> 1 -> 0:", ":8: cameras -> 1 -> fps_limt:",
               ":10: mqtt -> port:", ":11: mqtt -> password: secrets never go in the YAML"]),
        (broken, [":5:1: not valid YAML: expected ',' or ']'"]),
        (tmp_path / "absent.yaml", ["absent.yaml: cannot read"]),
    ):
        res = subprocess.run([sys.executable, "-m", "daemon", "check-config", str(path)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == EX_CONFIG, res.stderr
        lines = res.stderr.splitlines()
        assert len(lines) == len(expected), res.stderr  # one line per problem
        for line, needle in zip(lines, expected, strict=True):
            assert line.startswith(f"config error: {path}") and needle in line, line
        assert "hunter22" not in res.stderr
