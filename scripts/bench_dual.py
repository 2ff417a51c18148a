#!/usr/bin/env python3
"""Decode-cost bench of issue 14 with a detect stream: N cameras, each a 1080p main stream
and a 640x360 detect stream, against full decoding of the main stream, over RTSP.

Run through ``scripts/bench_resources.py --idle --detect --cameras 1,2,4 --gops 1,2`` (or
directly). The clips are ``scripts/bench_decode.py``'s (``empty`` and ``traffic``, 1 s and
2 s GOPs, 30 s) with their detect versions (the same picture scaled, the same key frames,
``scripts/rig/clips.py``); each is served over RTSP by the rig's GStreamer servers
(``scripts/rig/camera.py``, other processes), all anchored to one epoch so a clip's two
servers act as one IP camera's two streams. Every camera of a run connects to them (the
media is shared, as a camera's). Each run is the daemon in a child process (bench_decode's
``child``); per camera count N and GOP, interleaved and repeated (``--repeat``):

- ``off``: N cameras reading the main stream alone, decoded in full (``idle_decode: off``):
  the baseline, measured in the same run;
- ``detect``: N cameras with ``detect_url``: motion on the detect stream, the main stream
  kept undecoded while the lane is empty and decoded while it is busy;
- ``floor``: the ``empty`` lanes' two streams read by FFmpeg alone (``rig/floor.py``);
- both for ``empty`` and ``traffic`` lanes, and for N >= 2 ``mixed`` (N-1 empty, 1 traffic).

``cpu_ratio_vs_full_decode``: ``detect`` / ``off`` CPU of the process, idle (empty lanes)
and busy (traffic); ``frames_behind``: the worst lag of either stream's packets behind
their arrival schedule (``DualCapture.max_lag_s``); ``wake_delay_ms``: the first motion of a
car (motion detector on a full decode of the main clip) to the first main-stream frame
decoded after the main stream woke (the wake-up that covers the car, per camera: capture's
change check may wake it before the lane sees motion, then the delay is small or negative),
and ``main_decoded_after_busy_ms`` from that wake-up's rewind to that frame (every wake-up:
the main decoder's share of the delay); ``cpu_ratio_floor_vs_full_decode``: FFmpeg alone
receiving both streams of an empty lane and decoding the detect one (``rig/floor.py``, same
round) against the full decode: the lowest idle ratio a camera that receives and watches
both streams can have; ``main_reads``: the lane's reads of a detect frame's main picture,
``matched`` or ``unmatched`` (no main frame within ``MATCH_S`` left in the ring:
read at the detect resolution), summed over the detect runs; ``rss_mb``: peak RSS.
Targets (issue 14): idle <= 0.15x, wake <= 100 ms. The last line is one JSON object.
"""

from __future__ import annotations

import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_decode import CLIP_S, Source, ensure_clips, motion_onsets, parser, plan_runs, run_rounds
from rig.decodestats import dual_wake_delays_ms, summarise

from scripts.rig.camera import RtspCamera
from scripts.rig.clips import ClipStore


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see the module docstring)."""
    import json

    ap = parser()
    ap.add_argument("--detect-size", default="640x360")
    ap.add_argument("--detect-idle-fps", type=float,
                    help="frames a second an empty lane examines (default: the config's)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    dw, dh = (int(v) for v in args.detect_size.lower().split("x"))
    gops = [int(g) for g in args.gops.split(",")]
    counts = [int(n) for n in args.cameras.split(",")]
    extra = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    if args.detect_idle_fps:
        extra["detect_idle_fps"] = args.detect_idle_fps
    clips = ensure_clips((w, h), gops, args.clips)
    store = ClipStore(args.clips)
    subs = {key: store.scaled(path, (dw, dh)) for key, path in clips.items()}
    onsets = {g: motion_onsets(clips[("traffic", g)]) for g in gops}
    print(f"motion onsets (traffic clip): {onsets}", flush=True)
    epoch = time.time()
    with ExitStack() as servers:
        sources: dict[tuple[str, int, str], Source] = {}
        for (kind, g), path in clips.items():
            main_url = servers.enter_context(RtspCamera(path, epoch=epoch)).url
            sub_url = servers.enter_context(RtspCamera(subs[(kind, g)], epoch=epoch)).url
            sources[(kind, g, "off")] = (main_url, None)
            sources[(kind, g, "detect")] = (main_url, sub_url)
        plan = plan_runs(counts, gops, sources, "detect", args.mixed_only)
        if not args.mixed_only:  # the floor: FFmpeg alone on the same empty lanes' streams
            plan += [(n, g, "empty", "floor", [sources[("empty", g, "detect")]] * n)
                     for n in counts for g in gops]
        runs = run_rounds(plan, args, extra)
    summary = summarise(runs, counts, gops,
                        lambda wakes, g: dual_wake_delays_ms(wakes, onsets[g], epoch, CLIP_S),
                        {"nice": args.nice, "detect": args.detect_size, **extra},
                        idle_mode="detect")
    for n in counts:  # the lane's busy word -> the first main frame: the decoder's share
        for g in gops:
            after = sorted(1000 * (first - woke) for (rn, rg, kind, mode), rs in runs.items()
                           if (rn, rg, mode) == (n, g, "detect") and kind != "mixed"
                           for r in rs for cam in r["wakes"] for woke, first, *_ in cam)
            summary[f"cameras_{n}_gop_{g}s"]["main_decoded_after_busy_ms"] = {
                "median": round(after[len(after) // 2]) if after else None,
                "max": round(after[-1]) if after else None}
            floor, full = runs.get((n, g, "empty", "floor")), runs.get((n, g, "empty", "off"))
            if floor and full:  # within each round, as the other ratios
                summary[f"cameras_{n}_gop_{g}s"]["cpu_ratio_floor_vs_full_decode"] = round(
                    statistics.median(a["cpu_pct"] / b["cpu_pct"]
                                      for a, b in zip(floor, full, strict=True)), 3)
            reads = [r.get("main_reads", {}) for (rn, rg, _, mode), rs in runs.items()
                     if (rn, rg, mode) == (n, g, "detect") for r in rs]
            summary[f"cameras_{n}_gop_{g}s"]["main_reads"] = {
                k: sum(r.get(k, 0) for r in reads) for k in ("matched", "unmatched")}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
