#!/usr/bin/env python3
"""Bench of issue 16's second target: the operator page adds <= 15 MB RSS to the daemon and
never delays a lane (frame-to-decision with 5 browsers polling within 5 % of none).

All on loopback, every process started and ended here by PID: the Tencent emulator in its
own process (``--ocr oracle``, the default: it answers the clip's one plate at once, so
the OCR's own CPU, remote in production, is not noise here), an RTSP camera looping the
clip (scripts/rig/camera.py; a live source, so a frame's time is its decode time, not the
clip's timeline) and ``python -m daemon run`` (the unit's ``Environment=``, as deployed)
with ``--cameras`` lanes on it, MQTT off: first with the page off for ``--off-s`` (the baseline),
then with it on for ``--phases`` pairs of ``--phase-s`` phases of ``--browsers`` and of 0
simulated browsers (scripts/rig/browsers.py: logged in through the form, polling
``/passages/rows`` every 3 s as ``live.js`` does), in ABBA order so a drift in the
machine's load falls on both alike.

A lane's frame-to-decision time is each passage's ``decided_at - captured_at`` (what
``gatecam_decide_latency_seconds`` observes), read from the database afterwards; a passage
counts for a phase when both instants fall inside it. Printed: median and p90 per
condition, the ratio of medians (browsers / none; page on / off) with a bootstrap 90 %
interval (whole phases resampled: the run's own noise), the RSS (VmRSS every 0.5 s)
median over the same first ``--off-s`` after the first passage page off and on (browsers
polling), and the load average. The last line is one JSON object.

    .venv/bin/python scripts/bench_weblane.py [--cameras 2] [--phases 6] [--phase-s 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_resources import mem_mb  # noqa: E402
from rig.deployed import unit_environment  # noqa: E402

from daemon.web.auth import hash_password  # noqa: E402
from daemon.web.routes import POLL_S  # noqa: E402
from scripts.rig.broker import free_port  # noqa: E402
from scripts.rig.browsers import Browser  # noqa: E402
from scripts.rig.camera import RtspCamera  # noqa: E402
from scripts.rig.clips import ClipStore, default_cache_dir  # noqa: E402
from scripts.rig.daemonproc import E2E_SECRET_ID, E2E_SECRET_KEY, DaemonProcess  # noqa: E402

USER, PASSWORD = "bench", "bench-web-lane-pass"
TARGET_RATIO = 1.05
"""Frame-to-decision with the browsers polling over without (issue 16)."""


def log(msg: str) -> None:
    """Progress on stderr (stdout holds the figures)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Emulator:
    """``python -m daemon emulate-tencent --port 0 [--oracle PLATE]`` as a child; its URL
    from stdout."""

    def __init__(self, oracle: str | None) -> None:
        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=E2E_SECRET_ID,
                   TENCENTCLOUD_SECRET_KEY=E2E_SECRET_KEY)
        extra = ["--oracle", oracle] if oracle else []
        self.proc = subprocess.Popen([sys.executable, "-m", "daemon", "emulate-tencent",
                                      "--port", "0", *extra], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode() if self.proc.stdout else ""
        if not line.strip():
            self.stop()
            raise RuntimeError("the emulator printed no URL")
        self.url = line.split()[-1]

    def stop(self) -> None:
        """SIGTERM our child by PID; SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def write_config(work: Path, name: str, cam_url: str, *, cameras: int, endpoint: str,
                 web_port: int | None) -> Path:
    """The daemon's config: ``cameras`` lanes on the RTSP camera, MQTT off, page on/off."""
    db = work / f"{name}.db"
    cfg: dict[str, Any] = {
        "site": "bench",
        "cameras": [{"id": f"cam-{i + 1}", "url": cam_url, "direction": "entry",
                     "roi": [[0.0, 0.25], [1.0, 0.25], [1.0, 1.0], [0.0, 1.0]]}
                    for i in range(cameras)],
        "ocr": {"endpoint": endpoint, "timeout_s": 15.0},
        "store": {"url": f"sqlite:///{db}", "snapshots": str(work / f"{name}-snap")},
        # the clip loops every 7.7 s: the same plate coming round is a new passage
        "passage": {"dedup_window_s": 0.0},
        "mqtt": {"enabled": False},
        "health": {"metrics_port": 0},
        "logging": {"level": "WARNING"},
        "web": {"enabled": web_port is not None, "port": web_port or 8088,
                "users": [{"name": USER, "password_hash": hash_password(PASSWORD)}]},
    }
    path = work / f"{name}.yaml"
    path.write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")  # JSON is YAML
    return path


def committed(db: Path) -> int:
    """Passages committed so far (read only; 0 before the table exists)."""
    with contextlib.suppress(sqlite3.Error), contextlib.closing(
            sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
        return int(c.execute("SELECT count(*) FROM passages").fetchone()[0])
    return 0


def decisions(db: Path) -> list[tuple[float, float, float]]:
    """(captured, decided) wall times (epoch s) and the OCR round trip (s) of every
    committed passage."""
    from daemon.store.db import Store

    store = Store(f"sqlite:///{db}")
    try:
        rows = store.recent_passage_objects(100_000)
    finally:
        store.close()
    return [(p.captured_at.timestamp(), p.decided_at.timestamp(), p.latency_ms / 1000)
            for p in rows]


class Sampler(threading.Thread):
    """(seconds since ``t0``, VmRSS MiB) of one PID every 0.5 s once ``t0`` is set."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.done = pid, threading.Event()
        self.samples: list[tuple[float, float]] = []
        self.t0: float | None = None

    def run(self) -> None:
        while not self.done.wait(0.5):
            if self.t0 is not None:
                with contextlib.suppress(OSError):  # the daemon just ended
                    self.samples.append((time.monotonic() - self.t0, mem_mb(self.pid, "VmRSS")))

    def window(self, until_s: float) -> list[float]:
        """RSS samples of the first ``until_s`` seconds."""
        return [mb for t, mb in self.samples if t <= until_s]


def start_daemon(work: Path, name: str, cfg: Path, db: Path, timeout_s: float = 90.0
                 ) -> tuple[DaemonProcess, Sampler]:
    """Start the daemon; return once it committed its first passage (models loaded)."""
    proc = DaemonProcess(["run", "-c", str(cfg)], work / f"{name}.log")
    threading.Thread(target=lambda: [None for _ in proc.proc.stdout or ()],
                     daemon=True).start()  # keep its stdout pipe drained
    sampler = Sampler(proc.proc.pid)
    sampler.start()
    deadline = time.monotonic() + timeout_s
    while committed(db) == 0:
        if proc.proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"daemon {name}: no passage; log tail:\n{proc.log()[-2000:]}")
        time.sleep(0.5)
    return proc, sampler


def stop_daemon(proc: DaemonProcess, sampler: Sampler) -> int:
    """SIGTERM (by PID) and the exit code."""
    sampler.done.set()
    return proc.terminate(timeout=30)


Phase = tuple[str, float, float]
"""(condition, start, end): wall-clock epoch seconds."""


def run_off(work: Path, cam_url: str, args: argparse.Namespace, endpoint: str
            ) -> tuple[list[Phase], Sampler, Path, int]:
    """The daemon with the page off: its RSS and decisions over ``--off-s``."""
    cfg = write_config(work, "off", cam_url, cameras=args.cameras, endpoint=endpoint,
                       web_port=None)
    proc, sampler = start_daemon(work, "off", cfg, work / "off.db")
    try:
        sampler.t0 = time.monotonic()
        t0 = time.time()
        time.sleep(args.off_s)
        phases = [("off", t0, time.time())]
    finally:
        code = stop_daemon(proc, sampler)
    return phases, sampler, work / "off.db", code


def run_on(work: Path, cam_url: str, args: argparse.Namespace, endpoint: str
           ) -> tuple[list[Phase], Sampler, list[Browser], Path, int]:
    """The daemon with the page on: phases of ``--browsers`` and 0 browsers in ABBA order
    (a drift in the machine's load falls on both alike), browsers first so that the RSS
    window matched with the page-off run has them."""
    port = free_port()
    cfg = write_config(work, "on", cam_url, cameras=args.cameras, endpoint=endpoint,
                       web_port=port)
    proc, sampler = start_daemon(work, "on", cfg, work / "on.db")
    active, stop = threading.Event(), threading.Event()
    busy = str(args.browsers)
    phases: list[Phase] = []
    browsers: list[Browser] = []
    try:
        browsers = [Browser(port, USER, PASSWORD, active, stop)
                    for _ in range(args.browsers)]
        for b in browsers:
            b.start()
        sampler.t0 = time.monotonic()
        for i in range(args.phases):
            for cond in ((busy, "0"), ("0", busy))[i % 2]:
                active.set() if cond == busy else active.clear()
                t0 = time.time()
                time.sleep(args.phase_s)
                phases.append((cond, t0, time.time()))
            log(f"phases {len(phases)}/{2 * args.phases} done, "
                f"{committed(work / 'on.db')} passages so far")
    finally:
        stop.set()
        code = stop_daemon(proc, sampler)
    return phases, sampler, browsers, work / "on.db", code


def latencies(db: Path, phases: list[Phase]) -> dict[str, list[list[tuple[float, float]]]]:
    """(frame-to-decision, OCR round trip) seconds of the passages wholly inside a phase:
    by condition, one list per phase."""
    out: dict[str, list[list[tuple[float, float]]]] = {}
    rows = decisions(db)
    for cond, t0, t1 in phases:
        out.setdefault(cond, []).append(
            [(d - c, ocr) for c, d, ocr in rows if t0 <= c and d <= t1])
    return out


def ratio_interval(a: list[list[float]], b: list[list[float]], rounds: int = 2000
                   ) -> tuple[float, float]:
    """Bootstrap 90 % interval of median(a) / median(b), resampling whole phases (the
    passages of one phase share its load): the run's own noise."""
    rng = random.Random(16)

    def median_of(blocks: list[list[float]]) -> float:
        pooled = [x for block in rng.choices(blocks, k=len(blocks)) for x in block]
        return statistics.median(pooled) if pooled else float("nan")

    ratios = sorted(median_of(a) / median_of(b) for _ in range(rounds))
    ratios = [r for r in ratios if not math.isnan(r)] or [math.nan]  # empty draws
    return ratios[int(0.05 * len(ratios))], ratios[int(0.95 * len(ratios)) - 1]


def summary(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    """n, median and p90 of frame-to-decision, median OCR round trip, in ms."""
    if not pairs:
        return {"n": 0, "median_ms": None, "p90_ms": None, "ocr_median_ms": None}
    values = [d for d, _ in pairs]
    q = statistics.quantiles(values, n=10) if len(values) > 1 else [values[0]] * 9
    return {"n": len(values), "median_ms": round(1000 * statistics.median(values), 1),
            "p90_ms": round(1000 * q[8], 1),
            "ocr_median_ms": round(1000 * statistics.median(o for _, o in pairs), 1)}


def main(argv: list[str] | None = None) -> int:
    """Run both daemons, print the figures; the last line is one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phases", type=int, default=6, help="pairs of phases (N and 0 browsers)")
    ap.add_argument("--phase-s", type=float, default=10.0, help="seconds per phase")
    ap.add_argument("--off-s", type=float, default=30.0, help="seconds of the page-off run")
    ap.add_argument("--browsers", type=int, default=5)
    ap.add_argument("--cameras", type=int, default=2, help="lanes replaying the clip")
    ap.add_argument("--scenario", default="one_car", help="clip (make_clip.py scenarios)")
    ap.add_argument("--ocr", choices=("oracle", "rapidocr"), default="oracle",
                    help="the emulator answers the clip's one plate at once (default) or reads "
                    "pixels with RapidOCR (its 0.3-2 s of CPU per call is noise here)")
    ap.add_argument("--clip-cache", type=Path, default=default_cache_dir())
    ap.add_argument("--workdir", type=Path, help="keep logs and databases here")
    args = ap.parse_args(argv)
    if not (1 <= args.phases <= 20 and 5 <= args.phase_s <= 120 and 5 <= args.off_s <= 300
            and 1 <= args.browsers <= 16 and 1 <= args.cameras <= 4):
        ap.error("out of range: --phases 1..20, --phase-s 5..120, --off-s 5..300, "
                 "--browsers 1..16, --cameras 1..4")
    signal.signal(signal.SIGTERM, lambda n, _f: sys.exit(f"signal {n}"))
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-weblane-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        out = bench(args, work)
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Both runs and the figures (printed as they come)."""
    clip, truth = ClipStore(args.clip_cache).get(args.scenario)
    plates = {v["plate"].replace("·", "") for v in truth["vehicles"]}
    if args.ocr == "oracle" and len(plates) != 1:
        raise SystemExit(f"--ocr oracle needs a scenario with one plate, not {sorted(plates)}")
    env = unit_environment(ROOT / "systemd/gatecam.service")  # the daemon as deployed
    os.environ.update(env)  # for the children started from here on
    load0 = os.getloadavg()[0]
    emulator = Emulator(plates.pop() if args.ocr == "oracle" else None)
    cam = RtspCamera(clip, loop=True)
    try:
        cam.start()
        log(f"page off: {args.off_s:.0f} s; environment from the unit: {env}")
        off_phases, off_rss, off_db, off_code = run_off(work, cam.url, args, emulator.url)
        log(f"page on: {args.phases} x ({args.browsers}, 0) browsers, {args.phase_s:.0f} s "
            "each, ABBA")
        on_phases, on_rss, browsers, on_db, on_code = run_on(work, cam.url, args,
                                                             emulator.url)
    finally:
        cam.stop()
        emulator.stop()
    busy = str(args.browsers)
    blocks = {**latencies(off_db, off_phases), **latencies(on_db, on_phases)}
    out: dict[str, Any] = {
        "cameras": args.cameras, "browsers": args.browsers, "poll_s": POLL_S,
        "phase_s": args.phase_s, "phases": 2 * args.phases, "ocr": args.ocr,
        "scenario": args.scenario,
        "decide": {cond: summary([x for b in blocks[cond] for x in b])
                   for cond in ("off", "0", busy)},
    }
    out.update(decide_figures(blocks, busy))
    out.update(rss_figures(off_rss, on_rss, args.off_s))
    seconds = sorted(x for b in browsers for x in b.seconds)
    out.update(browser_requests=sum(b.requests for b in browsers),
               browser_errors=sum(b.errors for b in browsers),
               browser_p95_ms=round(1000 * seconds[int(0.95 * (len(seconds) - 1))], 1)
               if seconds else None,
               exit_codes=[off_code, on_code],
               loadavg_1m=[round(load0, 1), round(os.getloadavg()[0], 1)],
               cpus=os.cpu_count())
    print(f"browsers: {out['browser_requests']} requests, {out['browser_errors']} errors, "
          f"p95 {out['browser_p95_ms']} ms; daemon exit codes {off_code}, {on_code}; "
          f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return out


def decide_figures(blocks: dict[str, list[list[tuple[float, float]]]], busy: str
                   ) -> dict[str, Any]:
    """Print the frame-to-decision lines; the ratios for the JSON."""
    for cond, label in (("off", "page off"), ("0", "page on, 0 browsers"),
                        (busy, f"page on, {busy} browsers")):
        f = summary([x for b in blocks[cond] for x in b])
        print(f"frame-to-decision, {label:<22} n={f['n']:3d}  median {f['median_ms']} ms  "
              f"p90 {f['p90_ms']} ms (OCR round trip {f['ocr_median_ms']} ms)")
    lat = {cond: [[d for d, _ in b] for b in bs] for cond, bs in blocks.items()}
    flat = {cond: [x for b in bs for x in b] for cond, bs in lat.items()}
    out: dict[str, Any] = {}
    if flat["0"] and flat[busy]:
        ratio = statistics.median(flat[busy]) / statistics.median(flat["0"])
        lo, hi = ratio_interval(lat[busy], lat["0"])
        verdict = ("met" if hi <= TARGET_RATIO else "not met" if lo > TARGET_RATIO
                   else "not resolved: the run's noise is wider than the target")
        out.update(decide_ratio_browsers=round(ratio, 3),
                   decide_ratio_90ci=[round(lo, 3), round(hi, 3)], decide_verdict=verdict)
        print(f"{busy} browsers / none: x{ratio:.3f} (bootstrap 90 % interval "
              f"x{lo:.3f}..x{hi:.3f}); target <= x{TARGET_RATIO}: {verdict}")
    if flat["off"] and flat["0"]:
        out["decide_ratio_page_on_vs_off"] = round(
            statistics.median(flat["0"]) / statistics.median(flat["off"]), 3)
    return out


def rss_figures(off: Sampler, on: Sampler, window_s: float) -> dict[str, Any]:
    """RSS off and on over the same first ``window_s`` after the first passage (page on:
    browsers polling in the first phase), and on over the whole run."""
    off_mb, on_mb = off.window(window_s), on.window(window_s)
    if not (off_mb and on_mb):
        return {"rss_added_mb": None}
    a, b = statistics.median(off_mb), statistics.median(on_mb)
    whole = [mb for _, mb in on.samples]
    out = {"rss_off_mb": round(a, 1), "rss_on_mb": round(b, 1), "rss_added_mb": round(b - a, 1),
           "rss_off_max_mb": round(max(off_mb), 1), "rss_on_max_mb": round(max(whole), 1),
           "rss_on_end_mb": round(whole[-1], 1), "rss_target_met": b - a <= 15}
    print(f"RSS median over the first {window_s:.0f} s: page off {a:.1f} MB, page on {b:.1f} "
          f"MB: +{b - a:.1f} MB (target <= +15 MB); max {out['rss_off_max_mb']} / "
          f"{out['rss_on_max_mb']} MB, page on at the end {out['rss_on_end_mb']} MB")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
