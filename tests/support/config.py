"""A Config builder for in-process App tests: one looping clip camera, SQLite, no MQTT.

``make_config(tmp_path, clip, endpoint, **overrides)`` starts from a minimal valid config
and merges each override section into it (``mqtt={"port": 1883}`` changes one key of the
``mqtt`` section and keeps the others), so a test states only what it is about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.config.models import Config


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def make_config(tmp_path: Path, clip: Path | str, endpoint: str, **overrides: Any) -> Config:
    """A validated Config: camera ``entry-1`` looping ``clip``, OCR at ``endpoint``."""
    base: dict[str, Any] = {
        "site": "lot-a",
        "cameras": [{"id": "entry-1", "url": str(clip), "loop": True}],
        "ocr": {"endpoint": endpoint},
        "store": {"url": f"sqlite:///{tmp_path}/g.db"},
        "mqtt": {"enabled": False},
        "health": {"metrics_port": 0},
    }
    return Config.model_validate(_merge(base, overrides))
