#!/usr/bin/env python3
"""Resource benchmark: memory and CPU of the daemon for one 1080p camera replayed in real time.

Three processes: the Tencent emulator (``gatecam emulate-tencent``, its own process so its
OCR model does not count), the daemon (``--daemon-python``: use a venv holding only the
runtime dependencies to measure what a Pi runs; ``gatecam run`` on a looping 1080p clip paced at
its frame rate, MQTT off) and, as the baseline measured in the same run, a decode-only
loop (PyAV, same clip, same pacing, frames converted to BGR as capture does). CPU is read
from /proc/<pid>/stat, memory from /proc/<pid>/status (VmRSS sampled, VmHWM at the end).
The last line is one JSON object with ``rss_mb`` (the largest sample; issue 11's target is
200 MB) and ``cpu_ratio_vs_decode``.

The daemon runs as the unit runs it on a Pi (``scripts/rig/deployed.py``): with its
``Environment=`` (glibc's arenas), after its ``ExecStartPre=`` (``gatecam migrate``, so
Alembic never loads into the daemon), in a venv with the runtime dependencies only (made
once in the temp folder; ``--test-venv``: this interpreter's, whose test extras the daemon's
imports pull in), and with that interpreter's shared libraries dropped from the page cache
first, so they are mapped as read back from disk, as at boot (``--warm-cache`` leaves them:
just after a pip install, the same imports showed 44 MB more file-backed RSS).

    .venv/bin/python scripts/bench_resources.py [--seconds 40] [--size 1920x1080] [--fps 25]

``--idle --cameras 1,2,4 [--gops 1,2] [--repeat 2]`` runs instead the idle-decoding bench of
issue 14 (``scripts/bench_decode.py``: per camera ``cpu_ratio_vs_full_decode`` idle and
busy, ``rss_mb``, ``frames_behind_max``, ``wake_delay_ms``); with ``--detect`` each camera
also has a 640x360 detect stream, all served over RTSP (``scripts/bench_dual.py``), against
full decoding of the same main stream in the same run. The measured children run in the
runtime-only venv too (unless ``--test-venv``), after the same page-cache drop, and each
runs ``gatecam migrate`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rig.deployed import (  # the daemon as the unit runs it
    evict_libraries,
    run_prestart,
    runtime_python,
    unit_environment,
    unit_prestart,
)

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
SECRET_ID, SECRET_KEY = "AKIDgatecamBENCH", "gatecam-bench-key"
RSS_TARGET_MB = 200
"""Issue 11: one 1080p camera with the local reader loaded, RSS at most (sampled)."""

DECODE_ONLY = r"""
import sys, time, av
path, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
while time.monotonic() < end:
    with av.open(path) as c:
        s = c.streams.video[0]
        s.codec_context.thread_type = "AUTO"
        t0, p0 = time.monotonic(), None
        for f in c.decode(s):
            img = f.to_ndarray(format="bgr24")
            t = float(f.pts * s.time_base)
            p0 = t if p0 is None else p0
            delay = t0 + (t - p0) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if time.monotonic() >= end:
                break
"""


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_int(pid: int, key: str) -> int:
    """One integer field of /proc/<pid>/status (kB for the memory fields), 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def mem_mb(pid: int, key: str) -> float:
    """VmRSS / VmHWM / RssAnon / RssFile of a live process in MiB."""
    return status_int(pid, key) / 1024


def smaps_by_owner(pid: int, top: int = 12) -> list[tuple[str, float]]:
    """Resident MiB per owner (a library's file name, ``[heap]``, ``anon``), largest first."""
    owners: dict[str, float] = {}
    owner = "anon"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
            name = head[5] if len(head) > 5 else ""
            if name.startswith("/"):
                owner = "lib " + Path(name).name.split(".so")[0]
            else:
                owner = name or "anon (malloc arenas, thread stacks, numpy, codec buffers)"
        elif line.startswith("Rss:"):
            owners[owner] = owners.get(owner, 0.0) + int(head[1]) / 1024
    return sorted(owners.items(), key=lambda kv: -kv[1])[:top]


