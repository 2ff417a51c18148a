"""Test fixture helper: run ``scripts/rtsp_camera.py`` as a child process serving a clip.

The camera runs under the system Python (GStreamer's RTSP server through python3-gi),
listens on 127.0.0.1 only, and is stopped by its own PID: SIGTERM first, SIGKILL if it
lingers. ``restart()`` brings it back on the same port, so a client configured with
``url`` sees the camera go away and return, like a rebooting IP camera.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from scripts.rig.broker import free_port

__all__ = ["CameraError", "RtspCamera", "free_port"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "rtsp_camera.py"
SYSTEM_PYTHON = "/usr/bin/python3"


class CameraError(RuntimeError):
    """The camera process did not come up (its stderr tail is in the message)."""


class RtspCamera:
    """An RTSP test camera serving ``clip`` (H.264 MP4) at ``url``.

    ``port=None`` lets the server pick a free port on the first start; later starts
    reuse it. Use as a context manager or call ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        clip: Path,
        port: int | None = None,
        loop: bool = True,
        mount: str = "/cam",
        start_timeout_s: float = 15.0,
        *,
        epoch: float | None = None,
    ) -> None:
        """``epoch``: serve as if the looped clip started at this Unix time (scripts/
        rtsp_camera.py ``--epoch``): two cameras of one clip act as one camera's streams."""
        self.epoch = epoch
        self.clip = Path(clip)
        self.port = port
        self.loop = loop
        self.mount = mount if mount.startswith("/") else "/" + mount
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """``rtsp://127.0.0.1:<port><mount>``; known once started (or if a port was given)."""
        if self.port is None:
            raise RuntimeError("the camera has no port yet: start() it first")
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    @property
    def pid(self) -> int | None:
        """PID of the running camera process, if any."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        """True while the camera process is alive."""
        return self.pid is not None

    def start(self) -> RtspCamera:
        """Spawn the camera and wait (bounded) for its READY line."""
        if self.running:
            return self
        cmd = [SYSTEM_PYTHON, str(SCRIPT), "--clip", str(self.clip), "--mount", self.mount]
        cmd += ["--port", str(self.port if self.port is not None else 0)]
        if self.loop:
            cmd.append("--loop")
        if self.epoch is not None:
            cmd += ["--epoch", repr(self.epoch)]
        # stderr goes to a file, not a pipe nobody drains (a full pipe would stall the camera)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL
        )
        self._proc = proc
        deadline = time.monotonic() + self.start_timeout_s
        line = b""
        if proc.stdout is None:
            raise CameraError("the camera process has no stdout pipe")
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 0.1)
            if ready:
                line = proc.stdout.readline()
                if line.startswith(b"READY "):
                    break
        if not line.startswith(b"READY "):
            err = self._kill()
            raise CameraError(f"rtsp camera did not start: {err[-2000:]!r}")
        url = line.decode().split()[1]
        self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        log.info("rtsp camera %s up (pid %s)", url, proc.pid)
        return self

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM our process, SIGKILL it after ``timeout_s``; return its exit status."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("rtsp camera pid %s ignored SIGTERM; killing it", proc.pid)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout_s)
        self._close_pipes()
        self._proc = None
        return proc.returncode

    def restart(self, down_s: float = 0.0) -> RtspCamera:
        """Stop, stay down ``down_s`` seconds, and start again on the same port."""
        self.stop()
        if down_s > 0:
            time.sleep(down_s)
        return self.start()

    def _kill(self) -> str:
        proc = self._proc
        err = b""
        if proc is not None:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
            if self._log is not None:
                self._log.seek(0)
                err = self._log.read()
            self._close_pipes()
            self._proc = None
        return err.decode(errors="replace")

    def _close_pipes(self) -> None:
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
