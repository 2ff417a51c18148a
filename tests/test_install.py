"""scripts/install.sh into a temporary root: files, modes, enablement, idempotence, uninstall."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.daemon import ROOT

SCRIPT = ROOT / "scripts" / "install.sh"
SECRETS = ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "GATECAM_MQTT_PASSWORD")


def _run(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    base["PYTHON"] = sys.executable  # runs the network drop-in helper (no pip install: --no-pip)
    res = subprocess.run(["bash", str(SCRIPT), "--root", str(root), "--no-pip", *args],
                         env={**base, **env}, capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _gid(root: Path, group: str) -> int:
    for line in (root / "etc/group").read_text().splitlines():
        name, _, gid, *_ = line.split(":")
        if name == group:
            return int(gid)
    raise AssertionError(f"no group {group} in {root}/etc/group")


def _directives(unit: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


@pytest.mark.timeout(120)
def test_install_is_complete_idempotent_and_uninstalls(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _run(root, TENCENTCLOUD_SECRET_ID="AKIDinstall", TENCENTCLOUD_SECRET_KEY="key-install")
    etc, creds = root / "etc/gatecam", root / "etc/gatecam/credentials"
    unit = root / "etc/systemd/system/gatecam.service"
    assert (root / "opt/gatecam/.venv/bin/python").exists()
    assert (root / "opt/gatecam/README.md").is_file()
    assert unit.read_text() == (ROOT / "systemd/gatecam.service").read_text()
    wants = root / "etc/systemd/system/multi-user.target.wants/gatecam.service"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/gatecam.service"
    assert (etc / "gatecam.yaml").read_text() == (ROOT / "config/gatecam.example.yaml").read_text()
    # camera URLs may carry passwords: not world-readable, readable by the service's group
    gid = _gid(root, "gatecam")
    assert (root / "usr/lib/sysusers.d/gatecam.conf").is_file()
    assert "gatecam:x:" in (root / "etc/passwd").read_text()
    assert (_mode(etc / "gatecam.yaml"), (etc / "gatecam.yaml").stat().st_gid) == (0o640, gid)
    assert (_mode(etc), etc.stat().st_gid, etc.stat().st_uid) == (0o750, gid, 0)
    assert _directives(unit)["Group"] == ["gatecam"]
    # the network drop-in, from the config
    net = (root / "etc/systemd/system/gatecam.service.d/network.conf").read_text()
    assert "# MQTT broker: 127.0.0.1" in net and "SocketBindAllow=tcp:9108" in net, net
    assert _mode(creds) == 0o700 and _mode(creds / "cameras") == 0o700
    for name in SECRETS:
        assert _mode(creds / name) == 0o600, name
    assert (creds / "TENCENTCLOUD_SECRET_ID").read_text() == "AKIDinstall"
    assert (creds / "GATECAM_MQTT_PASSWORD").read_text() == ""  # means: no password
    # every LoadCredential= of the unit points at a file the installer wrote
    for line in unit.read_text().splitlines():
        if line.startswith("LoadCredential="):
            assert (root / line.split(":", 1)[1].lstrip("/")).exists(), line

    # again, with the operator's edits in place and no secrets in the environment; an
    # older install's world-readable config is made 0640
    (etc / "gatecam.yaml").write_text("site: my-lot\n")
    (etc / "gatecam.yaml").chmod(0o644)
    res = _run(root)
    assert (etc / "gatecam.yaml").read_text() == "site: my-lot\n"
    assert _mode(etc / "gatecam.yaml") == 0o640
    assert "network drop-in NOT written" in res.stderr  # "site: my-lot" alone is not valid
    assert (creds / "TENCENTCLOUD_SECRET_KEY").read_text() == "key-install"
    _run(root, GATECAM_MQTT_PASSWORD="mqtt-pw")  # a new secret replaces the placeholder
    assert (creds / "GATECAM_MQTT_PASSWORD").read_text() == "mqtt-pw"
    assert _mode(creds / "GATECAM_MQTT_PASSWORD") == 0o600

    _run(root, "--uninstall")
    assert not unit.exists() and not wants.exists() and not (root / "opt/gatecam").exists()
    assert not (root / "etc/systemd/system/gatecam.service.d").exists()
    assert (etc / "gatecam.yaml").exists() and (creds / "TENCENTCLOUD_SECRET_ID").exists()
    _run(root, "--uninstall", "--purge")
    assert not etc.exists()
