"""Read a running App's stages into plain snapshots for health.py and metrics.py.

The App hands out a read-only :class:`Stages` view (``App.stages()``); nothing outside
``app.py`` touches the App's fields. This is the one place that knows where each stage
keeps its heartbeat and counters
(capture ``last_beat`` / ``status``, lane ``last_loop_at`` / ``frames``, recorder
``last_beat`` and storage health, the OCR pool's stats and circuit, the outbox), so
health and metrics stay free of the App's internals. Reads are lock-free snapshots of
attributes: a value may be a few milliseconds old, never torn in a way that matters.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from daemon.capture.dual import Capture
from daemon.capture.slot import LatestFrameSlot
from daemon.config.models import CameraConfig
from daemon.lane.worker import LaneWorker
from daemon.mqtt.publisher import Publisher
from daemon.ocr.localpool import LocalReadPool
from daemon.ocr.pool import OcrPool
from daemon.ops.health import CameraBeat, PipelineSnapshot
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from daemon.store.retention import Retention
from daemon.webhook.sender import WebhookSender

log = logging.getLogger(__name__)

OFFLINE_MARGIN_S = 10.0
"""Slack on top of one reconnect cycle before a silent capture thread counts as stuck."""


@dataclass(frozen=True, slots=True)
class CameraStages:
    """One camera's running stages."""

    cfg: CameraConfig
    slot: LatestFrameSlot
    capture: Capture
    lane: LaneWorker


@dataclass(frozen=True, slots=True)
class Stages:
    """The running stages of an App at one instant (None: not started, or not configured)."""

    cameras: tuple[CameraStages, ...]
    store: Store | None
    recorder: Recorder | None
    publisher: Publisher | None
    pool: OcrPool | None
    passages: int
    stopping: bool
    retention: Retention | None = None
    site: str = ""
    clock: dict[str, Any] | None = None
    """:meth:`daemon.ocr.skew.ClockSkew.status` (None: not measured by this App)."""
    local: LocalReadPool | None = None
    webhooks: tuple[WebhookSender, ...] = ()


@dataclass(frozen=True, slots=True)
class CameraView:
    """Counters and state of one camera for /metrics and /healthz."""

    camera_id: str
    state: str
    fps: float
    frames: int
    motion_frames: int
    passages: int
    dropped: int
    frame_age_s: float | None
    error: str | None
    streams: tuple[str, ...] = ("main",)
    """The camera's streams in use (``detect``, ``main``)."""
    reading: str = "main"
    decoding: str = "full"
    """``idle`` while the main stream is not decoded at full rate, else ``full``."""
    duplicates: int = 0
    """Passages not published: the plate was published moments ago (dedup window)."""
    unevidenced: int = 0
    """Passages not published: motion without plate evidence (a walker, a car's rear), or a
    standing vehicle's re-check that decided nothing (the tracker's ``dropped``)."""


