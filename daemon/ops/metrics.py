"""The operator's window: Prometheus ``/metrics`` and ``/healthz`` JSON over HTTP on loopback.

Counters that stages already keep (frames, passages, pool stats, outbox) are read at
scrape time by :class:`PipelineCollector` from an :mod:`daemon.ops.observe` view, so the hot
paths carry no instrumentation. Only what needs a distribution is observed as it
happens (:meth:`PipelineMetrics.observe_read`, :meth:`PipelineMetrics.observe_passage`):
OCR latency and calls per passage. Each App has its own registry (tests run several).

The server is bounded: each connection is closed after ``timeout_s`` without progress,
at most ``max_connections`` are served at once (one thread each) and the rest are
answered 503 and closed at once, counted in ``gatecam_metrics_connections_refused``;
a bind outside loopback is logged as a warning (the endpoint has no authentication).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from daemon import __version__
from daemon.domain import Passage, PlateRead
from daemon.ops.health import HealthLimits, Verdict, assess
from daemon.ops.observe import PipelineView
from daemon.ops.serving import (
    CONNECTION_TIMEOUT_S,
    MAX_CONNECTIONS,
    BoundedServer,
    ServerCollector,
    bind_warning,
)

log = logging.getLogger(__name__)

CAMERA_STATES = ("starting", "streaming", "reconnecting", "offline", "ended")
CIRCUIT_STATES = ("closed", "open", "half_open")
OCR_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


class PipelineCollector(Collector):
    """Turns a :class:`PipelineView`, taken at scrape time, into metric families."""

    def __init__(self, view: Callable[[], PipelineView]) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        """Called by the registry on every scrape."""
        v = self._view()
        cam = ["camera"]
        frames = CounterMetricFamily("gatecam_frames", "Frames the lane processed", labels=cam)
        dropped = CounterMetricFamily(
            "gatecam_frames_dropped", "Frames replaced in the slot before use", labels=["camera"]
        )
        motion = CounterMetricFamily(
            "gatecam_motion_frames", "Frames with motion in the lane", labels=["camera"]
        )
        passages = CounterMetricFamily(
            "gatecam_camera_passages", "Passages decided per camera", labels=["camera"]
        )
        age = GaugeMetricFamily(
            "gatecam_frame_age_seconds", "Age of the newest decoded frame", labels=["camera"]
        )
        fps = GaugeMetricFamily("gatecam_camera_fps", "Decoded frames per second", labels=cam)
        state = GaugeMetricFamily(
            "gatecam_camera_state", "1 for the camera's current state", labels=["camera", "state"]
        )
        for c in v.cameras:
            frames.add_metric([c.camera_id], c.frames)
            dropped.add_metric([c.camera_id], c.dropped)
            motion.add_metric([c.camera_id], c.motion_frames)
            passages.add_metric([c.camera_id], c.passages)
            if c.frame_age_s is not None:
                age.add_metric([c.camera_id], c.frame_age_s)
            fps.add_metric([c.camera_id], c.fps)
            for s in CAMERA_STATES:
                state.add_metric([c.camera_id, s], 1.0 if c.state == s else 0.0)
        yield from (frames, dropped, motion, passages, age, fps, state)
        yield CounterMetricFamily("gatecam_passages_committed", "Passages committed",
                                  value=v.passages)
        if v.outbox_backlog is not None:
            yield GaugeMetricFamily("gatecam_outbox_backlog", "Outbox rows not yet delivered",
                                    value=v.outbox_backlog)
        yield GaugeMetricFamily("gatecam_recorder_queue", "Items waiting for the writer",
                                value=v.recorder_backlog)
        pool = CounterMetricFamily(
            "gatecam_ocr_pool", "OCR pool counters by kind (calls, ok, no_plate, stale, ...)",
            labels=["kind"],
        )
        for key, value in v.ocr.items():
            if isinstance(value, int):
                pool.add_metric([key], value)
        yield pool
        errors = v.ocr.get("errors")
        if isinstance(errors, dict):
            err = CounterMetricFamily("gatecam_ocr_errors", "OCR calls failed, by error code",
                                      labels=["code"])
            for code, n in errors.items():
                err.add_metric([str(code)], n)
            yield err
        yield from _circuit_metrics(v)
        yield from _storage_metrics(v)
        skew = (v.clock or {}).get("skew_s")
        if skew is not None:
            yield GaugeMetricFamily(
                "gatecam_clock_skew_seconds",
                "OCR service's Date minus the system clock, last measured", value=float(skew))


def _circuit_metrics(v: PipelineView) -> Iterator[Metric]:
    """The OCR circuit breaker (daemon/ocr/circuit.py): state, cool-down left, refusals."""
    if v.circuit is None:
        return
    circ = GaugeMetricFamily("gatecam_ocr_circuit", "1 for the OCR circuit's state",
                             labels=["state"])
    for s in CIRCUIT_STATES:
        circ.add_metric([s], 1.0 if v.circuit == s else 0.0)
    yield circ
    detail = v.ocr.get("circuit")
    if isinstance(detail, dict):
        yield GaugeMetricFamily(
            "gatecam_ocr_circuit_retry_in_seconds", "Cool-down left before the next probe call",
            value=float(detail.get("retry_in_s") or 0.0))
        yield GaugeMetricFamily(
            "gatecam_ocr_circuit_trips", "Consecutive openings without a success in between",
            value=float(detail.get("trips") or 0))
        yield CounterMetricFamily(
            "gatecam_ocr_circuit_refused_calls", "Candidates not sent because the circuit was open",
            value=float(detail.get("refused_calls") or 0))


def _storage_metrics(v: PipelineView) -> Iterator[Metric]:
    """Storage health (daemon/storage_health.py): writes succeeding, fallback publishes."""
    st = v.storage
    if st is None:
        return
    yield GaugeMetricFamily("gatecam_storage_ok", "1 while database writes succeed",
                            value=1.0 if st.get("ok") else 0.0)
    yield CounterMetricFamily(
        "gatecam_storage_fallback_published",
        "Passages published outside the outbox (store failing)",
        value=float(st.get("fallback_published") or 0))
    yield CounterMetricFamily("gatecam_snapshot_failures", "Snapshots that could not be written",
                              value=float(st.get("snapshot_failures") or 0))
    for key, doc in (
        ("frames_spilled", "Snapshot frames dropped before queueing (recorder queue bytes full)"),
        ("items_dropped", "Writes given up by the recorder (queue full, refused, writer dead)"),
        ("items_failed", "Writes lost to an unexpected error in the recorder (see the log)"),
    ):
        yield CounterMetricFamily(f"gatecam_recorder_{key}", doc, value=float(st.get(key) or 0))
    yield CounterMetricFamily(
        "gatecam_retention_undelivered_dropped",
        "Passages whose undelivered messages retention gave up (ALERT in the log)",
        value=float(st.get("undelivered_dropped") or 0))
    yield GaugeMetricFamily("gatecam_recorder_queue_bytes", "Bytes held by the recorder queue",
                            value=float(st.get("queue_bytes") or 0))


class PipelineMetrics:
    """The registry of one App: scrape-time counters plus the observed distributions."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.ocr_reads = Counter(
            "gatecam_ocr_reads", "OCR answers handed back to lanes, by outcome",
            ["outcome"], registry=self.registry,
        )
        self.ocr_latency = Histogram(
            "gatecam_ocr_latency_seconds", "LicensePlateOCR round trip of calls that were sent",
            buckets=OCR_LATENCY_BUCKETS, registry=self.registry,
        )
        Info("gatecam_build", "The running gatecam release", registry=self.registry).info(
            {"version": __version__})
        self.local_reads = Counter(
            "gatecam_local_reads", "Local plate reader answers, by outcome (plate, box, "
            "nothing, LocalError, Dropped)", ["outcome"], registry=self.registry,
        )
        self.local_latency = Histogram(
            "gatecam_local_read_seconds", "Local plate reader time per lane crop",
            buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32), registry=self.registry,
        )
        self.calls_per_passage = Histogram(
            "gatecam_ocr_calls_per_passage", "OCR calls spent on one passage",
            buckets=(0, 1, 2, 3, 4, 5, 8, 12, 20), registry=self.registry,
        )

    def attach(self, view: Callable[[], PipelineView]) -> None:
        """Export the App's counters, read at scrape time."""
        self.registry.register(PipelineCollector(view))

    def observe_read(self, read: PlateRead) -> None:
        """Count one OCR answer by outcome; its latency if a request was sent (or read locally)."""
        if read.provider == "local":
            if read.error_code:
                self.local_reads.labels(read.error_code).inc()
                return
            outcome = "plate" if read.ok else ("box" if read.box_found else "nothing")
            self.local_reads.labels(outcome).inc()
            self.local_latency.observe(read.latency_ms / 1000.0)
            return
        if read.ok:
            outcome = "ok"
        elif not read.called:
            outcome = "not_called"
        else:
            outcome = read.error_code or "error"
        self.ocr_reads.labels(outcome).inc()
        if read.called:
            self.ocr_latency.observe(read.latency_ms / 1000.0)

    def observe_passage(self, passage: Passage) -> None:
        """Record the calls one committed passage cost."""
        self.calls_per_passage.observe(passage.ocr_calls)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


