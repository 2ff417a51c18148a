"""Tell systemd the truth about the pipeline's health: sd_notify and stall detection.

Three parts:

- :class:`Notifier` speaks the sd_notify protocol (``man sd_notify``): one datagram per
  message on the unix socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the
  abstract namespace), newline-separated ``KEY=VALUE`` assignments. Without the variable
  every call is a no-op, so the daemon runs the same outside systemd.
- :func:`assess` is pure: given a :class:`PipelineSnapshot` (each stage's heartbeat, taken
  on the monotonic clock) and ``now``, it says whether every stage is alive and builds the
  one-line ``STATUS=``. A camera is alive when it delivers fresh frames *or* is correctly
  reported offline by a capture thread that still turns its reconnect loop; the lane
  loops and the recorder loop must have turned recently.
- :class:`HealthMonitor` is the thread that polls the app's snapshot, sends ``READY=1``
  once every camera opened or timed out, ``STATUS=`` on change, and ``WATCHDOG=1`` only
  while :func:`assess` says alive. A stalled stage therefore stops the pings and systemd
  (``WatchdogSec=``) kills and restarts the process. Each pass also hands the memory
  glibc keeps after a burst of frame conversions back to the system (daemon.ops.tuning).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from daemon.ops.tuning import trim_heap

log = logging.getLogger(__name__)

DEFAULT_PING_S = 5.0
"""How often the monitor checks the pipeline when systemd asked for no watchdog."""

class Notifier:
    """sd_notify over a unix datagram socket; a no-op when ``socket_path`` is None."""

    def __init__(self, socket_path: str | None) -> None:
        """``socket_path`` as found in ``$NOTIFY_SOCKET`` (``/run/...`` or ``@abstract``)."""
        self._address: str | None = None
        if socket_path:
            if socket_path.startswith("@"):
                self._address = "\0" + socket_path[1:]
            elif socket_path.startswith("/"):
                self._address = socket_path
            else:
                log.warning("NOTIFY_SOCKET %r is neither a path nor @abstract; ignored",
                            socket_path)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.sent: list[str] = []
        """Every message sent, for tests and ``gatecam status``; bounded to the last 50."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd set up for this process, if any."""
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        """True when there is a socket to talk to."""
        return self._address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; False (logged once per error) on failure."""
        if self._address is None or not fields:
            return False
        for key, value in fields.items():
            if "\n" in str(value):
                raise ValueError(f"sd_notify value of {key} must be one line")
        message = "\n".join(f"{key}={value}" for key, value in fields.items())
        with self._lock:
            try:
                if self._sock is None:
                    kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                    self._sock = socket.socket(socket.AF_UNIX, kind)
                self._sock.sendto(message.encode("utf-8"), self._address)
            except OSError as exc:
                log.warning("sd_notify failed (%s): %s", message.split("\n", 1)[0], exc)
                return False
            self.sent = [*self.sent[-49:], message]
        return True

    def close(self) -> None:
        """Close the socket (a later notify opens it again)."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings asked by systemd (half of ``WatchdogSec``), or None.

    ``$WATCHDOG_PID``, when set, must be our PID (the variables may leak to a child).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        seconds = int(usec) / 1_000_000
    except ValueError:
        return None
    return seconds / 2 if seconds > 0 else None


# -- pure assessment ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CameraBeat:
    """What the health check needs of one camera (capture and lane threads)."""

    camera_id: str
    state: str
    """Capture state: starting, streaming, reconnecting, offline, ended."""
    capture_alive: bool
    capture_beat: float
    """Monotonic time the capture loop last made progress (a frame or an attempt)."""
    last_frame: float | None
    """Monotonic time of the newest frame, None if none yet."""
    lane_alive: bool
    lane_beat: float
    """Monotonic time the lane loop last turned."""
    offline_grace_s: float
    """Longest a healthy reconnect cycle may stay silent: open timeout + backoff + margin."""


@dataclass(frozen=True, slots=True)
class PipelineSnapshot:
    """Every stage's heartbeat at one instant."""

    cameras: Sequence[CameraBeat]
    recorder_alive: bool
    recorder_beat: float
    passages: int = 0
    outbox_backlog: int | None = None
    stopping: bool = False
    ocr_stuck_s: float | None = None
    """Seconds the OCR circuit's half-open probe has been out beyond a whole cool-down
    (:meth:`daemon.ocr.circuit.OcrCircuit.stuck_for`); None while the circuit progresses."""


