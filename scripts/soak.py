#!/usr/bin/env python3
"""Soak test of issue 12: the real daemon under scheduled faults; prints figures, exits 0 if sound.

Runs, all on loopback and all started (and ended) by this script by PID:
a private mosquitto (``scripts/rig/broker.py``), the Tencent emulator in-process
(RapidOCR reader, a mutable fault plan), an RTSP camera looping a generated clip of
cars whose plates are allow-listed, and ``python -m daemon run -c CFG`` with gate
commands on. For ``--minutes N`` it applies, at fixed fractions of the run:

- broker SIGKILLed and restarted (three times, each down for 4 % of the run),
- the disk holding the database filled and freed (a small tmpfs mounted here when
  root; otherwise that fault is skipped and the report says so),
- OCR answers with errors, timeouts and ``RequestLimitExceeded`` for a while,
- ~100 idle loopback connections held open on the metrics port for a while.

A persistent-session subscriber records every passage event and gate command with
its arrival time. At the end the daemon gets SIGTERM and the script checks: every
passage committed in the database arrived as an event (0 lost), no gate command
arrived after its ``expires_at`` (0 late), no daemon restart and exit code 0; it
prints max RSS and a final one-line JSON. Exit 0 when all checks pass, else 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from daemon.ocr.emulator.faults import FaultPlan  # noqa: E402
from daemon.ocr.emulator.server import EmulatorServer  # noqa: E402
from scripts.rig.broker import Mosquitto, Subscriber, free_port  # noqa: E402
from scripts.rig.camera import RtspCamera  # noqa: E402
from scripts.rig.clips import ClipStore, default_cache_dir  # noqa: E402
from scripts.rig.daemonproc import E2E_SECRET_ID, E2E_SECRET_KEY, DaemonProcess  # noqa: E402
from scripts.rig.soak_faults import Faults, Figures, TmpfsDisk, log  # noqa: E402

SITE, CAMERA, PREFIX = "lot-a", "entry-1", "gatecam"
PASSAGE = f"{PREFIX}/{SITE}/{CAMERA}/passage"
GATE = f"{PREFIX}/{SITE}/{CAMERA}/gate"
MAX_DAEMON_STARTS = 4
"""Bound on restarts after an unexpected exit (a restart already fails the soak)."""

SCHEDULE: tuple[tuple[str, float, float], ...] = (
    ("broker_kill", 0.12, 0.16),
    ("disk_full", 0.22, 0.34),
    ("broker_kill", 0.40, 0.44),
    ("ocr_faults", 0.48, 0.62),
    ("broker_kill", 0.66, 0.70),
    ("metrics_flood", 0.74, 0.86),
)
"""(fault, start, end) as fractions of the run: the same shape at any ``--minutes``."""


def write_config(work: Path, db_dir: Path, *, cam_url: str, mqtt_port: int, endpoint: str,
                 metrics_port: int) -> Path:
    """The daemon's config: one camera, gate commands on, metrics on a known port."""
    cfg = {
        "site": SITE,
        "cameras": [{"id": CAMERA, "url": cam_url, "direction": "entry",
                     "roi": [[0.0, 0.25], [1.0, 0.25], [1.0, 1.0], [0.0, 1.0]]}],
        "ocr": {"endpoint": endpoint, "rate_limit": 10},
        # snapshots on the same (small) disk as the database: a full disk hits both
        "store": {"url": f"sqlite:///{db_dir}/gatecam.db", "snapshots": str(db_dir / "snap")},
        # the clip loops every ~20 s: a shorter dedup window than the default 30 s, or the
        # same plates coming round again are merged into their first passage for ever
        "passage": {"dedup_window_s": 5.0},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "topic_prefix": PREFIX,
                 "gate_command": True},
        "health": {"metrics_port": metrics_port},
    }
    path = work / "gatecam.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def allow_plates(cfg: Path, plates: list[str]) -> None:
    """``gatecam allow add`` the clip's plates (so every passage sends a gate command)."""
    subprocess.run([sys.executable, "-m", "daemon", "allow", "-c", str(cfg), "add", *plates],
                   cwd=ROOT, check=True, capture_output=True)


