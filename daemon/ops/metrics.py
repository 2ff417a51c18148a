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
from collections.abc import Callable
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
from prometheus_client.exposition import generate_latest

from daemon import __version__
from daemon.access import REASONS
from daemon.domain import Passage, PlateRead
from daemon.ocr.errors import CALL_OUTCOMES
from daemon.ops.collector import (
    ACCESS,
    CALLS_PER_PASSAGE_BUCKETS,
    DECIDE_LATENCY_BUCKETS,
    OCR_LATENCY_BUCKETS,
    READ_RESULTS,
    PipelineCollector,
    read_result,
)
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
                "error": c.error, "streams": list(c.streams), "reading": c.reading,
                "decoding": c.decoding,
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
