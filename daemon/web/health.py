"""The health page's figures: cameras, OCR circuit, calls today, storage, the broker.

Built from the App's read-only :class:`~daemon.ops.observe.Stages` view (the same
snapshot /metrics and /healthz use) plus two counts from the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from daemon.domain import utc_iso
from daemon.ops import observe
from daemon.ops.observe import Stages
from daemon.store.queries import ocr_calls_since


def health_doc(stages: Stages, now: datetime, local_midnight: datetime) -> dict[str, Any]:
    """What the health page and ``/api/health`` show, at ``now`` (aware)."""
    view = observe.view(stages)
    cams = []
    for c in view.cameras:
        last = None if c.frame_age_s is None else now - timedelta(seconds=c.frame_age_s)
        cams.append({
            "id": c.camera_id, "state": c.state, "fps": round(c.fps, 1),
            "last_frame_at": utc_iso(last) if last else None,
            "frame_age_s": None if c.frame_age_s is None else round(c.frame_age_s, 1),
            "passages": c.passages, "error": c.error,
            "streams": list(c.streams), "reading": c.reading, "decoding": c.decoding,
        })
    calls, vehicles = (ocr_calls_since(stages.store, local_midnight)
                       if stages.store is not None else (0, 0))
    circ = view.ocr.get("circuit") if isinstance(view.ocr.get("circuit"), dict) else {}
    pub = stages.publisher
    return {
        "cameras": cams,
        "ocr": {"circuit": view.circuit or "unknown", "code": (circ or {}).get("code"),
                "retry_in_s": (circ or {}).get("retry_in_s"),
                "calls_today": calls, "passages_today": vehicles,
                "calls_per_vehicle": round(calls / vehicles, 2) if vehicles else None},
        "storage": view.storage,
        "broker": {"enabled": pub is not None,
                   "connected": pub.connected if pub is not None else None,
                   "outbox_backlog": view.outbox_backlog},
        "passages": view.passages,
        "db_mb": _megabytes(stages.store.used_bytes()) if stages.store is not None else None,
        "warnings": view.warnings,
    }


def _megabytes(n: int | None) -> float | None:
    return None if n is None else round(n / 1e6, 1)


