"""A busy PipelineMetrics (every family populated) and a reader of text expositions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.domain import Passage, PlateRead
from daemon.ocr.pool import CIRCUIT_OPEN
from daemon.ops.health import PipelineSnapshot
from daemon.ops.metrics import PipelineMetrics
from daemon.ops.observe import CameraView, PipelineView


def read(**kw: Any) -> PlateRead:
    """One OCR answer of camera entry-1."""
    return PlateRead(camera_id="entry-1", passage_id="p", frame_seq=1, **kw)


def _view() -> PipelineView:
    """A busy pipeline as observe.view() would report it (every family populated)."""
    snap = PipelineSnapshot(cameras=[], recorder_alive=True, recorder_beat=0.0, passages=3,
                            outbox_backlog=2)
    cams = [CameraView("entry-1", "streaming", 9.8, 1200, 300, 3, 4, 0.05, None,
                       duplicates=2, unevidenced=5),
            CameraView("exit-1", "offline", 0.0, 10, 0, 0, 0, None, "connection refused")]
    ocr = {"calls": 7, "ok": 3, "no_plate": 1, "stale": 1, "retries": 1, "reencodes": 1,
           "failures": 0, "circuit_open": 2, "unknown_codes": 1, "backoffs": 1, "pending": 1,
           "errors": {"FailedOperation.OcrFailed": 1, "Timeout": 2, "Brand.New": 1},
           "circuit": {"state": "closed", "retry_in_s": 0.0, "trips": 0, "openings": 2,
                       "refused_calls": 2}}
    return PipelineView(snapshot=snap, cameras=cams, passages=3, outbox_backlog=2,
                        recorder_backlog=0, ocr=ocr, circuit="closed",
                        storage={"ok": True, "fallback_published": 1, "snapshot_failures": 0},
                        clock={"skew_s": 0.4},
                        webhooks={"erp": {"delivered": 3, "rejected": 1, "failures": 2,
                                          "failing": 0, "last_error": None}})


def busy_metrics() -> PipelineMetrics:
    """Two cameras; calls, reads and passages of each kind observed."""
    m = PipelineMetrics()
    m.attach(_view, ("entry-1", "exit-1"))
    m.observe_call("entry-1", "plate", 0.18)
    m.observe_call("entry-1", "timeout", 3.0)
    m.observe_read(read(ok=True, plate="京AF0236", latency_ms=180.0))
    m.observe_read(read(ok=False, error_code="FailedOperation.OcrFailed", latency_ms=90.0))
    m.observe_read(read(ok=False, error_code="Timeout", latency_ms=3000.0))
    m.observe_read(read(ok=False, error_code="Stale", called=False))
    m.observe_read(read(ok=False, error_code=CIRCUIT_OPEN, called=False))
    t = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    m.observe_passage(Passage(
        event_id="e1", site="lot-a", camera="entry-1", direction="entry", captured_at=t,
        decided_at=t + timedelta(seconds=0.6), plate="京AF0236", access="allow",
        access_reason="allow_list", ocr_calls=2))
    m.observe_passage(Passage(
        event_id="e2", site="lot-a", camera="entry-1", direction="entry", captured_at=t,
        decided_at=t, access="unknown", access_reason="no_plate"))
    return m


def samples(text: str, name: str) -> dict[str, float]:
    """{labels: value} of one series name in a text exposition."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out
