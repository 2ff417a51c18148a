"""Configuration: the contract keys parse, bad files name the key, secrets stay out of YAML."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config.models import load_config, parse_config
from daemon.config.secrets import load_secrets, redact_url
from daemon.errors import EX_CONFIG, ConfigError

ROOT = Path(__file__).resolve().parents[2]

CONTRACT = """
site: lot-a
cameras:
  - id: entry-1
    url: rtsp://127.0.0.1:8554/cam
    direction: entry
    roi: [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]]
ocr:
  provider: tencent
  endpoint: https://ocr.tencentcloudapi.com
  region: ap-guangzhou
  rate_limit: 10
store:
  url: sqlite:////var/lib/gatecam/gatecam.db
  snapshots: /var/lib/gatecam/snapshots
mqtt:
  enabled: true
  host: 127.0.0.1
  port: 1883
  topic_prefix: gatecam
"""


def test_contract_keys_parse() -> None:
    cfg = parse_config(CONTRACT)
    cam = cfg.cameras[0]
    assert cam.id == "entry-1" and cam.direction == "entry" and not cam.is_file
    assert cam.roi[0] == (0.0, 0.3)
    assert cfg.ocr.rate_limit == 10 and cfg.ocr.region == "ap-guangzhou"
    assert cfg.store.snapshots == Path("/var/lib/gatecam/snapshots")
    assert cfg.mqtt.port == 1883 and cfg.mqtt.topic_prefix == "gatecam"


@pytest.mark.parametrize("name", ["gatecam.example.yaml", "demo.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    cfg = load_config(ROOT / "config" / name)
    assert cfg.cameras


def test_errors_name_line_key_value_and_reason() -> None:
    bad = CONTRACT.replace("rate_limit: 10", "rate_limit: -3").replace(
        "direction: entry", "direction: sideways"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(bad, source="f.yaml")
    lines = info.value.lines
    assert len(lines) == 2
    assert any(
        line.startswith("f.yaml:6: cameras -> 0 -> direction:") and "'sideways'" in line
        for line in lines
    ), lines
    assert any("ocr -> rate_limit" in line and "-3" in line and "greater than 0" in line
               for line in lines), lines


def test_typo_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigError, match=r"mqtt -> hots: Extra inputs are not permitted"):
        parse_config(CONTRACT.replace("host: 127.0.0.1", "hots: 127.0.0.1"))


def test_secret_in_yaml_is_refused_and_not_echoed() -> None:
    text = CONTRACT.replace("region: ap-guangzhou", "region: ap-guangzhou\n  secret_key: hunter2")
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert "hunter2" not in str(info.value)
    assert "secrets never go in the YAML" in str(info.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("site: a\ncameras: []", "cameras: List should have at least 1 item"),
        ("site: a/b\ncameras: [{id: c, url: x}]", "site: String should match pattern"),
        ("site: a\ncameras: [{id: c, url: x}, {id: c, url: y}]", "used twice"),
        ("site: a\ncameras: [{id: ocr, url: x}]", "reserved for a status topic"),
        ("site: a\ncameras: [{id: c, url: x, roi: [[0, 0], [2, 0], [1, 1]]}]", "roi -> 1 -> 0"),
        ("- just\n- a list", "top level must be a mapping"),
        ("site: [unclosed", "not valid YAML"),
    ],
)
def test_bad_inputs(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert needle in str(info.value)


def test_secrets_from_env_and_credentials_directory(tmp_path: Path) -> None:
    assert load_secrets({"TENCENTCLOUD_SECRET_ID": "id1", "TENCENTCLOUD_SECRET_KEY": "k1"}) \
        .secret_key == "k1"
    (tmp_path / "tencentcloud_secret_id").write_text("id2\n")
    (tmp_path / "TENCENTCLOUD_SECRET_KEY").write_text("k2\n")
    s = load_secrets({"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert (s.secret_id, s.secret_key, s.mqtt_password) == ("id2", "k2", None)
    assert "k2" not in repr(s)


def test_redact_url() -> None:
    assert redact_url("rtsp://admin:pa:ss@10.0.0.5:554/s") == "rtsp://admin:***@10.0.0.5:554/s"
    assert redact_url("rtsp://10.0.0.5/s") == "rtsp://10.0.0.5/s"
    assert redact_url("/tmp/clip.mp4") == "/tmp/clip.mp4"


def test_check_config_exits_78_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CONTRACT.replace("port: 1883", "port: 99999"))
    proc = subprocess.run(
        [sys.executable, "-m", "daemon", "check-config", str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )
    assert proc.returncode == EX_CONFIG
    assert f"{path}:19: mqtt -> port: Input should be less than or equal to 65535 (got 99999)" \
        in proc.stderr, proc.stderr


def test_check_config_ok(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(CONTRACT)
    proc = subprocess.run(
        [sys.executable, "-m", "daemon", "check-config", str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok: site lot-a" in proc.stdout


_BASE = "site: a\ncameras: [{id: c, url: x}]\n"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("mqtt: {topic_prefix: 'gatecam/'}", "mqtt -> topic_prefix"),
        ("mqtt: {topic_prefix: '/gatecam'}", "mqtt -> topic_prefix"),
        ("mqtt: {topic_prefix: 'acme//gatecam'}", "mqtt -> topic_prefix"),
        ("mqtt: {topic_prefix: '$SYS/gatecam'}", "mqtt -> topic_prefix"),
        ("mqtt: {topic_prefix: '$gatecam'}", "mqtt -> topic_prefix"),
        ("mqtt: {ha_discovery_prefix: 'homeassistant/'}", "mqtt -> ha_discovery_prefix"),
        ("mqtt: {late_after_s: .inf}", "mqtt -> late_after_s"),
        ("mqtt: {late_after_s: 1e300}", "mqtt -> late_after_s"),  # timedelta overflow
        ("mqtt: {host: ''}", "mqtt -> host"),
        ("passage: {max_open_s: .inf}", "passage -> max_open_s"),
        ("store: {retention: {db_max_bytes: .inf}}", "store -> retention -> db_max_bytes"),
        ("cameras: [{id: c, url: x, motion: {start_fraction: .nan}}]",
         "cameras -> 0 -> motion -> start_fraction"),
        ("cameras: [{id: c, url: x, roi: [[0, 0], [0.5, 0.5], [1, 1]]}]", "cameras -> 0 -> roi"),
        ("store: {url: 'postgres://u@db/gatecam'}", "store -> url"),  # SQLAlchemy: postgresql
        ("store: {url: 'not a url'}", "store -> url"),
    ],
)
def test_values_that_crashed_at_start_are_config_errors(extra: str, key: str) -> None:
    text = "site: a\n" + extra if extra.startswith("cameras") else _BASE + extra
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="g.yaml")
    assert any("g.yaml:" in ln and f" {key}: " in ln for ln in info.value.lines), \
        info.value.lines


@pytest.mark.parametrize("prefix", ["gatecam", "acme/gatecam", "a-b_c.d/x1", "ha"])
def test_every_accepted_prefix_builds_every_topic(prefix: str) -> None:
    from daemon import contract

    cfg = parse_config(_BASE + f"mqtt: {{topic_prefix: '{prefix}', ha_discovery_prefix: "
                       f"'{prefix}'}}\n")
    assert contract.site_status_topic(cfg.mqtt.topic_prefix, cfg.site) == f"{prefix}/a/status"
    assert contract.gate_topic(cfg.mqtt.topic_prefix, cfg.site, "c") == f"{prefix}/a/c/gate"


def test_bad_value_exits_78_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_BASE + "mqtt:\n  late_after_s: .inf\n")
    proc = subprocess.run([sys.executable, "-m", "daemon", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert proc.returncode == EX_CONFIG, proc.stderr
    assert f"{path}:4: mqtt -> late_after_s:" in proc.stderr, proc.stderr