@dataclass(frozen=True, slots=True)
class HealthLimits:
    """How old a heartbeat may get before the stage counts as stalled."""

    frame_stale_s: float = 15.0
    lane_stale_s: float = 30.0
    recorder_stale_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of :func:`assess`."""

    alive: bool
    problems: tuple[str, ...]
    status: str
    """One line for ``STATUS=`` and ``gatecam status``."""
    ready: bool
    """Every camera has opened or timed out (no camera still ``starting``)."""
    states: Mapping[str, str] = field(default_factory=dict)


def _camera_problem(cam: CameraBeat, now: float, limits: HealthLimits) -> str | None:
    if not cam.capture_alive:
        return None if cam.state == "ended" else f"{cam.camera_id}: capture thread died"
    if cam.state == "streaming":
        age = now - cam.last_frame if cam.last_frame is not None else float("inf")
        if age > limits.frame_stale_s:
            return f"{cam.camera_id}: streaming but no frame for {age:.0f} s"
    elif now - cam.capture_beat > cam.offline_grace_s:
        return (f"{cam.camera_id}: capture {cam.state} and stuck for "
                f"{now - cam.capture_beat:.0f} s")
    return None


def _lane_problem(cam: CameraBeat, now: float, limits: HealthLimits) -> str | None:
    if not cam.lane_alive:
        return None if cam.state == "ended" else f"{cam.camera_id}: lane thread died"
    if now - cam.lane_beat > limits.lane_stale_s:
        return f"{cam.camera_id}: lane loop stuck for {now - cam.lane_beat:.0f} s"
    return None


def assess(snap: PipelineSnapshot, now: float, limits: HealthLimits) -> Verdict:
    """Is every stage alive at ``now`` (monotonic seconds)? Pure: no I/O, no clock."""
    problems: list[str] = []
    for cam in snap.cameras:
        for problem in (_camera_problem(cam, now, limits), _lane_problem(cam, now, limits)):
            if problem:
                problems.append(problem)
    if not snap.recorder_alive:
        problems.append("recorder thread died")
    elif now - snap.recorder_beat > limits.recorder_stale_s:
        problems.append(f"recorder stuck for {now - snap.recorder_beat:.0f} s")
    if snap.ocr_stuck_s is not None:  # no OCR call can go out again until a restart
        problems.append(f"OCR circuit probe stuck for {snap.ocr_stuck_s:.0f} s")
    states = {c.camera_id: c.state for c in snap.cameras}
    streaming = sum(1 for s in states.values() if s == "streaming")
    parts = [f"{streaming}/{len(states)} camera(s) streaming"]
    parts += [f"{cid} {state}" for cid, state in states.items() if state != "streaming"]
    parts.append(f"{snap.passages} passage(s)")
    if snap.outbox_backlog:
        parts.append(f"outbox {snap.outbox_backlog}")
    if problems:
        parts.append("STALLED: " + "; ".join(problems))
    if snap.stopping:
        parts.insert(0, "stopping")
    return Verdict(
        alive=not problems,
        problems=tuple(problems),
        status=", ".join(parts),
        ready=all(s != "starting" for s in states.values()),
        states=states,
    )


# -- the monitor thread ------------------------------------------------------------------


class HealthMonitor(threading.Thread):
    """Polls ``snapshot()`` and drives READY / STATUS / WATCHDOG; keeps the last verdict."""

    def __init__(
        self,
        snapshot: Callable[[], PipelineSnapshot],
        notifier: Notifier,
        limits: HealthLimits,
        stop: threading.Event,
        *,
        interval_s: float | None = None,
        ready_timeout_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``interval_s`` defaults to half of systemd's ``WatchdogSec`` (or 5 s)."""
        super().__init__(name="health", daemon=True)
        self._snapshot = snapshot
        self.notifier = notifier
        self.limits = limits
        self._stop_event = stop
        self.interval_s = min(interval_s or watchdog_interval() or DEFAULT_PING_S, DEFAULT_PING_S)
        self._ready_deadline = monotonic() + ready_timeout_s
        self._monotonic = monotonic
        self.ready_sent = False
        self.pings = 0
        self.last: Verdict | None = None
        self._last_status = ""
        self._stalled_logged = False

    def check(self) -> Verdict:
        """One pass: assess, then READY=1 / STATUS= / WATCHDOG=1 as the verdict allows."""
        now = self._monotonic()
        verdict = assess(self._snapshot(), now, self.limits)
        self.last = verdict
        fields: dict[str, str | int] = {}
        if not self.ready_sent and (verdict.ready or now >= self._ready_deadline):
            fields["READY"] = 1
            self.ready_sent = True
            log.info("ready: %s", verdict.status)
        if verdict.status != self._last_status:
            fields["STATUS"] = verdict.status
            self._last_status = verdict.status
        if verdict.alive and self.ready_sent:
            fields["WATCHDOG"] = 1  # harmless without WatchdogSec=
            self.pings += 1
            self._stalled_logged = False
        elif not verdict.alive and not self._stalled_logged:
            log.error("pipeline stalled, watchdog pings withheld: %s", "; ".join(verdict.problems))
            self._stalled_logged = True
        self.notifier.notify(**fields)
        return verdict

    def run(self) -> None:
        """Check every ``interval_s`` until stopped; then say STOPPING=1."""
        while True:
            try:
                self.check()
            except Exception:  # health must never take the daemon down
                log.exception("health check failed")
            trim_heap()
            if self._stop_event.wait(self.interval_s):
                break
        self.notifier.notify(STOPPING=1, STATUS="stopping: flushing outbox, publishing offline")
