#!/usr/bin/env python3
"""Decode-cost bench of issue 14: N 1080p cameras, idle (key frames only) against full decoding.

Run through ``scripts/bench_resources.py --idle --cameras 1,2,4`` (or directly). Each
measurement is a child process running the real daemon (``daemon.app.App``, live mode: the
cameras are looping 1080p25 clips paced at their frame rate like a camera's packets, MQTT
off, an in-process Tencent emulator that finds no plate) for ``--seconds`` after a warm-up,
with the systemd unit's environment. Two generated clips per GOP (1 s and 2 s key-frame
intervals): ``empty`` (an empty lane, sensor noise only) and ``traffic`` (a car every 10 s,
the lane empty in between). Per camera count N and GOP, four runs, interleaved and repeated
(``--repeat``), medians reported:

- ``idle``: N empty lanes with ``idle_decode: off`` and with ``keyframes``; the ratio
  of the process CPU is ``cpu_ratio_vs_full_decode.idle`` (per camera: every camera is alike);
- ``busy``: N traffic lanes, same two settings: ``cpu_ratio_vs_full_decode.busy``;
- and, for N >= 2, ``mixed``: N-1 empty lanes and one traffic lane with ``keyframes`` (for
  N = 4 the issue's real-time target); ``--mixed-only`` runs just these.

``frames_behind``: each packet's delay behind its schedule (the clip paced like a camera),
the worst of every 0.2 s window per camera, in frames: ``_max`` over all windows and cameras,
``_p99``, ``_max_steady`` outside and ``_max_after_wake`` within 2 GOPs after the camera woke
(the rewound GOPs are decoded at once: the price of a wake-up), and, for ``mixed``,
``_max_idle_cameras`` (does the busy camera starve the others?).
``runqueue_wait_per_cpu_s``: seconds the daemon's threads were runnable but waited for a core,
per CPU second they ran (``/proc/self/task/*/schedstat``): near 0 on a machine of its own; on
a shared one, the other jobs' share, which delays packets however light the daemon is
(``--nice -10``, as root, measures as if the daemon came first). ``wake_delay_ms``: first
motion of a car (found once by the motion detector on a full decode of the clip) to the
first full-rate frame delivered after the wake-up; ``rss_mb``: the process's peak RSS
(VmHWM); for ``mixed`` also CPU seconds per thread role, ``smaps_rollup`` and the thread
count. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.decodestats import FPS, LAG_WINDOW_S, lag_stats, summarise, wake_delays_ms

ROOT = Path(__file__).resolve().parents[1]
ROI = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)]
TRAFFIC_ENTER_S = (3.0, 13.0, 23.0)
CLIP_S = 30.0
CHILD_PYTHON = [sys.executable]
"""The interpreter of the measured child (bench_resources.py: a runtime-only venv's)."""


# ---------------------------------------------------------------- clips


def _scenario(kind: str) -> Any:
    from clipgen.scene import Car, Scenario

    if kind == "empty":
        return Scenario("empty_lane", (), duration_s=CLIP_S)
    colours = [(200, 30, 40), (235, 235, 240), (40, 45, 55)]
    plates = ["京A·F0236", "粤B·D12345", "沪C·8K562"]
    cars = tuple(Car(p, c, enter_s=e) for p, c, e in zip(plates, colours, TRAFFIC_ENTER_S,
                                                          strict=True))
    return Scenario("traffic", cars, duration_s=CLIP_S)


def _render(job: tuple[str, str, tuple[int, int], int]) -> str:
    from bench_idle import encode_gop
    from clipgen.encode import render

    kind, out, size, gop_s = job
    _, _, frames, _ = render(_scenario(kind), size, FPS)
    encode_gop(frames, Path(out), size, FPS, gop_s * FPS)
    return out


def ensure_clips(size: tuple[int, int], gops: list[int], folder: Path) -> dict[tuple[str, int],
                                                                               Path]:
    """The empty and traffic clips per GOP, rendered once (2 processes)."""
    from concurrent.futures import ProcessPoolExecutor

    folder.mkdir(parents=True, exist_ok=True)
    paths = {(k, g): folder / f"{k}-{size[0]}x{size[1]}-gop{g}s.mp4"
             for k in ("empty", "traffic") for g in gops}
    todo = [(k, str(p), size, g) for (k, g), p in paths.items() if not p.is_file()]
    if todo:
        print(f"rendering {len(todo)} clip(s) into {folder} ...", flush=True)
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_render, todo))
    return paths


