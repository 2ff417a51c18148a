"""Bench of the detector's CPU cost on 1080p frames decoded from an H.264 clip.

Prints the cost per frame (median, p95) of the motion detector + passage tracker (which
scores candidate frames) as CPU time of the thread that runs them (what they cost; OpenCV
single-threaded, as the daemon runs it), and beside it the wall time per frame, which also
counts the moments the decoder's threads took the core from them; and the CPU seconds of
the pipeline over the clip (decode, the Frame capture builds, detector, passage tracker,
and the BGR conversion of the frames sent to OCR) divided by those of a decode-only loop
over the same clip, measured in the same run (target <= 1.15). For comparison it also
gives the ratio against decoding to BGR (what capture did for every frame before Frames
carried the luma plane).
Ends with one JSON line: ``detector_ms_median``, ``cpu_ratio_vs_decode`` (and the wall-time
figures, ``detector_wall_ms_median``/``_p95``).

``python scripts/bench_motion.py [--scenario stop_and_go] [--size 1920x1080] [--repeat 6]``
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

from daemon.capture.slot import frame_from_av
from daemon.capture.source import set_decoder_threads
from daemon.config.models import CameraConfig, MotionConfig, PassageConfig
from daemon.domain import Frame, PlateRead
from daemon.lane.actions import SendCandidate
from daemon.lane.motion import MotionDetector
from daemon.lane.passage import PassageTracker
from daemon.ops.tuning import single_thread_opencv

ROI = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)]
CAMERA = CameraConfig(id="bench", url="bench.mp4", roi=ROI)
"""Decoder threads and ROI as a camera configured with the defaults."""


def decode_only(path: Path, bgr: bool = False) -> float:
    """CPU seconds to decode the clip (and, if ``bgr``, convert every frame to BGR)."""
    t0 = time.process_time()
    with av.open(str(path)) as c:
        set_decoder_threads(c.streams.video[0], CAMERA)  # as capture
        for f in c.decode(video=0):
            if bgr:
                f.to_ndarray(format="bgr24")
    return time.process_time() - t0


def pipeline(path: Path) -> tuple[float, list[float], list[float]]:
    """CPU seconds of the pipeline as capture and the lane run it; per-frame detector +
    scoring cost (ms of this thread's CPU time, and ms of wall time)."""
    tracker = PassageTracker(CAMERA, PassageConfig(), "bench")
    det: MotionDetector | None = None
    costs: list[float] = []
    walls: list[float] = []
    now = datetime.now(UTC)
    t0 = time.process_time()
    with av.open(str(path)) as c:
        set_decoder_threads(c.streams.video[0], CAMERA)  # as capture
        for n, f in enumerate(c.decode(video=0)):
            frame = frame_from_av(f, "bench", n, n / 25, now)  # what capture hands the lane
            if det is None:
                det = MotionDetector((frame.width, frame.height), ROI, MotionConfig())
            s, sc = time.perf_counter(), time.thread_time()
            res = det.update(frame.analysis_image, n / 25, limited_range=frame.limited_range)
            actions = tracker.on_frame(frame, res)  # scores
            sent: list[Frame] = []
            for a in actions:  # the read comes back trusted at once, as on the bench set
                if isinstance(a, SendCandidate):
                    sent.append(a.frame)
                    read = PlateRead(
                        "bench", a.passage_id, a.frame.seq, ok=True, plate="京AF0236", confidence=95
                    )
                    tracker.on_read(read, n / 25)
            costs.append((time.thread_time() - sc) * 1000)
            walls.append((time.perf_counter() - s) * 1000)
            for chosen in sent:  # the OCR worker's colour conversion of what it sends
                _ = chosen.image
    return time.process_time() - t0, costs, walls


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    import make_clip

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--scenario", default="stop_and_go")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--repeat", type=int, default=6)
    ap.add_argument("--clips", type=Path, default=Path(tempfile.gettempdir()) / "gatecam-bench")
    args = ap.parse_args(argv)
    single_thread_opencv()  # as the daemon runs (daemon.ops.tuning.apply)
    w, h = (int(v) for v in args.size.lower().split("x"))
    clip = args.clips / f"motion-{args.scenario}-{w}x{h}.mp4"
    if not clip.with_suffix(".json").is_file():
        print(f"rendering {clip} ...", flush=True)
        make_clip.make_clip(args.scenario, clip, (w, h))
    dec: list[float] = []
    dec_bgr: list[float] = []
    pipe: list[float] = []
    costs: list[float] = []
    walls: list[float] = []
    for i in range(args.repeat):  # interleaved, order alternating: drift hits all alike
        steps = ["decode", "decode_bgr", "pipeline"]
        for step in steps if i % 2 == 0 else steps[::-1]:
            if step == "pipeline":
                cpu, c, wt = pipeline(clip)
                pipe.append(cpu)
                costs.extend(c)
                walls.extend(wt)
            else:
                (dec if step == "decode" else dec_bgr).append(
                    decode_only(clip, bgr=step == "decode_bgr")
                )
    costs.sort()
    walls.sort()
    wall_med = statistics.median(walls)
    wall_p95 = walls[int(0.95 * (len(walls) - 1))]
    med = statistics.median(costs)
    p95 = costs[int(0.95 * (len(costs) - 1))]
    ratio = statistics.median(pipe) / statistics.median(dec)
    ratio_bgr = statistics.median(pipe) / statistics.median(dec_bgr)
    print(f"clip {clip.name}: {len(costs) // args.repeat} frames {w}x{h}, {args.repeat} runs")
    print(
        f"detector + scoring per frame, CPU time: median {med:.3f} ms, p95 {p95:.3f} ms "
        "(target <= 0.3)"
    )
    print(
        f"detector + scoring per frame, wall time beside the decoder threads: median "
        f"{wall_med:.3f} ms, p95 {wall_p95:.3f} ms"
    )
    print(
        f"CPU s: decode only {statistics.median(dec):.2f}, pipeline "
        f"{statistics.median(pipe):.2f}: ratio {ratio:.3f} (target <= 1.15)"
    )
    print(
        f"CPU s: decode + BGR of every frame {statistics.median(dec_bgr):.2f}: "
        f"pipeline / that {ratio_bgr:.3f}"
    )
    print(
        json.dumps(
            {
                "detector_ms_median": round(med, 3),
                "detector_ms_p95": round(p95, 3),
                "detector_wall_ms_median": round(wall_med, 3),
                "detector_wall_ms_p95": round(wall_p95, 3),
                "cpu_ratio_vs_decode": round(ratio, 3),
                "cpu_ratio_vs_decode_bgr": round(ratio_bgr, 3),
                "frames": len(costs) // args.repeat,
                "size": f"{w}x{h}",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
