"""The floor of an idle camera with a detect stream: what FFmpeg alone costs, no daemon.

A bench child (``scripts/bench_decode.py --child`` with ``"floor": true`` in its spec,
planned by ``scripts/bench_dual.py``): per camera, one thread demuxes the main stream over
RTSP and drops its packets (the daemon keeps them, undecoded, while the lane is empty), and
one demuxes and decodes the detect stream in full, each frame's luma plane viewed by
capture's own ``daemon.capture.slot.luma`` (no conversion), nothing else. Its process
CPU against the same cameras decoding their main stream in full (``off``, same round) is
the lowest ``cpu_ratio_vs_full_decode.idle`` an idle camera with a detect stream can have
while it receives both streams and watches the detect one: what is left above it is the
daemon's own work (Python per packet and frame, the change check, the lane).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import av

from daemon.capture.slot import luma


def _loop(url: str, decode: bool, stop: threading.Event, count: list[int]) -> None:
    """Read ``url`` until ``stop``: packets dropped, or decoded and their luma viewed;
    ``count[0]``: packets (main) or frames (detect) handled."""
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10.0, 10.0)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # capture's default for one camera
        for packet in container.demux(stream):
            if stop.is_set():
                return
            if not decode:
                count[0] += 1
                continue
            for frame in packet.decode():
                count[0] += int(luma(frame).size > 0)


def floor_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the floor loops for ``spec["clips"]`` (main) and ``spec["detect_urls"]``; CPU %
    of the process over ``spec["seconds"]`` after ``spec["warmup"]``, and packets / frames
    handled per stream kind."""
    stop = threading.Event()
    loops = [(url, decode, [0]) for main, sub in zip(spec["clips"], spec["detect_urls"],
                                                     strict=True)
             for url, decode in ((main, False), (sub, True))]
    threads = [threading.Thread(target=_loop, args=(url, decode, stop, n), daemon=True)
               for url, decode, n in loops]
    for t in threads:
        t.start()

    def handled(decode: bool) -> int:
        return sum(n[0] for _, d, n in loops if d == decode)

    try:
        time.sleep(spec["warmup"])
        m0, d0 = handled(False), handled(True)
        t0, c0 = time.monotonic(), os.times()
        time.sleep(spec["seconds"])
        c1, wall = os.times(), time.monotonic() - t0
        m1, d1 = handled(False), handled(True)
    finally:
        stop.set()
    for t in threads:
        t.join(10.0)
    return {"cpu_pct": 100 * (c1.user + c1.system - c0.user - c0.system) / wall,
            "main_packets": m1 - m0, "detect_frames": d1 - d0}
