"""The operator's window: Prometheus ``/metrics`` and ``/healthz`` JSON over HTTP on loopback.

Names follow the Prometheus conventions (README "Metrics" lists every series): one counter
per meaning with labels from closed sets, so a ``sum()`` means something (calls by
:data:`daemon.ocr.errors.CALL_OUTCOMES`, reads by :data:`READ_RESULTS`, passages by access
decision), base units, ``_total`` on counters, no ``_created`` series, plus the standard
``process_*`` and ``python_*`` collectors. Counters that stages already keep (frames, pool
stats, outbox, webhooks) are read at scrape time by :class:`PipelineCollector` from an
:mod:`daemon.ops.observe` view, so the hot paths carry no instrumentation; what needs a
label from the event or a distribution is observed as it happens
(:meth:`PipelineMetrics.observe_call`, ``observe_read``, ``observe_passage``). Each App
has its own registry (tests run several).

The server is bounded: each connection is closed after ``timeout_s`` without progress,
at most ``max_connections`` are served at once (one thread each) and the rest are
answered 503 and closed at once, counted in ``gatecam_metrics_connections_refused_total``;
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

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from daemon import __version__
from daemon.access import REASONS
from daemon.domain import Passage, PlateRead
from daemon.ocr.errors import CALL_OUTCOMES
from daemon.ocr.pool import CIRCUIT_OPEN, NO_PLATE
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

# ``_created`` series double every counter for a timestamp nobody graphs; the switch is
# process-wide in prometheus_client, and this daemon has no other registry.
disable_created_metrics()  # type: ignore[no-untyped-call]

CAMERA_STATES = ("starting", "streaming", "reconnecting", "offline", "ended")
CIRCUIT_STATES = ("closed", "open", "half_open")
ACCESS = ("allow", "deny", "unknown")
READ_RESULTS = ("plate", "no_plate", "failed", "stale", "circuit_open", "shutdown")
"""What a lane gets back for one candidate: a plate, no plate, a failed call, or no call
(went stale waiting for a slot or in a backoff, the circuit was open, the daemon stopping)."""
OCR_LATENCY_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Tencent answers in 150-400 ms from mainland China; seconds mean a slow link or timeouts."""
DECIDE_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0)
"""A gate should open within a second or two of the plate being legible; tens of seconds
are passages closed by the lane's timeout."""
CALLS_PER_PASSAGE_BUCKETS = (0, 1, 2, 3, 4, 5, 8, 12, 20)


def read_result(read: PlateRead) -> str:
    """The :data:`READ_RESULTS` member for one answer handed back to a lane."""
    if read.ok:
        return "plate"
    if read.called:
        return "no_plate" if read.error_code == NO_PLATE else "failed"
    return {"Stale": "stale", CIRCUIT_OPEN: "circuit_open",
            "Shutdown": "shutdown"}.get(read.error_code or "", "failed")


class PipelineCollector(Collector):
    """Turns a :class:`PipelineView`, taken at scrape time, into metric families."""

    def __init__(self, view: Callable[[], PipelineView]) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        """Called by the registry on every scrape."""
        v = self._view()
        yield from _camera_metrics(v)
        if v.outbox_backlog is not None:
            yield GaugeMetricFamily("gatecam_outbox_backlog", "Outbox rows not yet delivered",
                                    value=v.outbox_backlog)
        yield GaugeMetricFamily("gatecam_recorder_queue", "Items waiting for the writer",
                                value=v.recorder_backlog)
        yield from _pool_metrics(v)
        yield from _circuit_metrics(v)
        yield from _storage_metrics(v)
        yield from _webhook_metrics(v)
        skew = (v.clock or {}).get("skew_s")
        if skew is not None:
            yield GaugeMetricFamily(
                "gatecam_clock_skew_seconds",
                "OCR service's Date minus the system clock, last measured", value=float(skew))


