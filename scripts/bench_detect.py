#!/usr/bin/env python3
"""Detect-stream bench: what an idle lane costs with a detect stream, and how fast it wakes.

One generated clip (by default 12 s of an empty lane: sensor noise and the camera's ticking
timestamp, the picture an idle lane decodes) is served over RTSP twice by the rig's
GStreamer servers, anchored to one epoch as one IP camera's two streams: the main stream at
``--size`` (1920x1080) and a detect stream at ``--detect-size`` (640x360) made from it
with the same key frames (2 s GOP at 25 fps). Capture runs in this process with a stand-in
lane that drains the slot, runs the motion detector on each frame as the daemon's lane does
(``--lane none``: nothing) and says busy or idle as told; CPU is this process's CPU time
(the servers are other processes) over ``--seconds`` of wall time, in the same run:

- ``full``: the main stream alone, every frame decoded (``idle_decode: off``, lane busy);
- ``keyframes``: the main stream alone, lane idle (key frames only: today's idle mode);
- ``detect_idle``: main + detect (``detect_url``), lane idle: the detect stream decoded
  in full, the main stream's packets kept undecoded;
- wake-ups (``--wakes`` of them): with the detect stream, the lane turns busy for 1.5 s,
  then idle for 2.5 s; ``wake_delay_ms`` is from the lane saying busy (its first motion)
  to the first main-stream frame decoded, ``catch_up_ms`` to the first main frame at or
  after that instant (the decoder went from the key frame up to now).

Targets (issue 14): ``cpu_ratio_vs_full_decode`` of ``detect_idle`` <= 0.15, wake delay
<= 100 ms. The last line is one JSON object.

``python scripts/bench_detect.py [--seconds 10] [--wakes 4] [--lane motion|none]``
``[--scenario empty|three_cars|...]``
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon.capture.dual import make_capture
from daemon.capture.slot import LatestFrameSlot
from daemon.config.models import CameraConfig
from daemon.lane.motion import MotionDetector
from scripts.rig.camera import RtspCamera
from scripts.rig.clips import ClipStore, default_cache_dir, load_make_clip


class Lane:
    """Drains the slot and says ``busy`` as set; notes when it first said busy. With
    ``camera`` it runs the lane's motion detector on every frame, as the daemon's lane does
    (on the detect stream's frames with a detect stream, else on the main stream's)."""

    def __init__(self, slot: LatestFrameSlot, camera: CameraConfig | None = None) -> None:
        self.slot = slot
        self.camera = camera
        self.busy = False
        self.frames = 0
        self.busy_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        detector: MotionDetector | None = None
        while not self._stop.is_set():
            frame = self.slot.get(0.2)
            if frame is None:
                continue
            self.frames += 1
            if self.camera is not None:
                size = (frame.width, frame.height)
                if detector is None or detector.frame_size != size:
                    detector = MotionDetector(size, self.camera.roi, self.camera.motion)
                detector.update(frame.analysis_image, frame.pts,
                                limited_range=frame.limited_range)
            busy = self.busy
            if busy and self.busy_since is None:
                self.busy_since = time.monotonic()
            self.slot.mark_lane(frame.seq, busy)
            del frame

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _cpu_share(
    camera: CameraConfig, busy: bool, seconds: float, motion: bool
) -> dict[str, Any]:
    """Run one capture with the lane ``busy`` or not; CPU seconds per wall second."""
    slot, stop = LatestFrameSlot(), threading.Event()
    capture = make_capture(camera, slot, stop, lambda _s: None)
    lane = Lane(slot, camera if motion else None)
    lane.busy = busy
    capture.start()
    deadline = time.monotonic() + 30
    while lane.frames < 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3.0)  # past the first GOP: idle decoding settled
    cpu0, t0, f0 = time.process_time(), time.monotonic(), lane.frames
    time.sleep(seconds)
    cpu, wall, frames = time.process_time() - cpu0, time.monotonic() - t0, lane.frames - f0
    stop.set()
    capture.join(15)
    lane.stop()
    return {"cpu_s_per_s": round(cpu / wall, 4), "lane_fps": round(frames / wall, 1)}


def _wakes(camera: CameraConfig, wakes: int) -> dict[str, Any]:
    """Turn the lane busy ``wakes`` times; delays from its first busy word to main frames."""
    slot, stop = LatestFrameSlot(), threading.Event()
    capture = make_capture(camera, slot, stop, lambda _s: None)
    lane = Lane(slot)
    capture.start()
    reader = getattr(capture, "reader", None)
    if reader is None:
        raise SystemExit("no detect stream: make_capture gave a single-stream capture")
    time.sleep(5.0)
    delays, catch_up = [], []
    for _ in range(wakes):
        lane.busy_since = None
        decoded_before = len(reader.wake_log)
        lane.busy = True
        time.sleep(1.5)
        since = lane.busy_since
        if since is not None and len(reader.wake_log) > decoded_before:
            _woke, first = reader.wake_log[decoded_before]
            delays.append((first - since) * 1000)
            catch_up.append(reader.caught_up_after(since) * 1000)
        lane.busy = False
        time.sleep(2.5)
    stop.set()
    capture.join(15)
    lane.stop()
    return {
        "wakes": len(delays),
        "wake_delay_ms": {"median": round(statistics.median(delays), 1),
                          "max": round(max(delays), 1)} if delays else None,
        "catch_up_ms": {"median": round(statistics.median(catch_up), 1),
                        "max": round(max(catch_up), 1)} if catch_up else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print figures, then one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured wall time per mode")
    ap.add_argument("--wakes", type=int, default=4)
    ap.add_argument("--scenario", default="empty",
                    help="a clipgen scenario; empty: 12 s of an empty lane (the idle case)")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--detect-size", default="640x360")
    ap.add_argument("--detect-idle-fps", type=float, default=10.0,
                    help="frames a second an empty lane examines (the camera setting)")
    ap.add_argument("--lane", choices=("motion", "none"), default="motion",
                    help="the stand-in lane runs the motion detector (as the daemon) or nothing")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    size = tuple(int(v) for v in args.size.split("x"))
    dsize = tuple(int(v) for v in args.detect_size.split("x"))
    store = ClipStore(default_cache_dir())
    scenario: Any = args.scenario
    if scenario == "empty":  # an empty lane with sensor noise and a ticking timestamp
        scenario = load_make_clip().Scenario("empty_lane", (), duration_s=12.0, overlay=True)
    main_clip, _truth = store.get(scenario, size=(size[0], size[1]))
    sub_clip = store.scaled(main_clip, (dsize[0], dsize[1]))
    epoch = time.time()
    with RtspCamera(main_clip, epoch=epoch) as main_cam, RtspCamera(sub_clip, epoch=epoch) as sub:
        # idle_max_gop_s 2: the clips' GOP is 2 s, and key frames only must be allowed
        one = CameraConfig(id="bench", url=main_cam.url, idle_max_gop_s=2.0)
        dual = CameraConfig(id="bench", url=main_cam.url, detect_url=sub.url,
                            detect_idle_fps=args.detect_idle_fps)
        motion = args.lane == "motion"
        full = _cpu_share(one.model_copy(update={"idle_decode": "off"}), True, args.seconds,
                          motion)
        keys = _cpu_share(one, False, args.seconds, motion)
        idle = _cpu_share(dual, False, args.seconds, motion)
        wake = _wakes(dual, args.wakes)
    base = full["cpu_s_per_s"] or 1e-9
    result = {
        "main": args.size, "detect": args.detect_size, "seconds": args.seconds,
        "lane": args.lane, "detect_idle_fps": args.detect_idle_fps,
        "full": full, "keyframes": keys, "detect_idle": idle,
        "cpu_ratio_vs_full_decode": {"keyframes": round(keys["cpu_s_per_s"] / base, 3),
                                     "detect_idle": round(idle["cpu_s_per_s"] / base, 3)},
        **wake,
    }
    ratio = result["cpu_ratio_vs_full_decode"]
    print(f"full decode of the main stream: {full['cpu_s_per_s']:.3f} CPU s/s "
          f"({full['lane_fps']} fps to the lane)")
    print(f"idle, key frames only:          {keys['cpu_s_per_s']:.3f} CPU s/s "
          f"= {ratio['keyframes']:.3f}x full")
    print(f"idle with the detect stream:    {idle['cpu_s_per_s']:.3f} CPU s/s "
          f"= {ratio['detect_idle']:.3f}x full (target <= 0.15x)")
    print(f"wake delay (busy -> first main frame): {wake['wake_delay_ms']} ms (target <= 100); "
          f"caught up to the busy instant: {wake['catch_up_ms']} ms")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
