"""Scrape-time metrics: a view of the running stages turned into metric families.

Counters the stages already keep (frames, pool stats, outbox, storage, webhooks) are read
when Prometheus scrapes, so the hot paths carry no instrumentation; the label sets here
are closed (every value listed) so a ``sum()`` means something.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.domain import PlateRead
from daemon.ocr.pool import CIRCUIT_OPEN, NO_PLATE
from daemon.ops.observe import PipelineView

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
    unpublished = CounterMetricFamily(
        "gatecam_passages_unpublished", "Passages the lane closed without an event, by why: "
        "duplicate (plate published moments ago), no_plate_evidence (motion, or a standing "
        "vehicle's re-check, that decided nothing)",
        labels=["camera", "why"])
    state = GaugeMetricFamily(
        "gatecam_camera_state", "1 for the camera's current state", labels=["camera", "state"])
    for c in v.cameras:
        frames.add_metric([c.camera_id], c.frames)
        dropped.add_metric([c.camera_id], c.dropped)
        motion.add_metric([c.camera_id], c.motion_frames)
        if c.frame_age_s is not None:
            age.add_metric([c.camera_id], c.frame_age_s)
        fps.add_metric([c.camera_id], c.fps)
        unpublished.add_metric([c.camera_id, "duplicate"], c.duplicates)
        unpublished.add_metric([c.camera_id, "no_plate_evidence"], c.unevidenced)
        for s in CAMERA_STATES:
            state.add_metric([c.camera_id, s], 1.0 if c.state == s else 0.0)
    yield from (frames, dropped, motion, age, fps, unpublished, state)


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
    """Per webhook target: attempts by result, whether it is failing now, reachable."""
    if not v.webhooks:
        return
    attempts = CounterMetricFamily(
        "gatecam_webhook_attempts", "Webhook requests by result: delivered (2xx), rejected "
        "(a final 4xx), failed (retried: no answer, 408, 429, 5xx)", labels=["target", "result"])
    failing = GaugeMetricFamily("gatecam_webhook_failing",
                                "Failed attempts in a row (0: delivering)",
                                labels=["target"])
    reachable = GaugeMetricFamily(
        "gatecam_webhook_reachable", "1 when the target answered (or accepted a connection) "
        "last, 0 when it could not be connected to (no sample before the start-up probe)",
        labels=["target"])
    for name, st in v.webhooks.items():
        attempts.add_metric([name, "delivered"], float(st["delivered"]))
        attempts.add_metric([name, "rejected"], float(st["rejected"]))
        attempts.add_metric([name, "failed"], float(st["failures"]))
        failing.add_metric([name], float(st["failing"]))
        if st.get("reachable") is not None:
            reachable.add_metric([name], float(bool(st["reachable"])))
    yield attempts
    yield failing
    yield reachable
