"""Print what the demo's MQTT subscriber received and compare it with the clip's ground truth.

Usage: demo_report.py SUBSCRIBER_OUTPUT TRUTH_JSON  (subscriber lines are ``topic payload``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Print one line per passage, then a summary line; exit 1 if nothing was received."""
    sub_path, truth_path = Path(argv[0]), Path(argv[1])
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    expected = [v["plate"] for v in truth["vehicles"]]
    events = []
    for line in sub_path.read_text(encoding="utf-8").splitlines():
        topic, _, payload = line.partition(" ")
        if payload:
            events.append((topic, json.loads(payload)))
    print(f"{'topic':34} {'plate':10} {'colour':6} {'conf':>4}  captured_at")
    for topic, ev in events:
        print(f"{topic:34} {ev['plate'] or '-':10} {ev['color'] or '-':6} {ev['confidence']:>4}  "
              f"{ev['captured_at']}  (ocr calls {ev['ocr']['calls']})")
    plates = [ev["plate"] for _, ev in events]
    right = sum(1 for p in expected if p in plates)
    calls = sum(ev["ocr"]["calls"] for _, ev in events)
    print(f"summary: {len(expected)} vehicles in the clip, {len(events)} passages published, "
          f"{right}/{len(expected)} plates right, {calls} OCR calls")
    return 0 if events else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