def _camera_metrics(v: PipelineView) -> Iterator[Metric]:
    """Per camera: frames, drops, motion, frame age, fps and state."""
    cam = ["camera"]
    frames = CounterMetricFamily("gatecam_frames", "Frames the lane processed", labels=cam)
    dropped = CounterMetricFamily(
        "gatecam_frames_dropped", "Frames replaced in the slot before use", labels=cam)
    motion = CounterMetricFamily(
        "gatecam_motion_frames", "Frames with motion in the lane", labels=cam)
    age = GaugeMetricFamily(
        "gatecam_frame_age_seconds", "Age of the newest decoded frame", labels=cam)
    fps = GaugeMetricFamily("gatecam_camera_fps", "Decoded frames per second", labels=cam)
    state = GaugeMetricFamily(
        "gatecam_camera_state", "1 for the camera's current state", labels=["camera", "state"])
    for c in v.cameras:
        frames.add_metric([c.camera_id], c.frames)
        dropped.add_metric([c.camera_id], c.dropped)
        motion.add_metric([c.camera_id], c.motion_frames)
        if c.frame_age_s is not None:
            age.add_metric([c.camera_id], c.frame_age_s)
        fps.add_metric([c.camera_id], c.fps)
        for s in CAMERA_STATES:
            state.add_metric([c.camera_id, s], 1.0 if c.state == s else 0.0)
    yield from (frames, dropped, motion, age, fps, state)


def _pool_metrics(v: PipelineView) -> Iterator[Metric]:
    """The OCR pool's own counters (calls and reads are observed as they happen)."""
    if not v.ocr:
        return
    ocr = v.ocr
    yield GaugeMetricFamily("gatecam_ocr_queue", "Candidates waiting for an OCR worker",
                            value=float(ocr.get("pending") or 0))
    retries = CounterMetricFamily(
        "gatecam_ocr_retries", "Second calls for one candidate: after a transient error "
        "(retry) or re-encoded smaller (reencode)", labels=["kind"])
    retries.add_metric(["retry"], float(ocr.get("retries") or 0))
    retries.add_metric(["reencode"], float(ocr.get("reencodes") or 0))
    yield retries
    yield CounterMetricFamily(
        "gatecam_ocr_rate_limit_backoffs", "Pauses of every worker after RequestLimitExceeded",
        value=float(ocr.get("backoffs") or 0))
    yield CounterMetricFamily(
        "gatecam_ocr_unknown_codes", "Calls answered with an error code outside the taxonomy",
        value=float(ocr.get("unknown_codes") or 0))
    yield CounterMetricFamily(
        "gatecam_ocr_worker_failures", "Candidates an OCR worker failed on (a bug: see the log)",
        value=float(ocr.get("failures") or 0))
    errors = ocr.get("errors")
    if isinstance(errors, dict):
        err = CounterMetricFamily(
            "gatecam_ocr_errors", "Calls that failed, by the provider's or a local error code",
            labels=["code"])
        for code, n in errors.items():
            err.add_metric([str(code)], n)
        yield err


def _circuit_metrics(v: PipelineView) -> Iterator[Metric]:
    """The OCR circuit breaker (daemon/ocr/circuit.py): state, cool-down left, openings."""
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
        yield CounterMetricFamily(
            "gatecam_ocr_circuit_openings", "Times the OCR circuit opened (auth or billing "
            "refusals)", value=float(detail.get("openings") or 0))


def _storage_metrics(v: PipelineView) -> Iterator[Metric]:
    """Storage health (daemon/store/health.py): writes succeeding, fallback publishes."""
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


def _webhook_metrics(v: PipelineView) -> Iterator[Metric]:
    """Per webhook target: attempts by result, and whether it is failing now."""
    if not v.webhooks:
        return
    attempts = CounterMetricFamily(
        "gatecam_webhook_attempts", "Webhook requests by result: delivered (2xx), rejected "
        "(a final 4xx), failed (retried: no answer, 408, 429, 5xx)", labels=["target", "result"])
    failing = GaugeMetricFamily("gatecam_webhook_failing",
                                "Failed attempts in a row on the oldest pending event",
                                labels=["target"])
    for name, st in v.webhooks.items():
        attempts.add_metric([name, "delivered"], float(st["delivered"]))
        attempts.add_metric([name, "rejected"], float(st["rejected"]))
        attempts.add_metric([name, "failed"], float(st["failures"]))
        failing.add_metric([name], float(st["failing"]))
    yield attempts
    yield failing


