"""scripts/install.sh into a temporary root: files, modes, enablement, idempotence, uninstall."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.daemon import ROOT

SCRIPT = ROOT / "scripts" / "install.sh"
SECRETS = ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "GATECAM_MQTT_PASSWORD")


def _run(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    res = subprocess.run(["bash", str(SCRIPT), "--root", str(root), "--no-pip", *args],
                         env={**base, **env}, capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


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
    assert _mode(creds) == 0o700
    for name in SECRETS:
        assert _mode(creds / name) == 0o600, name
    assert (creds / "TENCENTCLOUD_SECRET_ID").read_text() == "AKIDinstall"
    assert (creds / "GATECAM_MQTT_PASSWORD").read_text() == ""  # means: no password
    # every LoadCredential= of the unit points at a file the installer wrote
    for line in unit.read_text().splitlines():
        if line.startswith("LoadCredential="):
            assert (root / line.split(":", 1)[1].lstrip("/")).is_file(), line

    # again, with the operator's edits in place and no secrets in the environment
    (etc / "gatecam.yaml").write_text("site: my-lot\n")
    _run(root)
    assert (etc / "gatecam.yaml").read_text() == "site: my-lot\n"
    assert (creds / "TENCENTCLOUD_SECRET_KEY").read_text() == "key-install"
    _run(root, GATECAM_MQTT_PASSWORD="mqtt-pw")  # a new secret replaces the placeholder
    assert (creds / "GATECAM_MQTT_PASSWORD").read_text() == "mqtt-pw"
    assert _mode(creds / "GATECAM_MQTT_PASSWORD") == 0o600

    _run(root, "--uninstall")
    assert not unit.exists() and not wants.exists() and not (root / "opt/gatecam").exists()
    assert (etc / "gatecam.yaml").exists() and (creds / "TENCENTCLOUD_SECRET_ID").exists()
    _run(root, "--uninstall", "--purge")
    assert not etc.exists()
