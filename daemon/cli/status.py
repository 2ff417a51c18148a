"""``gatecam status``: fetch the running daemon's /healthz on loopback and print it for a person."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import httpx

from daemon.config.models import Config

EXIT_ALIVE, EXIT_STALLED, EXIT_UNREACHABLE = 0, 1, 3


def fetch_healthz(host: str, port: int, timeout_s: float = 3.0) -> dict[str, Any]:
    """The /healthz document (a 503 still carries it); raises httpx.HTTPError if unreachable."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - a bind, not a target
    resp = httpx.get(f"http://{target}:{port}/healthz", timeout=timeout_s)
    if resp.status_code not in (200, 503):
        resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def render(doc: dict[str, Any]) -> str:
    """A few aligned lines: verdict, cameras, OCR, outbox."""
    lines = [f"gatecam: {'ALIVE' if doc.get('alive') else 'STALLED'}"
             f"{'' if doc.get('ready') else ' (not ready yet)'} - {doc.get('status', '')}"]
    for problem in doc.get("problems", []):
        lines.append(f"  problem: {problem}")
    for cam_id, cam in (doc.get("cameras") or {}).items():
        age = cam.get("frame_age_s")
        age_text = "never" if age is None else f"{age:.1f} s ago"
        line = (f"  camera {cam_id:<12} {cam.get('state', '?'):<12} {cam.get('fps', 0):>5.1f} fps"
                f"  last frame {age_text}  frames {cam.get('frames', 0)}"
                f"  passages {cam.get('passages', 0)}")
        if cam.get("error"):
            line += f"  error: {cam['error']}"
        lines.append(line)
    ocr = doc.get("ocr") or {}
    circuit = doc.get("circuit") or "closed"
    lines.append(f"  OCR calls {ocr.get('calls', 0)}  ok {ocr.get('ok', 0)}"
                 f"  no plate {ocr.get('no_plate', 0)}  stale {ocr.get('stale', 0)}"
                 f"  circuit {circuit}")
    lines.append(f"  passages {doc.get('passages', 0)}  outbox backlog "
                 f"{doc.get('outbox_backlog', '?')}")
    return "\n".join(lines)


def show_status(cfg: Config, *, as_json: bool = False, out: TextIO | None = None) -> int:
    """Print the status; 0 alive, 1 stalled, 3 when the daemon does not answer."""
    out = out or sys.stdout
    h = cfg.health
    if not h.metrics_enabled:
        print("status: health.metrics_enabled is false in this config; nothing to ask",
              file=sys.stderr)
        return EXIT_UNREACHABLE
    try:
        doc = fetch_healthz(h.metrics_host, h.metrics_port)
    except (httpx.HTTPError, ValueError) as exc:
        print(f"status: gatecam not answering on {h.metrics_host}:{h.metrics_port}: {exc}",
              file=sys.stderr)
        return EXIT_UNREACHABLE
    out.write((json.dumps(doc, ensure_ascii=False) if as_json else render(doc)) + "\n")
    return EXIT_ALIVE if doc.get("alive") else EXIT_STALLED