class PipelineMetrics:
    """The registry of one App: scrape-time counters plus the observed ones."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)  # process_* (RSS, CPU, open files)
        PlatformCollector(registry=self.registry)  # python_info
        GCCollector(registry=self.registry)  # python_gc_*
        reg = self.registry
        self.ocr_calls = Counter(
            "gatecam_ocr_calls", "OCR requests sent, by outcome (each one may be billed)",
            ["camera", "outcome"], registry=reg)
        self.ocr_reads = Counter(
            "gatecam_ocr_reads", "Answers handed back to lanes, one per candidate, by result",
            ["camera", "result"], registry=reg)
        self.passages = Counter(
            "gatecam_passages", "Passages committed, by access decision and its reason",
            ["camera", "access", "reason"], registry=reg)
        self.ocr_latency = Histogram(
            "gatecam_ocr_latency_seconds", "Round trip of each OCR request sent",
            buckets=OCR_LATENCY_BUCKETS, registry=reg)
        self.decide_latency = Histogram(
            "gatecam_decide_latency_seconds",
            "From the capture of the frame a decision rests on to the decision",
            ["camera"], buckets=DECIDE_LATENCY_BUCKETS, registry=reg)
        Info("gatecam_build", "The running gatecam release", registry=reg).info(
            {"version": __version__})
        self.local_reads = Counter(
            "gatecam_local_reads", "Local plate reader answers, by outcome (plate, box, "
            "nothing, LocalError, Dropped)", ["outcome"], registry=reg,
        )
        self.local_latency = Histogram(
            "gatecam_local_read_seconds", "Local plate reader time per lane crop",
            buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32), registry=reg,
        )
        self.calls_per_passage = Histogram(
            "gatecam_ocr_calls_per_passage", "OCR calls spent on one passage",
            buckets=CALLS_PER_PASSAGE_BUCKETS, registry=reg)

    def attach(self, view: Callable[[], PipelineView], cameras: tuple[str, ...] = ()) -> None:
        """Export the App's counters, read at scrape time; ``cameras`` start at zero.

        Zero-valued series from the start let ``rate()`` and ``increase()`` see the first
        event (a series born at 1 is a jump Prometheus cannot tell from a restart)."""
        self.registry.register(PipelineCollector(view))
        for camera in cameras:
            for outcome in CALL_OUTCOMES:
                self.ocr_calls.labels(camera, outcome)
            for result in READ_RESULTS:
                self.ocr_reads.labels(camera, result)
            for access in ACCESS:
                self.passages.labels(camera, access, _REASON_OF[access])

    def observe_call(self, camera: str, outcome: str, seconds: float) -> None:
        """One request sent (:data:`daemon.ocr.pool.CallObserver`): count it, time it."""
        self.ocr_calls.labels(camera, outcome).inc()
        self.ocr_latency.observe(seconds)

    def observe_read(self, read: PlateRead) -> None:
        """Count one answer handed back to a lane by :func:`read_result` (local readings
        apart: outcome and reader time)."""
        if read.provider == "local":
            outcome = read.error_code or ("plate" if read.ok else
                                          "box" if read.box_found else "nothing")
            self.local_reads.labels(outcome).inc()
            if not read.error_code:
                self.local_latency.observe(read.latency_ms / 1000.0)
            return
        self.ocr_reads.labels(read.camera_id, read_result(read)).inc()

    def observe_passage(self, passage: Passage) -> None:
        """A committed passage: its decision, the calls it cost, how long deciding took."""
        access = passage.access if passage.access in ACCESS else "unknown"
        reason = passage.access_reason if passage.access_reason in REASONS else "not_evaluated"
        self.passages.labels(passage.camera, access, reason).inc()
        self.calls_per_passage.observe(passage.ocr_calls)
        took = (passage.decided_at - passage.captured_at).total_seconds()
        self.decide_latency.labels(passage.camera).observe(max(0.0, took))

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


_REASON_OF = {"allow": "allow_list", "deny": "deny_list", "unknown": "no_plate"}
"""The reason each decision's zero series is created with (the commonest one)."""


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
        "webhooks": view.webhooks,
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