class DaemonKeeper:
    """The daemon child; restarted (and counted) if it exits before the end, like systemd."""

    def __init__(self, cfg: Path, work: Path, figures: Figures) -> None:
        self.cfg, self.work, self.figures = cfg, work, figures
        self.proc: DaemonProcess | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start a daemon process."""
        self.figures.daemon_starts += 1
        n = self.figures.daemon_starts
        self.proc = DaemonProcess(["run", "-c", str(self.cfg)], self.work / f"daemon-{n}.log")
        # stdout is a pipe nobody reads: keep it drained so the child never blocks on it
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()

    @staticmethod
    def _drain(proc: DaemonProcess) -> None:
        if proc.proc.stdout is not None:
            for _ in proc.proc.stdout:
                pass

    def check(self) -> None:
        """Sample RSS; restart an exited daemon (bounded)."""
        with self._lock:
            if self.proc is None:
                return
            self.figures.max_rss_kb = max(self.figures.max_rss_kb, _rss_kb(self.proc.proc.pid))
            code = self.proc.proc.poll()
            if code is None:
                return
            self.figures.exit_codes.append(code)
            log(f"daemon exited unexpectedly with {code}; log tail:\n{self.proc.log()[-1500:]}")
            if self.figures.daemon_starts < MAX_DAEMON_STARTS:
                self.start()
            else:
                self.proc = None

    def stop(self) -> None:
        """SIGTERM, record the exit code."""
        with self._lock:
            if self.proc is not None:
                self.figures.max_rss_kb = max(self.figures.max_rss_kb,
                                              _rss_kb(self.proc.proc.pid))
                self.figures.exit_codes.append(self.proc.terminate(timeout=30))
                self.proc = None


def _rss_kb(pid: int) -> int:
    """Peak resident set (VmHWM) of a live process, 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_schedule(total_s: float, faults: Faults, keeper: DaemonKeeper) -> None:
    """Walk the schedule for ``total_s`` seconds, checking the daemon every second."""
    t0 = time.monotonic()
    events = sorted([(s * total_s, "start", n) for n, s, _ in SCHEDULE]
                    + [(e * total_s, "end", n) for n, _, e in SCHEDULE])
    try:
        while time.monotonic() - t0 < total_s:
            now = time.monotonic() - t0
            while events and events[0][0] <= now:
                _, what, name = events.pop(0)
                faults.start(name) if what == "start" else faults.end(name)
            keeper.check()
            time.sleep(min(0.5, max(0.05, total_s - now)))
    finally:
        faults.end_all()


