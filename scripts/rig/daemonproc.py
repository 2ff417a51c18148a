"""The daemon as a child process (``python -m daemon ARGS``) with the emulator's test keys:
for end-to-end tests and the soak; it only ever signals the PID it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
E2E_SECRET_ID = "AKIDgatecamE2E"  # noqa: S105 - the emulator's test key, never valid at Tencent
E2E_SECRET_KEY = "gatecam-e2e-key"  # noqa: S105 - likewise


class DaemonProcess:
    """``python -m daemon ARGS`` as a child process with the emulator's credentials."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=E2E_SECRET_ID,
                   TENCENTCLOUD_SECRET_KEY=E2E_SECRET_KEY, PYTHONUNBUFFERED="1")
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", *args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=self._log,
        )

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM our child (by PID) and wait; SIGKILL if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)

    def log(self) -> str:
        """What the daemon logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")
