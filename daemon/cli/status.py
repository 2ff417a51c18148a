"""``gatecam status``: fetch the running daemon's /healthz on loopback and print it for a person,
after checking it is this config's daemon (site and camera ids): another site's daemon on
the same port, or an older release that does not say, is reported, not shown as ours."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import httpx

from daemon.config.models import Config

EXIT_ALIVE, EXIT_STALLED, EXIT_UNREACHABLE, EXIT_NOT_OURS = 0, 1, 3, 4


def identity_problem(cfg: Config, doc: dict[str, Any]) -> str | None:
    """Why the daemon that answered is not the one ``cfg`` describes; None when it is."""
    expected = sorted(c.id for c in cfg.cameras if c.enabled)
    if "site" not in doc:
        return "cannot tell whose daemon this is: its /healthz names no site (an older gatecam?)"
    cameras = sorted(doc.get("cameras") or {})
    if doc["site"] != cfg.site or cameras != expected:
        return (f"another daemon answered: site {doc['site']} cameras {cameras}, "
                f"this config has site {cfg.site} cameras {expected}")
    return None



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
             f"{'' if doc.get('ready') else ' (not ready yet)'} - {doc.get('status', '')}"
             f"  [site {doc.get('site', '?')}, gatecam {doc.get('version', '?')}]"]
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
    """Print the status; 0 alive, 1 stalled, 3 when the daemon does not answer, 4 when what
    answered is not this config's daemon (nothing of it is printed as ours)."""
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
    if (problem := identity_problem(cfg, doc)) is not None:
        print(f"status: on {h.metrics_host}:{h.metrics_port}: {problem}", file=sys.stderr)
        return EXIT_NOT_OURS
    out.write((json.dumps(doc, ensure_ascii=False) if as_json else render(doc)) + "\n")
    return EXIT_ALIVE if doc.get("alive") else EXIT_STALLED
