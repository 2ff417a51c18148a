"""The emulator's wire formats: the call-log record, answers, success envelopes, raw faults.

Pure builders shared by :mod:`daemon.ocr.emulator.server`; no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from daemon.domain import Rect
from daemon.ocr.emulator.faults import FaultRule
from daemon.ocr.emulator.readers import PlateFound


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One request the emulator answered."""

    at: float
    """Wall-clock arrival time (epoch seconds)."""
    secret_id: str | None
    action: str | None
    code: str
    """``OK`` or the error code returned."""
    plate: str | None
    latency_s: float
    fault: str | None = None
    """The kind of the injected fault that decided the answer, if any."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What goes back on the wire; ``payload`` None drops the connection without an answer."""

    status: int
    content_type: str
    payload: bytes | None
    drip_s: float = 0.0
    """When > 0 the whole answer (status line, headers, body) goes out one byte at a time."""


def json_answer(response: dict[str, Any]) -> Answer:
    """HTTP 200 with the ``{"Response": ...}`` envelope as UTF-8 JSON."""
    body = json.dumps({"Response": response}, ensure_ascii=False).encode("utf-8")
    return Answer(200, "application/json", body)


def _rect_json(rect: Rect) -> dict[str, int]:
    return {"X": rect.x, "Y": rect.y, "Width": rect.width, "Height": rect.height}


def success(best: PlateFound, plates: list[PlateFound]) -> dict[str, Any]:
    return {
        "Number": best.number,
        "Confidence": best.confidence,
        "Rect": _rect_json(best.rect),
        "Color": best.color,
        "LicensePlateInfos": [
            {
                "Number": p.number,
                "Confidence": p.confidence,
                "Rect": _rect_json(p.rect),
                "Color": p.color,
                "LicensePlateCategory": p.category,
            }
            for p in plates
        ],
        "LicensePlateCategory": best.category,
    }


def raw_fault(rule: FaultRule, response: dict[str, Any]) -> Answer:
    """The wire answer of a non-error fault (see daemon.ocr.emulator.faults)."""
    if rule.kind == "malformed":
        return Answer(200, "application/json", b'{"Response": {"RequestId": "x", "Numb')
    if rule.kind == "wrong_type":
        return Answer(200, "text/html", json.dumps({"Response": response}).encode("utf-8"))
    if rule.kind == "slow_drip":
        return replace(json_answer(response), drip_s=rule.latency_s or 0.5)
    if rule.kind == "huge_body":
        base = len(json_answer({**response, "Pad": ""}).payload or b"")
        return json_answer({**response, "Pad": "x" * max(0, rule.size - base)})
    if rule.kind == "http5xx":
        html = f"<html><body>{rule.status} from the gateway</body></html>".encode()
        return Answer(rule.status, "text/html", html)
    return Answer(200, "application/json", None)  # timeout: hold, then drop
