"""Daemon processes for end-to-end tests: configs, credentials, a child process, polling."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from daemon.contract import Topics
from scripts.rig.daemonproc import E2E_SECRET_ID, E2E_SECRET_KEY, DaemonProcess

ROOT = Path(__file__).resolve().parents[2]



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


__all__ = ["E2E_SECRET_ID", "E2E_SECRET_KEY", "ROOT", "TOPICS", "DaemonProcess", "daemon_config",
           "site_topics", "wait_until"]
