"""The soak's faults (scripts/soak.py): what each does, when it ends, what it counted.

``Faults.start(name)`` / ``Faults.end(name)`` for ``broker_kill`` (SIGKILL our mosquitto,
start it again on the same port), ``disk_full`` (fill the tmpfs holding the database and
snapshots, then delete the filler), ``ocr_faults`` (errors, timeouts and
``RequestLimitExceeded`` from the emulator's fault plan) and ``metrics_flood`` (idle
loopback connections held on the metrics port). Everything is loopback and bounded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from daemon.ocr.emulator.faults import FaultPlan, FaultRule
from scripts.rig.broker import Mosquitto

FLOOD_CONNECTIONS = 100

def log(msg: str) -> None:
    """A timestamped progress line on stderr (stdout carries the figures)."""
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Figures:
    """What the soak measured, printed at the end."""

    minutes: float
    broker_kills: int = 0
    disk_fill: str = "not run"
    disk_fill_bytes: int = 0
    ocr_fault_answers: int = 0
    flood_connections: int = 0
    healthz_during_flood: str = "not run"
    """A refusal (503) here is the server's connection cap working, not a failure."""
    healthz_after_flood: str = "not run"
    daemon_starts: int = 0
    exit_codes: list[int] = field(default_factory=list)
    max_rss_kb: int = 0
    log_errors: int = 0
    """Daemon log lines at ERROR or CRITICAL, and tracebacks (reported, not a failure)."""


class TmpfsDisk:
    """A small tmpfs holding the database, so the disk can be filled and freed."""

    def __init__(self, mountpoint: Path, size_mb: int = 24) -> None:
        self.path = mountpoint
        self.size_mb = size_mb
        self.mounted = False
        self.skip_reason = ""
        self._filler = mountpoint / "filler.bin"

    def mount(self) -> bool:
        """Mount (root only); on failure record why and return False."""
        self.path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            self.skip_reason = "skipped: not root (cannot mount a tmpfs)"
            return False
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0700", "tmpfs",
             str(self.path)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            self.skip_reason = f"skipped: mount failed ({res.stderr.strip()[:120]})"
            return False
        self.mounted = True
        return True

    def fill(self) -> int:
        """Write until ENOSPC; return the bytes written."""
        written = 0
        chunk = b"\0" * (1 << 20)
        with self._filler.open("wb") as f:
            while True:
                try:
                    f.write(chunk)
                    f.flush()
                    written += len(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                if written > (self.size_mb + 8) << 20:
                    break  # never loop for ever
        with contextlib.suppress(OSError), self._filler.open("ab") as f:
            for _ in range(256):  # the last partial megabyte too, page by page
                f.write(b"\0" * 4096)
                f.flush()
                written += 4096
        return written

    def free(self) -> None:
        """Delete the filler."""
        self._filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        """Unmount (after the daemon stopped)."""
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)
            self.mounted = False


class Faults:
    """Starts and ends each scheduled fault; counts what it did into ``figures``."""

    def __init__(self, broker: Mosquitto, disk: TmpfsDisk, plan: FaultPlan, *, metrics_port: int,
                 figures: Figures, ocr_timeout_s: float) -> None:
        self.broker, self.disk, self.plan = broker, disk, plan
        self.metrics_port, self.figures = metrics_port, figures
        self.ocr_timeout_s = ocr_timeout_s
        self._socks: list[socket.socket] = []

    def start(self, name: str) -> None:
        """Begin fault ``name``."""
        log(f"fault {name}: start")
        getattr(self, f"_start_{name}")()

    def end(self, name: str) -> None:
        """End fault ``name``."""
        getattr(self, f"_end_{name}")()
        log(f"fault {name}: end")

    def _start_broker_kill(self) -> None:
        self.broker.kill()
        self.figures.broker_kills += 1

    def _end_broker_kill(self) -> None:
        self.broker.start()

    def _start_disk_full(self) -> None:
        if not self.disk.mounted:
            self.figures.disk_fill = self.disk.skip_reason
            return
        self.figures.disk_fill_bytes = self.disk.fill()
        self.figures.disk_fill = "done"

    def _end_disk_full(self) -> None:
        self.disk.free()

    def _start_ocr_faults(self) -> None:
        self.plan.add([
            FaultRule("error", code="RequestLimitExceeded", times=None, probability=0.3),
            FaultRule("timeout", times=None, probability=0.2, latency_s=self.ocr_timeout_s),
            FaultRule("error", code="InternalError", times=None, probability=0.3),
        ])

    def _end_ocr_faults(self) -> None:
        self.plan.clear()
        self.figures.ocr_fault_answers = self.plan.fired

    def _start_metrics_flood(self) -> None:
        for _ in range(FLOOD_CONNECTIONS):
            try:
                self._socks.append(
                    socket.create_connection(("127.0.0.1", self.metrics_port), timeout=2))
            except OSError:
                break
        self.figures.flood_connections = len(self._socks)
        self.figures.healthz_during_flood = probe_healthz(self.metrics_port)

    def _end_metrics_flood(self) -> None:
        for s in self._socks:
            s.close()
        if self._socks:
            time.sleep(0.2)  # the server sees the closes
            self.figures.healthz_after_flood = probe_healthz(self.metrics_port)
        self._socks.clear()

    def end_all(self) -> None:
        """Undo whatever is still on (broker up, disk freed, no faults, sockets closed)."""
        self._end_metrics_flood()
        self.plan.clear()
        self.disk.free()
        with contextlib.suppress(RuntimeError):
            self.broker.start()


def probe_healthz(port: int) -> str:
    """``/healthz`` status (or the error) while the flood holds its connections."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return f"HTTP {r.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except OSError as exc:
        return f"error: {exc}"
