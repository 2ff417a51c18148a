"""Bench of the detector's CPU cost on 1080p frames decoded from an H.264 clip.

Prints the cost per frame (median, p95) of the motion detector + passage tracker (which
scores candidate frames), and the CPU seconds of decode + detector + passage tracker
over the clip divided by those of a decode-only loop over the same clip, measured in
the same run (target <= 1.15).
Ends with one JSON line: ``detector_ms_median``, ``cpu_ratio_vs_decode``.

``python scripts/bench_motion.py [--scenario stop_and_go] [--size 1920x1080] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np

from daemon.config import CameraConfig, MotionConfig, PassageConfig
from daemon.domain import Frame, PlateRead
from daemon.motion import MotionDetector
from daemon.passage import PassageTracker, SendCandidate

ROI = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)]


def decode_only(path: Path) -> float:
    """CPU seconds to decode the clip to BGR arrays (what capture does anyway)."""
    t0 = time.process_time()
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        for f in c.decode(video=0):
            f.to_ndarray(format="bgr24")
    return time.process_time() - t0


def pipeline(path: Path) -> tuple[float, list[float]]:
    """CPU seconds of decode + detector + tracker; per-frame detector+scoring cost (ms)."""
    cam = CameraConfig(id="bench", url=str(path), roi=ROI)
    tracker = PassageTracker(cam, PassageConfig(), "bench")
    det: MotionDetector | None = None
    costs: list[float] = []
    now = datetime.now(UTC)
    t0 = time.process_time()
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        for n, f in enumerate(c.decode(video=0)):
            img = np.asarray(f.to_ndarray(format="bgr24"), dtype=np.uint8)
            if det is None:
                det = MotionDetector((img.shape[1], img.shape[0]), ROI, MotionConfig())
            s = time.perf_counter()
            res = det.update(img, n / 25)
            actions = tracker.on_frame(Frame("bench", n, n / 25, now, img), res)  # scores
            for a in actions:  # the read comes back trusted at once, as on the bench set
                if isinstance(a, SendCandidate):
                    read = PlateRead(
                        "bench", a.passage_id, a.frame.seq, ok=True, plate="京AF0236", confidence=95
                    )
                    tracker.on_read(read, n / 25)
            costs.append((time.perf_counter() - s) * 1000)
    return time.process_time() - t0, costs


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    import make_clip

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--scenario", default="stop_and_go")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clips", type=Path, default=Path(tempfile.gettempdir()) / "gatecam-bench")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    clip = args.clips / f"motion-{args.scenario}-{w}x{h}.mp4"
    if not clip.with_suffix(".json").is_file():
        print(f"rendering {clip} ...", flush=True)
        make_clip.make_clip(args.scenario, clip, (w, h))
    dec, pipe, costs = [], [], []
    for _ in range(args.repeat):  # interleaved, so drift hits both alike
        dec.append(decode_only(clip))
        cpu, c = pipeline(clip)
        pipe.append(cpu)
        costs.extend(c)
    costs.sort()
    med = statistics.median(costs)
    p95 = costs[int(0.95 * (len(costs) - 1))]
    ratio = statistics.median(pipe) / statistics.median(dec)
    print(f"clip {clip.name}: {len(costs) // args.repeat} frames {w}x{h}, {args.repeat} runs")
    print(f"detector + scoring per frame: median {med:.3f} ms, p95 {p95:.3f} ms (target <= 0.3)")
    print(
        f"CPU s: decode only {statistics.median(dec):.2f}, decode + detector + tracker "
        f"{statistics.median(pipe):.2f}: ratio {ratio:.3f} (target <= 1.15)"
    )
    print(
        json.dumps(
            {
                "detector_ms_median": round(med, 3),
                "detector_ms_p95": round(p95, 3),
                "cpu_ratio_vs_decode": round(ratio, 3),
                "frames": len(costs) // args.repeat,
                "size": f"{w}x{h}",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