def healthz(view: PipelineView, verdict: Verdict) -> dict[str, Any]:
    """The /healthz document (also what ``gatecam status`` prints)."""
    return {
        "version": __version__,
        "site": view.site,
        "alive": verdict.alive,
        "ready": verdict.ready,
        "status": verdict.status,
        "problems": list(verdict.problems),
        "passages": view.passages,
        "outbox_backlog": view.outbox_backlog,
        "warnings": view.warnings,
        "ocr": view.ocr,
        "circuit": view.circuit,
        "storage": view.storage,
        "clock": view.clock,
        "cameras": {
            c.camera_id: {
                "state": c.state, "fps": round(c.fps, 1), "frames": c.frames,
                "passages": c.passages, "dropped": c.dropped,
                "frame_age_s": None if c.frame_age_s is None else round(c.frame_age_s, 2),
                "error": c.error,
            }
            for c in view.cameras
        },
    }


class MetricsServer:
    """``GET /metrics`` and ``GET /healthz`` on a background thread (loopback by default)."""

    def __init__(
        self,
        metrics: PipelineMetrics,
        view: Callable[[], PipelineView],
        limits: HealthLimits,
        *,
        host: str = "127.0.0.1",
        port: int = 9108,
        monotonic: Callable[[], float] | None = None,
        max_connections: int = MAX_CONNECTIONS,
        timeout_s: float = CONNECTION_TIMEOUT_S,
    ) -> None:
        """Binds at once (an OSError here means the port is taken); serves after start()."""
        clock = monotonic or time.monotonic

        class Handler(BaseHTTPRequestHandler):
            timeout = timeout_s  # applied to the socket: an idle or dripping client is cut off

            def do_GET(self) -> None:
                try:
                    if self.path == "/metrics":
                        self._send(200, CONTENT_TYPE_LATEST, metrics.render())
                    elif self.path == "/healthz":
                        v = view()
                        verdict = assess(v.snapshot, clock(), limits)
                        body = json.dumps(healthz(v, verdict), ensure_ascii=False).encode()
                        self._send(200 if verdict.alive else 503, "application/json", body)
                    else:
                        self._send(404, "text/plain", b"try /metrics or /healthz\n")
                except Exception:
                    log.exception("metrics request %s failed", self.path)
                    self._send(500, "text/plain", b"internal error\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("metrics: " + format, *args)

        self._server = BoundedServer((host, port), Handler, max_connections)
        self.host, self.port = host, int(self._server.server_address[1])
        metrics.registry.register(ServerCollector(self._server))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
            name="metrics-http", daemon=True,
        )

    @property
    def active(self) -> int:
        """Connections being served now."""
        return self._server.active

    @property
    def refused(self) -> int:
        """Connections refused so far (too many open at once)."""
        return self._server.refused

    def start(self) -> MetricsServer:
        """Serve in the background (warns when bound outside loopback)."""
        warning = bind_warning(self.host)
        if warning:
            log.warning("%s", warning)
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics and /healthz", self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
