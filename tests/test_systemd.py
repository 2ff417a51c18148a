"""The unit file and the daemon as systemd sees it: security score, verify, notify, exit 78."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from daemon.app import STOP_BUDGET_S
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ops.logsetup import is_journal_stream
from scripts.rig.clips import ClipStore, clips
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, ROOT, wait_until
from tests.support.notify import NotifySocket

__all__ = ["clips"]

UNIT = ROOT / "systemd" / "gatecam.service"
VENV_GATECAM = Path(sys.executable).with_name("gatecam")


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze missing (Debian package systemd; scripts/setup.sh)")
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    return tool


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_declares_the_contract() -> None:
    d = _directives(UNIT.read_text())
    assert d["Type"] == ["notify"]
    assert d["Restart"] == ["on-failure"] and d["RestartSec"] == ["5"]
    assert d["RestartPreventExitStatus"] == ["78"]
    assert int(d["WatchdogSec"][0]) >= 10
    # a static user so the config can be root:gatecam 0640 (tests/test_install.py)
    assert d["User"] == ["gatecam"] and d["Group"] == ["gatecam"]
    # the LAN is denied but for what the config names (drop-in); binds only the metrics port
    assert set(d["IPAddressDeny"][0].split()) >= {"10.0.0.0/8", "172.16.0.0/12",
                                                  "192.168.0.0/16", "fe80::/10"}
    assert d["IPAddressAllow"] == ["localhost"]
    assert d["SocketBindDeny"] == ["any"] and d["SocketBindAllow"] == ["tcp:9108"]
    assert d["StateDirectoryMode"] == ["2770"] and d["UMask"] == ["0007"]
    assert d["StateDirectory"] == ["gatecam"] and d["ConfigurationDirectory"] == ["gatecam"]
    creds = {v.split(":", 1)[0] for v in d["LoadCredential"]}
    assert creds == {"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "GATECAM_MQTT_PASSWORD",
                     "GATECAM_GATE_KEY", "camera"}
    # App.stop() bounds itself below the unit's stop timeout, leaving time for the exit
    assert int(d["TimeoutStopSec"][0]) >= STOP_BUDGET_S + 5
    assert "gatecam run --strict --config /etc/gatecam/gatecam.yaml" in d["ExecStart"][0]
    assert d["ExecStartPre"] == ["-/opt/gatecam/.venv/bin/gatecam migrate --config "
                                 "/etc/gatecam/gatecam.yaml"]


def test_security_exposure_at_most_2() -> None:
    tool = _systemd_analyze()
    res = subprocess.run([tool, "security", "--offline=true", "--no-pager", str(UNIT)],
                         capture_output=True, text=True, timeout=60, check=False)
    m = re.search(r"Overall exposure level for gatecam\.service: ([0-9.]+)", res.stdout)
    assert m, res.stdout[-2000:] + res.stderr
    assert float(m.group(1)) <= 2.0, res.stdout


def test_verify_is_clean(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    assert VENV_GATECAM.is_file(), "the venv's gatecam console script is missing"
    text = UNIT.read_text().replace("/opt/gatecam/.venv/bin/gatecam", str(VENV_GATECAM))
    # with the network drop-in install.sh writes (daemon/ops/sandbox.py) appended
    from daemon.config.models import load_config
    from daemon.ops.sandbox import dropin

    cfg = load_config(ROOT / "config" / "gatecam.example.yaml")
    extra = dropin(cfg, ["192.168.1.1"], lambda host: ["192.168.1.50"])
    text = text.replace("[Install]", extra.replace("[Service]\n", "") + "\n[Install]")
    unit = tmp_path / "gatecam.service"
    unit.write_text(text)
    res = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0 and not res.stderr.strip() and not res.stdout.strip(), (
        res.stdout + res.stderr)


def _env(tmp_path: Path, notify: NotifySocket | None, journal: Path | None = None,
         ) -> dict[str, str]:
    """The daemon's environment; ``journal``: the file standing in for journald's stream."""
    env = dict(os.environ, TENCENTCLOUD_SECRET_ID=E2E_SECRET_ID,
               TENCENTCLOUD_SECRET_KEY=E2E_SECRET_KEY, PYTHONUNBUFFERED="1")
    if journal is not None:  # systemd.exec(5): JOURNAL_STREAM is stderr's device:inode
        st = journal.stat()
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    if notify is not None:
        env.update(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="2000000")
    return env


def test_journal_format_only_when_stderr_is_the_journal_stream(tmp_path: Path) -> None:
    journal, other = tmp_path / "journal", tmp_path / "other"
    journal.touch()
    other.touch()
    st = journal.stat()
    env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    with journal.open("w") as j, other.open("w") as o:
        assert is_journal_stream(j, env)
        assert not is_journal_stream(o, env)  # inherited variable, redirected stderr
        assert not is_journal_stream(j, {})
        assert not is_journal_stream(j, {"JOURNAL_STREAM": "garbage"})
    assert is_journal_stream(io.StringIO(), env)  # no fd to compare: trust the variable


def test_bad_config_exits_78_and_never_says_ready(tmp_path: Path) -> None:
    notify = NotifySocket(str(tmp_path / "n.sock"))
    try:
        bad = tmp_path / "bad.yaml"
        bad.write_text(
            "site: lot-a\ncameras:\n  - id: entry-1\n    url: x.mp4\nmqtt:\n  port: 99999\n"
        )
        res = subprocess.run([sys.executable, "-m", "daemon", "run", "--config", str(bad)],
                             cwd=ROOT, env=_env(tmp_path, notify), capture_output=True,
                             text=True, timeout=60, check=False)
        assert res.returncode == 78, res.stderr
        assert "bad.yaml:6: mqtt -> port" in res.stderr
        assert not notify.with_key("READY")
    finally:
        notify.close()


@pytest.mark.timeout(90)
def test_run_under_notify_socket_ready_watchdog_journal_metrics_and_clean_stop(
    tmp_path: Path, clips: ClipStore, ocr_emulator: EmulatorServer,
) -> None:
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    cfg = {
        "site": "lot-a",
        "cameras": [{"id": "entry-1", "url": "rtsp://viewer:Sup3rS3cret@127.0.0.1:9/none",
                     "open_timeout_s": 1, "read_timeout_s": 1},
                    {"id": "entry-2", "url": str(clip), "loop": True}],
        "ocr": {"endpoint": ocr_emulator.url},
        "store": {"url": f"sqlite:///{tmp_path}/g.db"},
        "mqtt": {"enabled": False},
        "health": {"metrics_port": 0},
    }
    # entry-1 cannot be reached: reporting it offline is a healthy answer
    path = tmp_path / "gatecam.yaml"
    path.write_text(yaml.safe_dump(cfg))
    notify = NotifySocket(str(tmp_path / "n.sock"))
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log_file:
        env = _env(tmp_path, notify, journal=log_path)
        proc = subprocess.Popen([sys.executable, "-m", "daemon", "run", "--config", str(path)],
                                cwd=ROOT, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT)
        try:
            assert wait_until(lambda: notify.with_key("READY"), 30), log_path.read_text()
            assert wait_until(lambda: len(notify.with_key("WATCHDOG")) >= 2, 10), notify.messages
            status = notify.with_key("STATUS")[-1]["STATUS"]
            assert "camera(s) streaming" in status and "STALLED" not in status
            text = log_path.read_text()
            port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", text)[1])
            assert wait_until(lambda: "gatecam_frames_total{camera=\"entry-2\"}" in httpx.get(
                f"http://127.0.0.1:{port}/metrics", timeout=3).text, 10)
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3).json()
            assert health["alive"] and health["cameras"]["entry-2"]["state"] == "streaming"
            assert health["cameras"]["entry-1"]["state"] in ("reconnecting", "offline")
            cfg["health"] = {"metrics_port": port}
            status_cfg = tmp_path / "status.yaml"
            status_cfg.write_text(yaml.safe_dump(cfg))
            st = subprocess.run(
                [sys.executable, "-m", "daemon", "status", "--config", str(status_cfg)],
                cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
            assert st.returncode == 0, st.stdout + st.stderr
            assert st.stdout.startswith("gatecam: ALIVE"), st.stdout
            assert re.search(r"camera entry-2 +streaming", st.stdout), st.stdout
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(30)
    notify.close()
    text = log_path.read_text()
    assert rc == 0, text[-3000:]
    assert notify.with_key("STOPPING")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines and all(re.match(r"<[0-7]>", ln) for ln in lines), lines[:5]
    assert not re.search(r"<\d>\d{4}-\d\d-\d\d", text)  # journald stamps time itself
    assert "Sup3rS3cret" not in text and E2E_SECRET_KEY not in text
