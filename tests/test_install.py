"""scripts/install.sh into a temporary root: files, modes, enablement, idempotence, uninstall."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
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


SERVICE_UID, OPERATOR_UID, OUTSIDER_UID = 4301, 4302, 4303
"""Numeric ids standing for the service user gatecam (its group too), an operator in the
group gatecam and a user outside it; setpriv runs the commands as them."""

_SERVICE_WRITE = """
import sys
from datetime import UTC, datetime
from daemon.domain import Passage
from daemon.store.db import Store
s = Store(sys.argv[1])
now = datetime.now(UTC)
s.record_passage(Passage(event_id=sys.argv[2], site="lot-a", camera="entry-1",
                         direction="entry", captured_at=now, decided_at=now, plate="京AF0236"),
                 [], [])
print(s.passage_count())
s.close()
"""


_UMASK_THEN = """
import os, runpy, sys
os.umask(int(sys.argv[1], 8))
mode, target, rest = sys.argv[2], sys.argv[3], sys.argv[4:]
sys.argv = [target, *rest]
if mode == "-m":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    exec(target)
"""
"""Set the umask inside Python, then run ``-m MODULE ARGS`` or ``-c CODE ARGS``: setpriv
execs the interpreter itself (a shell in between may not reach a venv under /root)."""


def _as(uid: int, *args: str, groups: str = "", umask: str = "0022",
        ) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` as ``uid`` (gid = uid) with ``umask``, from the checkout."""
    ids = ["--reuid", str(uid), "--regid", str(uid),
           *(["--groups", groups] if groups else ["--clear-groups"])]
    return subprocess.run(["setpriv", *ids, sys.executable, "-c", _UMASK_THEN, umask, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.timeout(120)
def test_operators_in_the_group_use_the_database_without_root(tmp_path: Path) -> None:
    """Was: the database belonged to a dynamic user: plates/allow needed root, no gatecam on
    PATH, and a root run could leave root-owned -wal/-shm files the service cannot write."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as the service and an operator")
    root = tmp_path / "root"
    _run(root)
    assert re.search(r"^gatecam:x:\d+:\d+:[^:]*:/var/lib/gatecam:/usr/sbin/nologin$",
                     (root / "etc/passwd").read_text(), re.M)
    assert re.search(r"^gatecam:x:\d+:", (root / "etc/group").read_text(), re.M)
    wrapper = root / "usr/local/bin/gatecam"
    assert _mode(wrapper) == 0o755

    # the state folder as systemd makes it from the unit: owner gatecam, 2770
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="gatecam-ops-"))
    try:
        base.chmod(0o755)
        state = base / "state"
        state.mkdir()
        os.chown(state, SERVICE_UID, SERVICE_UID)
        state.chmod(0o2770)
        url = f"sqlite:///{state}/gatecam.db"
        cfg = base / "gatecam.yaml"
        cfg.write_text(f"site: lot-a\nstore:\n  url: {url}\ncameras:\n"
                       "  - id: entry-1\n    url: rtsp://127.0.0.1/x\n")
        py = sys.executable
        service = _as(SERVICE_UID, "-c", _SERVICE_WRITE, url, "ev-1", umask="0007")
        assert service.returncode == 0, service.stderr

        group = str(SERVICE_UID)  # the operator is in the group gatecam
        listed = _as(OPERATOR_UID, "-m", "daemon", "plates", "-c", str(cfg), "--json",
                     groups=group)
        assert listed.returncode == 0 and '"ev-1"' in listed.stdout, listed.stderr
        added = _as(OPERATOR_UID, "-m", "daemon", "allow", "-c", str(cfg), "add",
                    "京B12345", groups=group)
        assert added.returncode == 0, added.stderr
        # root through the wrapper runs as the service user: nothing root-owned is left
        as_root = subprocess.run(
            [str(wrapper), "allow", "-c", str(cfg), "add", "京C54321"], cwd=ROOT,
            env={**os.environ, "GATECAM_VENV": str(Path(py).parent.parent),
                 "GATECAM_USER": str(SERVICE_UID)},
            capture_output=True, text=True, timeout=60, check=False)
        assert as_root.returncode == 0, as_root.stderr
        outsider = _as(OUTSIDER_UID, "-m", "daemon", "plates", "-c", str(cfg))
        [line] = outsider.stderr.strip().splitlines()  # one line with the remedy
        assert outsider.returncode == 1 and "usermod -aG gatecam" in line, outsider.stderr

        again = _as(SERVICE_UID, "-c", _SERVICE_WRITE, url, "ev-2", umask="0007")
        assert again.returncode == 0 and again.stdout.strip() == "2", again.stderr
        files = list(state.iterdir())
        assert files and all(f.stat().st_uid != 0 for f in files), \
            [(f.name, f.stat().st_uid) for f in files]
        for f in files:
            assert f.stat().st_gid == SERVICE_UID and _mode(f) & 0o060 == 0o060, f
    finally:
        shutil.rmtree(base, ignore_errors=True)

    _run(root, "--uninstall")
    assert not wrapper.exists()
