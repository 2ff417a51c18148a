"""Daemon processes for end-to-end tests: configs, credentials, a child process, polling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from daemon.contract import Topics

ROOT = Path(__file__).resolve().parents[2]

E2E_SECRET_ID = "AKIDgatecamE2E"

E2E_SECRET_KEY = "gatecam-e2e-key"


def daemon_config(
    tmp_path: Path, *, camera_url: str, mqtt_port: int, endpoint: str, **camera: Any
) -> Path:
    """Write a config for one camera against the given broker and emulator; return its path."""
    cfg = {
        "site": "lot-a",
        "cameras": [{"id": "entry-1", "url": camera_url, "direction": "entry",
                     "roi": [[0.0, 0.25], [1.0, 0.25], [1.0, 1.0], [0.0, 1.0]], **camera}],
        "ocr": {"endpoint": endpoint, "rate_limit": 10},
        "store": {"url": f"sqlite:///{tmp_path}/gatecam.db", "snapshots": str(tmp_path / "snap")},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "topic_prefix": "gatecam"},
        "health": {"metrics_port": 0},  # a free port: daemons of parallel tests never collide
    }
    path = tmp_path / "gatecam.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


class DaemonProcess:
    """``python -m daemon ARGS`` as a child process with the emulator's credentials."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=E2E_SECRET_ID,
                   TENCENTCLOUD_SECRET_KEY=E2E_SECRET_KEY, PYTHONUNBUFFERED="1")
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", *args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=self._log,
        )

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM our child (by PID) and wait; SIGKILL if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)

    def log(self) -> str:
        """What the daemon logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


TOPICS = Topics("gatecam", "lot-a")
"""The default MQTT identity of the tests (prefix ``gatecam``, site ``lot-a``)."""


def site_topics(site: str, prefix: str = "gatecam") -> Topics:
    """The MQTT identity of a test's own site (each test uses its own, random one)."""
    return Topics(prefix, site)
