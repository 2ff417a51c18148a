"""Run Prometheus' ``promtool`` (Debian package ``prometheus``, installed by scripts/setup.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def promtool() -> str:
    """The promtool binary; the test fails where it is not installed (a skip would hide it)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool missing (Debian package prometheus; scripts/setup.sh test)")
    return path


def check_metrics(exposition: bytes) -> subprocess.CompletedProcess[str]:
    """``promtool check metrics`` on a text exposition (its lint findings in stdout/stderr)."""
    return subprocess.run([promtool(), "check", "metrics"], input=exposition.decode(),
                          capture_output=True, text=True, timeout=30, check=False)


def check_rules(*files: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check rules`` on rule files."""
    return subprocess.run([promtool(), "check", "rules", *map(str, files)],
                          capture_output=True, text=True, timeout=30, check=False)


def run_rule_tests(*files: Path) -> subprocess.CompletedProcess[str]:
    """``promtool test rules`` on rule unit-test files."""
    return subprocess.run([promtool(), "test", "rules", *map(str, files)],
                          capture_output=True, text=True, timeout=60, check=False)
