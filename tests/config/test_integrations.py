"""config/integrations.py: mqtt.snapshot and store.snapshot_base_url, checked at load."""

from __future__ import annotations

import pytest

from daemon.config.integrations import image_url
from daemon.config.models import parse_config
from daemon.errors import ConfigError

BASE = """
site: lot-a
cameras:
  - id: entry-1
    url: rtsp://127.0.0.1:8554/cam
    direction: entry
store:
  url: sqlite:////tmp/g.db
  snapshots: /tmp/snaps
"""


def test_defaults_publish_no_snapshot_and_no_image_url() -> None:
    cfg = parse_config(BASE)
    assert cfg.mqtt.snapshot.enabled is False
    assert (cfg.mqtt.snapshot.max_width, cfg.mqtt.snapshot.jpeg_quality) == (480, 80)
    assert cfg.store.snapshot_base_url is None


def test_snapshot_keys_and_base_url_parse() -> None:
    cfg = parse_config(BASE + "  snapshot_base_url: https://pi.lan:8080/snaps/\n"
                       "mqtt:\n  snapshot: {enabled: true, max_width: 320, jpeg_quality: 70}\n")
    assert cfg.store.snapshot_base_url == "https://pi.lan:8080/snaps"
    assert cfg.mqtt.snapshot.enabled and cfg.mqtt.snapshot.max_width == 320
    assert image_url(cfg.store.snapshot_base_url, "entry-1/2026-12-04/e.jpg") == (
        "https://pi.lan:8080/snaps/entry-1/2026-12-04/e.jpg")
    assert image_url(None, "x.jpg") is None and image_url("http://a", None) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  snapshot_base_url: ftp://pi.lan/snaps\n", "http:// or https://"),
        ("  snapshot_base_url: http://user:pw@pi.lan/snaps\n", "must not hold credentials"),
        ("  snapshot_base_url: http://pi.lan/s?x=1\n", "query or a fragment"),
        ("mqtt:\n  snapshot: {max_width: 10}\n", "mqtt -> snapshot -> max_width"),
        ("mqtt:\n  snapshot: {enabled: true, quality: 50}\n", "Extra inputs are not permitted"),
    ],
)
def test_bad_values_are_config_errors_naming_the_key(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + extra, source="g.yaml")
    text = "\n".join(info.value.lines)
    assert message in text, text
    assert "pw" not in text.replace("password", "")


def test_base_url_needs_a_snapshots_folder() -> None:
    no_folder = BASE.replace("  snapshots: /tmp/snaps\n", "")
    with pytest.raises(ConfigError, match=r"snapshot_base_url needs store\.snapshots"):
        parse_config(no_folder + "  snapshot_base_url: http://pi.lan/snaps\n")