def motion_onsets(clip: Path) -> list[float]:
    """Clip times (s) where the lane's motion detector starts seeing motion, full decode."""
    import av

    from daemon.capture.slot import frame_from_av
    from daemon.config.models import MotionConfig
    from daemon.lane.motion import MotionDetector

    onsets: list[float] = []
    moving = False
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        det = None
        for i, f in enumerate(c.decode(stream)):
            fr = frame_from_av(f, "m", i, i / FPS, None)  # type: ignore[arg-type]
            det = det or MotionDetector((fr.width, fr.height), ROI, MotionConfig())
            m = det.update(fr.analysis_image, i / FPS, limited_range=fr.limited_range).moving
            if m and not moving:
                onsets.append(i / FPS)
            moving = m
    return onsets


# ---------------------------------------------------------------- child: one run


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the daemon on ``spec["clips"]`` (one per camera) and measure it (``"floor"``:
    FFmpeg alone on the streams instead, ``rig/floor.py``)."""
    if spec.get("floor"):
        from rig.floor import floor_child

        return floor_child(spec)
    from rig.deployed import run_prestart
    from rig.procstat import cpu_by_role, runqueue_wait_s, smaps_rollup_mb, status_kb, thread_times

    from daemon.app import App
    from daemon.config.models import Config
    from daemon.config.secrets import Secrets
    from daemon.ocr.emulator.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, EmulatorServer

    emulator = EmulatorServer(rate_limit=1000.0, reader=lambda _img: []).start()
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-") as tmp:
        detect = spec.get("detect_urls") or [None] * len(spec["clips"])
        cfg = Config.model_validate(settings := {
            "site": "bench",
            "cameras": [{"id": f"cam-{i + 1}", "url": clip, "roi": ROI, **spec["options"],
                         **({"detect_url": sub} if sub else {}),
                         **({} if clip.startswith("rtsp:") else {"loop": True})}
                        for i, (clip, sub) in enumerate(zip(spec["clips"], detect, strict=True))],
            "ocr": {"endpoint": emulator.url, "rate_limit": 100},
            "store": {"url": f"sqlite:///{tmp}/bench.db"},
            "mqtt": {"enabled": False},
            "health": {"metrics_enabled": False},
        })
        (Path(tmp) / "gatecam.yaml").write_text(json.dumps(settings))  # JSON is YAML
        run_prestart(sys.executable, Path(tmp) / "gatecam.yaml")  # Alembic stays out, as on a Pi
        app = App(cfg, Secrets(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, None))
        app.start()
        try:
            time.sleep(spec["warmup"])
            cams = app.stages().cameras
            dropped0 = [c.slot.dropped for c in cams]
            reads0 = main_reads([c.capture for c in cams])
            for c in cams:
                c.capture.max_lag_s = 0.0
            t0, c0, th0 = time.monotonic(), os.times(), thread_times()
            windows: list[list[float]] = [[] for _ in cams]
            ends: list[float] = []
            while time.monotonic() - t0 < spec["seconds"]:
                time.sleep(LAG_WINDOW_S)
                ends.append(time.monotonic())
                for w, c in zip(windows, cams, strict=True):  # the worst lag of each window
                    w.append(c.capture.max_lag_s)
                    c.capture.max_lag_s = 0.0
            c1, wall, th1 = os.times(), time.monotonic() - t0, thread_times()
            cpu_s = c1.user + c1.system - c0.user - c0.system
            out = {
                "cpu_pct": 100 * cpu_s / wall,
                "rss_mb": status_kb("VmHWM") / 1024,
                "lag_windows": windows,
                "window_ends": ends,
                "lane_dropped": [c.slot.dropped - d for c, d in zip(cams, dropped0, strict=True)],
                "main_reads": {k: v - reads0[k]
                               for k, v in main_reads([c.capture for c in cams]).items()},
                **wake_records([c.capture for c in cams], t0),
                "mode_switches": [getattr(c.capture, "switches", []) for c in cams],
                "threads": status_kb("Threads"),
                "thread_cpu_s": cpu_by_role(th0, th1),
                "runqueue_wait_per_cpu_s": runqueue_wait_s(th0, th1) / max(cpu_s, 1e-3),
                "smaps_rollup_mb": smaps_rollup_mb(),
            }
        finally:
            app.stop()
            emulator.stop()
    return out


def main_reads(captures: list[Any]) -> dict[str, int]:
    """Reads of the main stream's picture for a detect frame so far, over the cameras with a
    detect stream: ``matched`` (a main frame within ``MATCH_S``) and ``unmatched`` (none in
    the ring: the plate is read at the detect stream's resolution)."""
    readers = [r for r in (getattr(c, "reader", None) for c in captures) if r is not None]
    return {"matched": sum(r.matched for r in readers),
            "unmatched": sum(r.unmatched for r in readers)}


def wake_records(captures: list[Any], t0: float) -> dict[str, Any]:
    """The wake-ups since ``t0`` per camera: ``woke_at`` (monotonic) and ``wakes``: a
    single stream's (key frame's clip time, clip time woken at, woke, first full-rate frame);
    with a detect stream (its main stream rewound and decoded): Unix times of the wake, the
    first main frame decoded, the first decoded of the wake's instant or later, and the end
    of that full-rate decoding (inf: still decoding)."""
    to_wall = time.time() - time.monotonic()
    out: dict[str, Any] = {"wakes": [], "woke_at": []}
    for cap in captures:
        reader = getattr(cap, "reader", None)
        if reader is None:
            log = [(w, woke, first) for w, woke, first in cap.wake_log if woke >= t0]
            out["wakes"].append([(w.key_t, w.at_t, woke, first) for w, woke, first in log
                                 if w.reason in ("change", "lane")])
            out["woke_at"].append([woke for _, woke, _ in log])
            continue
        log2 = [(woke, first) for woke, first in reader.wake_log if woke >= t0]
        slept = [s for s in reader.sleep_log if s >= t0]
        out["wakes"].append([(woke + to_wall, first + to_wall,
                              woke + reader.caught_up_after(woke) + to_wall,
                              min((s for s in slept if s > woke), default=float("inf"))
                              + to_wall)
                             for woke, first in log2])
        out["woke_at"].append([woke for woke, _ in log2])
    return out


def run_child(spec: dict[str, Any], env: dict[str, str], nice: int = 0) -> dict[str, Any]:
    """One measurement in a fresh process (its own RSS and CPU), ``nice`` added to its
    priority (negative: root only; a shared machine's other jobs then wait first)."""
    prefix = ["nice", "-n", str(nice)] if nice else []
    proc = subprocess.run([*prefix, CHILD_PYTHON[0], __file__, "--child", json.dumps(spec)],
                          capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=spec["warmup"] + spec["seconds"] + 120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child failed: {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- parent


def parser() -> argparse.ArgumentParser:
    """The command line shared with ``scripts/bench_dual.py``."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cameras", default="1,2,4")
    ap.add_argument("--gops", default="1,2")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=6.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=JSON",
                    help="extra camera setting for every run, e.g. decode_threads=1")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness added to each run (negative needs root): on a shared "
                    "machine, measure as if the daemon had the cores it needs first")
    ap.add_argument("--mixed-only", action="store_true",
                    help="only the runs of N-1 idle cameras and one busy (N >= 2)")
    ap.add_argument("--clips", type=Path, default=Path(tempfile.gettempdir()) / "gatecam-decode")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    return ap


Source = tuple[str, str | None]
"""What a camera reads: its url, and its detect_url (None: a single stream)."""
Run = tuple[int, int, str, str, list[Source]]
"""(cameras, GOP s, empty|traffic|mixed, off|<idle mode>, each camera's source)."""


def plan_runs(counts: list[int], gops: list[int], sources: dict[tuple[str, int, str], Source],
              idle_mode: str, mixed_only: bool) -> list[Run]:
    """Per camera count and GOP: empty and traffic lanes decoded in full (``off``) and in
    ``idle_mode`` (``sources[(kind, gop, mode)]``), and N-1 empty + 1 traffic (N >= 2)."""
    plan: list[Run] = []
    for n in counts:
        for g in gops:
            for kind in () if mixed_only else ("empty", "traffic"):
                for mode in ("off", idle_mode):
                    plan.append((n, g, kind, mode, [sources[(kind, g, mode)]] * n))
            if n >= 2:
                mixed = [sources[("empty", g, idle_mode)]] * (n - 1)
                plan.append((n, g, "mixed", idle_mode,
                             [*mixed, sources[("traffic", g, idle_mode)]]))
    return plan


def run_rounds(plan: list[Run], args: argparse.Namespace, extra: dict[str, Any],
               ) -> dict[tuple[int, int, str, str], list[dict[str, Any]]]:
    """Every run of ``plan`` once per round (interleaved), ``args.repeat`` rounds, each in
    a child process with the systemd unit's environment."""
    from rig.deployed import unit_environment

    env = {**os.environ, **unit_environment(ROOT / "systemd/gatecam.service")}
    runs: dict[tuple[int, int, str, str], list[dict[str, Any]]] = {}
    for rep in range(args.repeat):
        for n, g, kind, mode, sources in plan:
            idle = "off" if mode == "off" else "keyframes"  # the main stream's, if alone
            spec = {"clips": [url for url, _ in sources],
                    "detect_urls": [sub if mode in ("detect", "floor") else None
                                    for _, sub in sources],
                    "options": {"idle_decode": idle, "idle_max_gop_s": g, **extra},
                    "seconds": args.seconds, "warmup": args.warmup, "floor": mode == "floor"}
            r = run_child(spec, env, args.nice)
            runs.setdefault((n, g, kind, mode), []).append(r)
            if mode == "floor":
                print(f"  round {rep + 1} N={n} gop {g} s {kind:<7} {mode:<9} cpu "
                      f"{r['cpu_pct']:5.1f}% (FFmpeg alone: {r['main_packets']} main packets "
                      f"demuxed, {r['detect_frames']} detect frames decoded)", flush=True)
                continue
            lag = lag_stats([r], None, 2.0 * g)
            print(f"  round {rep + 1} N={n} gop {g} s {kind:<7} {mode:<9} cpu {r['cpu_pct']:5.1f}% "
                  f"rss {r['rss_mb']:.0f} MB behind {lag['frames_behind_max']:.1f} frames "
                  f"(steady {lag['frames_behind_max_steady']:.1f}), run-queue wait "
                  f"{r['runqueue_wait_per_cpu_s']:.2f} s per CPU s (load "
                  f"{os.getloadavg()[0]:.2f}){main_reads_text(r)}", flush=True)
    return runs


def main_reads_text(run: dict[str, Any]) -> str:
    """", main reads M matched / U unmatched" for a run with detect streams that read."""
    reads = run.get("main_reads") or {}
    if not reads.get("matched") and not reads.get("unmatched"):
        return ""
    return f", main reads {reads['matched']} matched / {reads['unmatched']} unmatched"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see the module docstring)."""
    args = parser().parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    w, h = (int(v) for v in args.size.lower().split("x"))
    gops = [int(g) for g in args.gops.split(",")]
    counts = [int(n) for n in args.cameras.split(",")]
    extra = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    clips = ensure_clips((w, h), gops, args.clips)
    onsets = {g: motion_onsets(clips[("traffic", g)]) for g in gops}
    print(f"motion onsets (traffic clip): {onsets}", flush=True)
    sources: dict[tuple[str, int, str], Source] = {
        (k, g, m): (str(p), None) for (k, g), p in clips.items() for m in ("off", "keyframes")}
    plan = plan_runs(counts, gops, sources, "keyframes", args.mixed_only)
    runs = run_rounds(plan, args, extra)
    print(json.dumps(summarise(runs, counts, gops, lambda w, g: wake_delays_ms(w, onsets[g]),
                               {"nice": args.nice, **extra})))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