@dataclass(frozen=True, slots=True)
class PipelineView:
    """Everything /metrics and /healthz report, taken at one instant."""

    snapshot: PipelineSnapshot
    cameras: list[CameraView]
    passages: int
    outbox_backlog: int | None
    recorder_backlog: int
    ocr: dict[str, Any] = field(default_factory=dict)
    circuit: str | None = None
    """The OCR circuit's state (closed, open, half_open); its details are ``ocr["circuit"]``."""
    storage: dict[str, Any] | None = None
    """:meth:`daemon.store.health.StorageHealth.status`; None before the recorder exists."""
    clock: dict[str, Any] | None = None
    """:meth:`daemon.ocr.skew.ClockSkew.status`: the system clock against the OCR service's."""
    site: str = ""
    """The configured site id (``gatecam status`` checks it is talking to its own daemon)."""
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per webhook target: :meth:`daemon.webhook.sender.WebhookSender.status`."""

    @property
    def warnings(self) -> list[str]:
        """Degradations that do not stall the pipeline (the gate still gets its events)."""
        out = []
        recovered = self.storage.get("recovered") if self.storage is not None else None
        if isinstance(recovered, dict):
            out.append(f"database was corrupt at start ({recovered.get('error')}): moved to "
                       f"{recovered.get('moved_to')}, running on a new one since "
                       f"{recovered.get('at')}")
        if self.storage is not None and not self.storage.get("ok", True):
            out.append(f"storage failing since {self.storage.get('since')}: "
                       f"{self.storage.get('error')}")
        if self.clock is not None and self.clock.get("alert"):
            out.append(f"system clock {self.clock.get('skew_s')} s off the OCR service's "
                       "(gate commands withheld beyond their time to live)")
        circ = self.ocr.get("circuit")
        if isinstance(circ, dict) and circ.get("state") not in (None, "closed"):
            out.append(f"OCR circuit {circ.get('state')} ({circ.get('code')}), "
                       f"retry in {circ.get('retry_in_s')} s")
        for name, st in self.webhooks.items():
            if st["failing"]:
                out.append(f"webhook {name} failing ({st['failing']} attempts in a row): "
                           f"{st['last_error']}")
            elif st.get("reachable") is False:  # the start-up probe: nothing pending yet
                out.append(f"webhook {name} unreachable: {st.get('unreachable_error')}")
        return out


def outbox_backlog(app: Stages) -> int | None:
    """Undelivered outbox rows (one COUNT query), None without a store or on error."""
    store = app.store
    if store is None:
        return None
    try:
        return store.outbox_backlog()
    except Exception as exc:
        log.debug("outbox backlog unavailable: %s", exc)
        return None


def snapshot(app: Stages, *, with_backlog: bool = True) -> PipelineSnapshot:
    """Every stage's heartbeat (monotonic clock) for :func:`daemon.ops.health.assess`."""
    now = time.monotonic()
    beats = []
    for cam in app.cameras:
        cfg = cam.cfg
        grace = (cfg.open_timeout_s + cfg.read_timeout_s + cfg.reconnect_max_s
                 + OFFLINE_MARGIN_S)
        beats.append(CameraBeat(
            camera_id=cfg.id,
            state=cam.capture.status.state,
            capture_alive=cam.capture.is_alive(),
            capture_beat=cam.capture.last_beat,
            last_frame=cam.capture.last_frame_mono,
            lane_alive=cam.lane.is_alive(),
            lane_beat=cam.lane.last_loop_at,
            offline_grace_s=grace,
        ))
    recorder = app.recorder
    pool = app.pool
    return PipelineSnapshot(
        cameras=beats,
        recorder_alive=recorder.alive if recorder is not None else False,
        recorder_beat=recorder.last_beat if recorder is not None else now,
        passages=app.passages,
        outbox_backlog=outbox_backlog(app) if with_backlog else None,
        stopping=app.stopping,
        ocr_stuck_s=pool.circuit.stuck_for() if pool is not None else None,
    )


def view(app: Stages) -> PipelineView:
    """Snapshot plus the counters the metrics endpoint exports."""
    snap = snapshot(app)
    now = time.monotonic()
    cams = []
    for cam in app.cameras:
        status = cam.capture.status
        last = cam.capture.last_frame_mono
        cams.append(CameraView(
            camera_id=cam.cfg.id,
            state=status.state,
            fps=status.fps,
            frames=cam.lane.frames,
            motion_frames=cam.lane.motion_frames,
            passages=cam.lane.passages,
            dropped=cam.slot.dropped,
            frame_age_s=None if last is None else max(0.0, now - last),
            error=status.error,
            streams=status.streams,
            reading=status.reading,
            decoding="idle" if status.idle else "full",
            duplicates=cam.lane.tracker.deduplicated,
            unevidenced=cam.lane.tracker.dropped,
        ))
    pool = app.pool
    recorder = app.recorder
    ocr: dict[str, Any] = dict(pool.stats()) if pool is not None else {}
    if app.local is not None:
        ocr["local"] = app.local.stats()
    circ = ocr.get("circuit")
    circuit = circ.get("state") if isinstance(circ, dict) else None
    return PipelineView(
        snapshot=snap,
        cameras=cams,
        passages=app.passages,
        outbox_backlog=snap.outbox_backlog,
        recorder_backlog=recorder.backlog if recorder is not None else 0,
        ocr=ocr,
        circuit=str(circuit) if circuit is not None else None,
        storage=_storage(app),
        clock=app.clock,
        site=app.site,
        webhooks={w.target.name: w.status() for w in app.webhooks},
    )


def _storage(app: Stages) -> dict[str, Any] | None:
    """The recorder's storage status plus what retention gave up."""
    if app.recorder is None:
        return None
    status = dict(app.recorder.status())
    if app.retention is not None:
        status["undelivered_dropped"] = app.retention.rows.undelivered_dropped
    return status
