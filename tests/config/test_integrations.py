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


def test_webhooks_parse_with_a_default_concurrency() -> None:
    cfg = parse_config(BASE + "webhooks:\n  - {name: erp, url: 'https://erp.lan:8443/h?site=a',"
                       " secret_credential: erp}\n  - {name: crm, url: 'http://crm.lan/h', "
                       "concurrency: 1}\n")
    assert [(h.name, h.concurrency) for h in cfg.webhooks] == [("erp", 4), ("crm", 1)]
    assert cfg.webhooks[0].url == "https://erp.lan:8443/h?site=a"


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ("{name: erp, url: 'ftp://erp.lan/h'}", "webhooks -> 0 -> url: Value error, must be an "
         "http:// or https:// URL"),
        ("{name: erp, url: 'erp.lan/h'}", "must be an http:// or https:// URL with a host"),
        ("{name: erp, url: 'http://u:hunter2@erp.lan/h'}", "must not hold credentials: set "
         "secret_credential"),
        ("{name: erp, url: 'http://erp.lan/h#x'}", "must not have a #fragment"),
        ("{name: erp, url: 'http://erp.lan:99999/h'}", "bad port"),
        ("{name: erp, url: 'http://erp.lan/h', secret: hunter2}", "secret: keep the key out "
         "of the YAML; put it in the credential file webhook_<NAME>"),
        ("{name: erp, url: 'http://erp.lan/h', hmac_key: hunter2}", "hmac_key: keep the key "
         "out of the YAML"),
        ("{name: erp, url: 'http://erp.lan/h', token: hunter2}", "token: keep the key"),
        ("{name: erp, url: 'http://erp.lan/h', concurrency: 0}", "webhooks -> 0 -> "
         "concurrency"),
        ("{name: erp, url: 'http://erp.lan/h', concurrency: 33}", "less than or equal to 32"),
    ],
)
def test_bad_webhook_entries_are_config_errors_never_echoing_a_secret(
    hook: str, message: str,
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + f"webhooks:\n  - {hook}\n", source="g.yaml")
    text = "\n".join(info.value.lines)
    assert message in text, text
    assert text.startswith("g.yaml:11: webhooks -> 0"), text  # the line of the entry
    assert "hunter2" not in text
