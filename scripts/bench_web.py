#!/usr/bin/env python3
"""Bench of the operator page: RSS it adds to the daemon, time to first byte with a big store.

Fills a SQLite store with ``--passages`` passages (default 100,000; one camera in ten, a
plate in a thousand), then, in this one process:

1. RSS after importing the daemon (``daemon.app``) and opening the store: the baseline;
2. RSS after starting the page (werkzeug, Jinja2, waitress), a login (scrypt) and
   ``--requests`` requests over every page: the difference is what the page adds;
3. time to first byte (status line and headers received) of the newest 50 and of a plate
   search, p50 / p95 over ``--requests`` requests each.

    .venv/bin/python scripts/bench_web.py [--passages 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import gc
import http.client
import statistics
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.rig.browsers import form_login


def rss_mb() -> float:
    """Resident set size of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fill(store: object, n: int) -> None:
    """``n`` passages, newest now, one every 10 s, in batches of 5,000."""
    from daemon.domain import Passage

    now = datetime.now(UTC)
    batch = []
    for i in range(n):
        at = now - timedelta(seconds=10 * i)
        plate = "京AF0236" if i % 1000 == 0 else f"沪B{i % 100000:05d}"
        batch.append((Passage(event_id=f"ev-{i:08d}", site="lot-a", camera=f"cam-{i % 10}",
                              direction="entry", captured_at=at, decided_at=at, plate=plate,
                              color="蓝", confidence=95, access="unknown", ocr_calls=1), (), ()))
        if len(batch) == 5000:
            store.record_passages(batch)  # type: ignore[attr-defined]
            batch = []
    if batch:
        store.record_passages(batch)  # type: ignore[attr-defined]


def first_byte(port: int, path: str, cookie: str) -> float:
    """Seconds from sending the request to having the status line and headers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    resp = conn.getresponse()
    dt = time.perf_counter() - t0
    body = resp.read()
    conn.close()
    if resp.status != 200 or not body:
        raise SystemExit(f"{path}: HTTP {resp.status}")
    return dt


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, ms."""
    return 1000 * statistics.quantiles(values, n=100)[int(q * 100) - 1]


def main() -> int:
    """Run the bench and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()

    import daemon.app  # noqa: F401  (the daemon's own imports: the baseline)
    from daemon.ops import tuning

    tuning.apply()  # as App.start does: big buffers (scrypt's 16 MiB) go back to the system
    from daemon.config.models import Config
    from daemon.store.db import Store

    tmp = Path(tempfile.mkdtemp(prefix="gatecam-bench-web-"))
    store = Store(f"sqlite:///{tmp}/g.db")
    t0 = time.perf_counter()
    fill(store, args.passages)
    print(f"filled {args.passages} passages in {time.perf_counter() - t0:.1f} s")
    gc.collect()
    base = rss_mb()

    from daemon.web.auth import hash_password
    from daemon.web.wiring import start_web

    cfg = Config.model_validate({
        "site": "lot-a", "cameras": [{"id": f"cam-{i}", "url": "rtsp://127.0.0.1/x"}
                                     for i in range(10)],
        "store": {"url": f"sqlite:///{tmp}/g.db"},
        "web": {"enabled": True, "port": 0,
                "users": [{"name": "bench", "password_hash": hash_password("bench-pass")}]},
    })
    server = start_web(cfg, store, None, None)
    started = rss_mb()
    cookie = form_login(server.port, "bench", "bench-pass")
    gc.collect()
    logged_in = rss_mb()
    paths = {"newest 50": "/", "plate search": "/?plate=" + urllib.parse.quote("京AF0236"),
             "wildcard search": "/?plate=" + urllib.parse.quote("*F0236"),
             "camera filter": "/?camera=cam-3", "api newest 50": "/api/passages"}
    for path in paths.values():  # warm-up (templates compiled, pages cached)
        first_byte(server.port, path, cookie)
    print(f"{'request':<18} {'p50 ms':>8} {'p95 ms':>8}")
    for label, path in paths.items():
        times = [first_byte(server.port, path, cookie) for _ in range(args.requests)]
        print(f"{label:<18} {pct(times, 0.5):8.1f} {pct(times, 0.95):8.1f}")
    gc.collect()
    added = rss_mb() - base
    print(f"RSS: daemon imports + store {base:.1f} MB; the page adds {added:.1f} MB "
          f"(after a login and {len(paths) * (args.requests + 1)} requests): "
          f"+{started - base:.1f} started, +{logged_in - started:.1f} login, "
          f"+{rss_mb() - logged_in:.1f} requests")
    server.stop()
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