def measure(proc: subprocess.Popen[bytes], seconds: float, warmup: float) -> dict[str, float]:
    """CPU over ``seconds`` after ``warmup``; RSS sampled every 0.5 s; peak (VmHWM)."""
    time.sleep(warmup)
    if proc.poll() is not None:
        raise RuntimeError(f"process {proc.args!r} exited early with {proc.returncode}")
    c0, t0 = cpu_s(proc.pid), time.monotonic()
    samples = []
    while time.monotonic() - t0 < seconds and proc.poll() is None:
        samples.append(mem_mb(proc.pid, "VmRSS"))
        time.sleep(0.5)
    cpu = cpu_s(proc.pid) - c0
    wall = time.monotonic() - t0
    return {"cpu_s": cpu, "cpu_pct": 100 * cpu / wall, "rss_mb": sum(samples) / len(samples),
            "rss_max_mb": max(samples), "hwm_mb": mem_mb(proc.pid, "VmHWM"),
            "anon_mb": mem_mb(proc.pid, "RssAnon"), "file_mb": mem_mb(proc.pid, "RssFile"),
            "threads": status_int(proc.pid, "Threads")}


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM our child by PID and wait."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


def parse_args() -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--scenario", default="three_cars")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the daemon (after the unit's Environment=)")
    ap.add_argument("--no-unit-env", action="store_true",
                    help="do not apply systemd/gatecam.service's Environment= to the daemon "
                    "nor run its ExecStartPre= (gatecam migrate) before it")
    ap.add_argument("--warm-cache", action="store_true",
                    help="leave the libraries in the page cache as they are (by default they "
                    "are dropped first, so they are mapped as a Pi maps them at boot)")
    ap.add_argument("--daemon-python",
                    help="interpreter for the daemon and the baseline (default: a venv with "
                    "the runtime dependencies only, made once: rig/deployed.runtime_python)")
    ap.add_argument("--test-venv", action="store_true",
                    help="run the daemon in this interpreter's venv instead (its test extras "
                    "load into the daemon: httpx's CLI imports rich, click, pygments)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the decode-only run")
    ap.add_argument("--workers", type=int, help="ocr.workers for the daemon (default: config's)")
    ap.add_argument("--cameras", type=int, default=1,
                    help="cameras replaying the clip in the daemon (the targets are for one; "
                    "cpu_ratio_vs_decode is then per camera)")
    ap.add_argument("--camera-option", action="append", default=[], metavar="KEY=JSON",
                    help="extra camera setting, e.g. decode_threads=1")
    return ap.parse_args()


def daemon_interpreter(given: str | None, *, test_venv: bool) -> str:
    """The measured daemon's interpreter: ``--daemon-python``, else this one with
    ``--test-venv``, else a venv with the runtime dependencies only, as on a Pi."""
    if given:
        return given
    return sys.executable if test_venv else runtime_python()


def idle_bench(argv: list[str]) -> int:
    """Issue 14's bench: ``scripts/bench_decode.py``, or with ``--detect`` (each camera with
    a detect stream, over RTSP) ``scripts/bench_dual.py``."""
    import bench_decode

    python = daemon_interpreter(None, test_venv="--test-venv" in argv)
    bench_decode.CHILD_PYTHON[0] = python  # the measured daemon's; this process runs the rig
    rest = [a for a in argv if a not in ("--idle", "--detect", "--warm-cache", "--test-venv")]
    if "--warm-cache" not in argv:
        files, mb = evict_libraries(python)
        print(f"page cache: dropped {files} shared libraries ({mb:.0f} MB)", flush=True)
    if "--detect" in argv:
        from bench_dual import main as dual_main

        return dual_main(rest)
    from bench_decode import main as idle_main

    return idle_main(rest)


def report(args: argparse.Namespace, run: dict[str, float], decode: dict[str, float],
           owners: list[tuple[str, float]], *, rc: int, setup: dict[str, object]) -> None:
    """Print the figures, the verdict and the JSON line."""
    ratio = run["cpu_s"] / args.cameras / decode["cpu_s"] if decode["cpu_s"] else None
    print(f"daemon      {args.size}@{args.fps}: cpu {run['cpu_pct']:.0f}% of a core, "
          f"rss {run['rss_mb']:.0f} MB (max {run['rss_max_mb']:.0f}, peak {run['hwm_mb']:.0f}), "
          f"exit {rc}")
    print(f"daemon memory at the end: anon {run['anon_mb']:.0f} MB, file-backed (shared "
          f"libraries, mostly clean) {run['file_mb']:.0f} MB, {run['threads']:.0f} threads")
    for owner, mb in owners:
        print(f"  {mb:7.1f} MB  {owner}")
    verdict = "met" if run["rss_max_mb"] <= RSS_TARGET_MB else "NOT met"
    print(f"cpu per camera vs decode-only: "
          f"{'not measured' if ratio is None else f'x{ratio:.2f}'}; rss target <= "
          f"{RSS_TARGET_MB} MB: "
          f"{verdict if args.cameras == 1 else 'is for one camera'}")
    print(json.dumps({
        "rss_mb": round(run["rss_max_mb"], 1), "rss_avg_mb": round(run["rss_mb"], 1),
        "rss_peak_mb": round(run["hwm_mb"], 1),
        "cpu_ratio_vs_decode": None if ratio is None else round(ratio, 3),
        "daemon_cpu_pct": round(run["cpu_pct"], 1), "decode_cpu_pct": round(decode["cpu_pct"], 1),
        "decode_rss_mb": round(decode["rss_mb"], 1), "seconds": args.seconds,
        "rss_anon_mb": round(run["anon_mb"], 1), "rss_file_mb": round(run["file_mb"], 1),
        "threads": int(run["threads"]), **setup,
        "cache_dropped": not args.warm_cache, "rss_target_mb": RSS_TARGET_MB,
        "size": args.size, "fps": args.fps, "exit": rc, "cameras": args.cameras,
    }))


