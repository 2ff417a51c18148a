"""scripts/bench_resources.py (scripts/rig/deployed.py) measures the daemon as a Pi runs it:
the unit's environment and ExecStartPre= (the schema upgrade in its own process), libraries
read back from disk, an interpreter with the runtime dependencies only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench_resources import RSS_TARGET_MB
from scripts.rig.deployed import (
    drop_from_page_cache,
    unit_environment,
    unit_prestart,
    with_config,
)

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "gatecam.service"


def test_the_unit_upgrades_the_schema_before_the_daemon_and_the_bench_does_too() -> None:
    """The daemon then finds its database at HEAD and never imports Alembic (~11 MB)."""
    pre = unit_prestart(UNIT)
    assert pre == [["migrate", "--config", "/etc/gatecam/gatecam.yaml"]]
    assert with_config(pre[0], Path("/tmp/b.yaml")) == ["migrate", "--config", "/tmp/b.yaml"]


def test_prestart_parsing_keeps_only_gatecam_commands(tmp_path: Path) -> None:
    unit = tmp_path / "u.service"
    unit.write_text("[Service]\nExecStartPre=/bin/true\n"
                    "ExecStartPre=-/opt/x/bin/gatecam migrate --config /c.yaml\n"
                    "ExecStart=/opt/x/bin/gatecam run --config /c.yaml\n")
    assert unit_prestart(unit) == [["migrate", "--config", "/c.yaml"]]


def test_the_bench_applies_the_units_malloc_environment() -> None:
    assert unit_environment(UNIT)["MALLOC_ARENA_MAX"] == "2"


def test_the_daemon_runs_in_a_runtime_only_venv_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The test venv's extras load into the daemon (httpx's CLI: rich, click, pygments)."""
    import scripts.bench_resources as bench

    monkeypatch.setattr(bench, "runtime_python", lambda: "/tmp/rt/bin/python")
    assert bench.daemon_interpreter(None, test_venv=False) == "/tmp/rt/bin/python"
    assert bench.daemon_interpreter(None, test_venv=True) == sys.executable
    assert bench.daemon_interpreter("/x/python", test_venv=False) == "/x/python"


def test_the_verdict_is_issue_11s_target() -> None:
    assert RSS_TARGET_MB == 200


def _resident_bytes(path: Path) -> int:
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


@pytest.mark.skipif(shutil.which("fincore") is None, reason="fincore (util-linux) missing")
def test_dropping_a_library_from_the_page_cache(tmp_path: Path) -> None:
    lib = tmp_path / "libfake.so.1"
    with lib.open("wb") as f:
        f.write(os.urandom(4 << 20))
        f.flush()
        os.fsync(f.fileno())  # dirty pages cannot be dropped
    lib.read_bytes()
    assert _resident_bytes(lib) > 0
    files, mb = drop_from_page_cache([lib, tmp_path / "missing.so"])
    assert (files, round(mb)) == (1, 4)
    assert _resident_bytes(lib) == 0
