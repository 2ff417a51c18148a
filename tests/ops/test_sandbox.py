"""The network drop-in: LAN denied but for the configured peers and DNS, binds only metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from daemon.config.models import parse_config
from daemon.ops.sandbox import LAN_NETWORKS, dropin, nameservers

ROOT = Path(__file__).resolve().parents[2]


def _directives(text: str) -> list[tuple[str, str]]:
    return [tuple(ln.split("=", 1)) for ln in text.splitlines()  # type: ignore[misc]
            if "=" in ln and not ln.startswith("#")]


def test_dropin_allows_exactly_the_configured_lan_peers() -> None:
    cfg = parse_config("""
site: a
cameras:
  - {id: c1, url: 'rtsp://admin:p@ss/w@192.168.1.20:554/live'}
  - {id: c2, url: 'rtsp://cam-2.lan/live', rtsp_transport: udp}
  - {id: c3, url: /srv/clip.mp4}
  - {id: c4, url: 'rtsp://10.9.9.9/x', enabled: false}
mqtt: {host: broker.lan}
health: {metrics_port: 9200}
""")
    names = {"cam-2.lan": ["192.168.1.21"], "broker.lan": ["10.0.0.2", "fd00::2"]}
    text = dropin(cfg, ["192.168.1.1"], lambda h: names.get(h, []))
    d = _directives(text)
    assert ("IPAddressDeny", " ".join(LAN_NETWORKS)) in d
    allowed = [v for k, v in d if k == "IPAddressAllow"]
    assert allowed == ["localhost", "192.168.1.20", "192.168.1.21", "10.0.0.2 fd00::2",
                       "192.168.1.1"]  # cameras, broker, DNS
    assert "# OCR endpoint: ocr.tencentcloudapi.com (the cloud: not restricted" in text
    assert "10.9.9.9" not in text and "p@ss" not in text  # disabled camera; no password
    binds = [v for k, v in d if k.startswith("SocketBind")]
    assert binds == ["any", "", "tcp:9200", "udp"]


def test_an_unresolved_name_is_said_not_dropped() -> None:
    cfg = parse_config("site: a\ncameras: [{id: c, url: 'rtsp://gone.lan/x'}]\n"
                       "mqtt: {enabled: false}\nhealth: {metrics_enabled: false}\n")
    text = dropin(cfg, [], lambda h: [])
    assert "# camera c: gone.lan (not resolved: allow its address here)" in text
    assert [v for k, v in _directives(text) if k == "SocketBindAllow"] == [""]


def test_nameservers_and_the_command(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# x\nnameserver 192.168.1.1\nnameserver fd00::1\nsearch lan\n")
    assert nameservers(resolv) == ["192.168.1.1", "fd00::1"]
    proc = subprocess.run([sys.executable, "-m", "daemon.ops.sandbox", "-c",
                           str(ROOT / "config/gatecam.example.yaml"), "--resolv-conf", str(resolv)],
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("#") and "IPAddressAllow=192.168.1.1\n" in proc.stdout
    assert "# camera entry-1: 192.0.2.10 (loopback or internet" in proc.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: a\n")
    proc = subprocess.run([sys.executable, "-m", "daemon.ops.sandbox", "-c", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert proc.returncode == 78 and "cameras" in proc.stderr


def test_operator_page_port_is_bindable_only_when_on() -> None:
    base = "site: a\ncameras: [{id: c, url: 'rtsp://127.0.0.1/x'}]\nhealth: {metrics_port: 9200}\n"
    off = _directives(dropin(parse_config(base), []))
    assert [v for k, v in off if k == "SocketBindAllow"] == ["", "tcp:9200"]
    on = dropin(parse_config(base + "web: {enabled: true, port: 8088}\n"), [])
    assert [v for k, v in _directives(on) if k == "SocketBindAllow"] == ["", "tcp:9200",
                                                                        "tcp:8088"]
    lan = dropin(parse_config(base + "web: {enabled: true, host: 192.168.1.5}\n"), [])
    assert "# operator page on 192.168.1.5: add the attendants'" in lan