def main() -> int:
    """Run the baseline, then the daemon, and print the figures."""
    if "--idle" in sys.argv[1:]:  # issue 14: idle against full decoding, N cameras
        return idle_bench(sys.argv[1:])
    args = parse_args()
    args.daemon_python = daemon_interpreter(args.daemon_python, test_venv=args.test_venv)
    unit = ROOT / "systemd/gatecam.service"
    extra_env = {} if args.no_unit_env else unit_environment(unit)
    prestart = [] if args.no_unit_env else unit_prestart(unit)
    extra_env.update(item.split("=", 1) for item in args.env)
    py = sys.executable
    camera_options = {k: json.loads(v) for k, v in
                      (item.split("=", 1) for item in args.camera_option)}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        clip = tmp / "clip.mp4"
        subprocess.run([py, str(ROOT / "scripts/make_clip.py"), "--scenario", args.scenario,
                        "--size", args.size, "--fps", str(args.fps), "--out", str(clip)],
                       check=True, stdout=subprocess.DEVNULL)
        warmup = 5.0
        if not args.warm_cache:
            files, mb = evict_libraries(args.daemon_python)
            print(f"page cache: dropped {files} shared libraries ({mb:.0f} MB) of "
                  f"{args.daemon_python}'s environment")
        decode = {"cpu_s": 0.0, "cpu_pct": 0.0, "rss_mb": 0.0}
        if not args.no_baseline:
            base = subprocess.Popen([args.daemon_python, "-c", DECODE_ONLY, str(clip),
                                     str(args.seconds + warmup + 2)])
            try:
                decode = measure(base, args.seconds, warmup)
            finally:
                stop(base)
        print(f"decode-only {args.size}@{args.fps}: cpu {decode['cpu_pct']:.0f}% of a core, "
              f"rss {decode['rss_mb']:.0f} MB")

        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)
        emu = subprocess.Popen([py, "-m", "daemon", "emulate-tencent", "--port", "0"], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        daemon = None
        try:
            if emu.stdout is None:
                raise RuntimeError("no emulator stdout")
            url = emu.stdout.readline().decode().split()[-1]
            cfg = tmp / "gatecam.yaml"
            cfg.write_text(json.dumps({  # JSON is YAML
                "site": "bench", "cameras": [{"id": f"cam-{i + 1}", "url": str(clip),
                                              "loop": True,
                                              "roi": [[0, 0.25], [1, 0.25], [1, 1], [0, 1]],
                                              **camera_options}
                                             for i in range(args.cameras)],
                "ocr": {"endpoint": url, **({"workers": args.workers} if args.workers else {})},
                "store": {"url": f"sqlite:///{tmp}/g.db"},
                "mqtt": {"enabled": False}, "health": {"metrics_port": 0},
                "logging": {"level": "WARNING"},
            }))
            print(f"daemon environment from the unit and --env: {extra_env}")
            if prestart:  # as systemd runs ExecStartPre= (the schema upgrade)
                run_prestart(args.daemon_python, cfg, {**env, **extra_env})
            daemon = subprocess.Popen([args.daemon_python, "-m", "daemon", "run", "--config",
                                       str(cfg)],
                                      cwd=ROOT, env={**env, **extra_env})
            run = measure(daemon, args.seconds, warmup)
            owners = smaps_by_owner(daemon.pid)
            rc = stop(daemon)
        finally:
            if daemon is not None:
                stop(daemon)
            stop(emu)
    report(args, run, decode, owners, rc=rc, setup={"env": extra_env, "prestart": prestart})
    return 0


if __name__ == "__main__":
    sys.exit(main())