def count_log_errors(work: Path) -> int:
    """ERROR/CRITICAL lines and tracebacks in every daemon log of this run."""
    n = 0
    for path in work.glob("daemon-*.log"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            n += " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
    return n


def committed_ids(db: Path) -> set[str]:
    """Event ids of the passages committed in the database (read only)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as c:
        return {row[0] for row in c.execute("SELECT event_id FROM passages")}


def received(sub: Subscriber, topic: str) -> list[tuple[float, dict[str, Any]]]:
    """(arrival time, payload) of every message on ``topic``."""
    out = []
    for m in sub.matching(topic):
        with contextlib.suppress(ValueError):
            out.append((m.at, json.loads(m.payload)))
    return out


def drain(db: Path, sub: Subscriber, timeout_s: float, keeper: DaemonKeeper) -> None:
    """Wait until every committed passage arrived as an event (or ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        keeper.check()
        got = {p.get("event_id") for _, p in received(sub, PASSAGE)}
        with contextlib.suppress(sqlite3.Error):
            if committed_ids(db) <= got:
                return
        time.sleep(0.5)


def late_gates(sub: Subscriber) -> tuple[int, int, float]:
    """(gate commands, arrived after expires_at, worst lateness in seconds)."""
    gates = received(sub, GATE)
    late = [at - datetime.fromisoformat(p["expires_at"]).timestamp() for at, p in gates]
    bad = [x for x in late if x > 0]
    return len(gates), len(bad), max(bad, default=0.0)


def report(figures: Figures, db: Path, sub: Subscriber) -> dict[str, Any]:
    """Compare the database with what arrived; the final figures as a dict."""
    ids = committed_ids(db)
    events = [p.get("event_id") for _, p in received(sub, PASSAGE)]
    lost = sorted(ids - set(events))
    n_gates, n_late, worst = late_gates(sub)
    gate_ids = [p.get("event_id") for _, p in received(sub, GATE)]
    restarts = max(0, figures.daemon_starts - 1)
    final_code = figures.exit_codes[-1] if figures.exit_codes else None
    out: dict[str, Any] = {
        "minutes": figures.minutes, "passages_committed": len(ids),
        "events_received": len(events), "events_unique": len(set(events)),
        "passages_lost": len(lost), "lost_ids": lost[:10],
        "gate_commands": n_gates, "gate_commands_late": n_late,
        "worst_gate_lateness_s": round(worst, 3),
        "gate_commands_repeated": len(gate_ids) - len(set(gate_ids)),
        "broker_kills": figures.broker_kills,
        "disk_fill": figures.disk_fill, "disk_fill_bytes": figures.disk_fill_bytes,
        "ocr_fault_answers": figures.ocr_fault_answers,
        "flood_connections": figures.flood_connections,
        "healthz_during_flood": figures.healthz_during_flood,
        "healthz_after_flood": figures.healthz_after_flood,
        "daemon_restarts": restarts, "exit_codes": figures.exit_codes,
        "exit_code": final_code, "max_rss_mb": round(figures.max_rss_kb / 1024, 1),
        "daemon_log_errors": figures.log_errors,
    }
    out["ok"] = (not lost and n_late == 0 and restarts == 0 and final_code == 0
                 and len(ids) > 0)
    return out


def print_report(out: dict[str, Any]) -> None:
    """Human lines, then the one-line JSON (last line of stdout)."""
    print(f"passages committed {out['passages_committed']}, events received "
          f"{out['events_received']} ({out['events_unique']} unique), lost "
          f"{out['passages_lost']}")
    print(f"gate commands {out['gate_commands']}, late {out['gate_commands_late']} "
          f"(worst {out['worst_gate_lateness_s']} s), repeated "
          f"{out['gate_commands_repeated']}")
    print(f"faults: broker kills {out['broker_kills']}, disk fill {out['disk_fill']} "
          f"({out['disk_fill_bytes']} B), OCR fault answers {out['ocr_fault_answers']}, "
          f"metrics flood {out['flood_connections']} connections "
          f"(/healthz meanwhile: {out['healthz_during_flood']}, after: "
          f"{out['healthz_after_flood']})")
    print(f"daemon restarts {out['daemon_restarts']}, exit code {out['exit_code']}, "
          f"max RSS {out['max_rss_mb']} MB, daemon log errors {out['daemon_log_errors']}")
    print(json.dumps(out, ensure_ascii=False), flush=True)


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Set everything up, run the schedule, stop, measure."""
    figures = Figures(minutes=args.minutes)
    total_s = args.minutes * 60.0
    clip, truth = ClipStore(args.clip_cache).get(args.scenario)
    plates = [v["plate"] for v in truth["vehicles"]]
    disk = TmpfsDisk(work / "disk")
    db_dir = disk.path if disk.mount() else work
    if not disk.mounted:
        log(f"disk fault {disk.skip_reason}")
    plan = FaultPlan()
    cleanups: list[Callable[[], None]] = [disk.unmount]
    try:
        broker = Mosquitto().start()
        cleanups.append(broker.cleanup)
        emulator = EmulatorServer(credentials={E2E_SECRET_ID: E2E_SECRET_KEY}, rate_limit=10.0,
                                  faults=plan).start()
        cleanups.append(emulator.stop)
        cam = RtspCamera(clip, loop=True).start()
        cleanups.append(cam.stop)
        metrics_port = free_port()
        cfg = write_config(work, db_dir, cam_url=cam.url, mqtt_port=broker.port,
                           endpoint=emulator.url, metrics_port=metrics_port)
        allow_plates(cfg, plates)
        sub = Subscriber(broker.port, (PASSAGE, GATE), client_id="gatecam-soak",
                         clean_session=False, qos=1)
        cleanups.append(sub.close)
        if not sub.wait_connected(10):
            raise RuntimeError("soak subscriber did not connect")
        keeper = DaemonKeeper(cfg, work, figures)
        keeper.start()
        cleanups.append(keeper.stop)
        log(f"running {total_s:.0f} s: work dir {work}, db in {db_dir}, plates {plates}")
        faults = Faults(broker, disk, plan, metrics_port=metrics_port, figures=figures,
                        ocr_timeout_s=args.ocr_timeout_s)
        run_schedule(total_s, faults, keeper)
        drain(db_dir / "gatecam.db", sub, args.drain_s, keeper)
        keeper.stop()
        time.sleep(1.0)  # anything published during shutdown arrives
        figures.log_errors = count_log_errors(work)
        return report(figures, db_dir / "gatecam.db", sub)
    finally:
        for fn in reversed(cleanups):
            with contextlib.suppress(Exception):
                fn()


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the soak, print the figures; 0 when every check passed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="run length (default 10)")
    p.add_argument("--scenario", default="three_cars", help="clip scenario (make_clip.py)")
    p.add_argument("--clip-cache", type=Path, default=default_cache_dir())
    p.add_argument("--drain-s", type=float, default=60.0,
                   help="after the run, wait this long at most for events to catch up")
    p.add_argument("--ocr-timeout-s", type=float, default=8.0,
                   help="how long a 'timeout' OCR fault holds the request")
    p.add_argument("--workdir", type=Path, help="keep logs and the database here")
    args = p.parse_args(argv)
    # SIGTERM (and SIGINT, ignored in a background job) unwind through the cleanups
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    if not 0 < args.minutes <= 120:
        p.error("--minutes must be in (0, 120]")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        out = soak(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="gatecam-soak-") as tmp:
            out = soak(args, Path(tmp))
    print_report(out)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
