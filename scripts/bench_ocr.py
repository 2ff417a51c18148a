"""Benchmark the OCR path against the local emulator (oracle reader): rate, overhead, latency.

Prints, in one run:
- sustained calls/s at the limit (rate 10, 4 workers, cameras busier than the budget) for
  the limiter as shipped and for a baseline that ignores answer times (the former
  ``rate / (1 + margin)`` scheme), with the emulator's RequestLimitExceeded count;
- the client's own overhead per call on a 1080p frame: sign + base64/JSON encode
  (``build_request``) + parse, and separately the crop + JPEG encode (``prepare``);
- p50/p95 latency the client adds over the emulator's own handling time.
The last line is one JSON object with calls_per_s, rate_limit_errors,
client_overhead_ms, added_latency_p50_ms, added_latency_p95_ms (and more).

    .venv/bin/python scripts/bench_ocr.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon.domain import Candidate, Frame, PlateRead, Rect
from daemon.ocr.emulator.readers import OracleReader
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.pool import OcrPool
from daemon.ocr.prepare import prepare
from daemon.ocr.ratelimit import Grant, RateLimiter
from daemon.ocr.tencent import TencentOcrClient, build_request, parse_response

SECRET_ID, SECRET_KEY = "AKIDbench", "bench-key"
PLATE = "京AF0236"
ROI = Rect(200, 300, 1500, 780)


class BaselineLimiter(RateLimiter):
    """The previous scheme: answers are ignored, so n + 1 calls always span 1 s + margin."""

    def done(self, grant: Grant) -> None:
        """Ignore the answer time."""


def frame_1080p() -> np.ndarray:  # type: ignore[type-arg]
    """A camera-like frame: smooth gradients, mild sensor noise, a blue plate."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(60, 190, 1920, dtype=np.float32)[None, :, None]
    img = np.repeat(np.repeat(ramp, 1080, 0), 3, 2) + rng.normal(0, 3, (1080, 1920, 3))
    img[700:790, 800:1130] = (180, 60, 20)
    img[720:770, 830:1100:30] = 255
    return np.clip(img, 0, 255).astype(np.uint8)


def sustained(emu: EmulatorServer, limiter: RateLimiter, seconds: float) -> tuple[float, int, int]:
    """(sustained calls/s as the emulator saw them, RequestLimitExceeded count, calls)."""
    before = len(emu.calls)
    client = TencentOcrClient(emu.url, SECRET_ID, SECRET_KEY, None, 3.0)
    pool = OcrPool(client, limiter, 4, 90, 1920)
    image = frame_1080p()
    replies: list[PlateRead] = []
    pool.start()
    end = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < end:
        frame = Frame("cam", seq, seq / 25, datetime.now(UTC), image)
        pool.submit(Candidate("cam", f"p{seq}", frame, 1.0, 1, time.monotonic() + 2.0, ROI),
                    replies.append)
        seq += 1
        time.sleep(0.04)  # 25 fps of candidates: far more than 10/s
    pool.stop()
    client.close()
    calls = emu.calls[before:]
    times = sorted(c.at for c in calls)
    # Steady state: the budget is `burst` calls per period, and the period is the time between a
    # call and the one `burst` places later (median over the run, so start-up and tail drop out).
    burst = int(limiter.rate)
    periods = [b - a for a, b in zip(times, times[burst:], strict=False)]
    rate = burst / statistics.median(periods) if periods else 0.0
    return rate, sum(c.code.startswith("RequestLimitExceeded") for c in calls), len(calls)


def overhead(emu: EmulatorServer, n: int = 40) -> tuple[float, float]:
    """(median ms of build_request + parse_response, median ms of prepare) for a 1080p frame."""
    image = frame_1080p()
    prep_ms, client_ms = [], []
    body = json.dumps({"Response": {
        "Number": PLATE, "Confidence": 99, "Rect": {"X": 1, "Y": 2, "Width": 3, "Height": 4},
        "Color": "蓝", "LicensePlateCategory": "实体车牌", "RequestId": "r",
        "LicensePlateInfos": [{"Number": PLATE, "Confidence": 99, "Color": "蓝",
                               "Rect": {"X": 1, "Y": 2, "Width": 3, "Height": 4}}],
    }}, ensure_ascii=False).encode()
    full = prepare(image, None, 1920, 90)  # the worst case: the whole frame, full size
    for _ in range(n):
        t0 = time.perf_counter()
        prepare(image, ROI, 1920, 90)
        t1 = time.perf_counter()
        build_request(secret_id=SECRET_ID, secret_key=SECRET_KEY, host="127.0.0.1:1",
                      image=full.jpeg, timestamp=int(time.time()))
        parse_response(200, "application/json", body)
        t2 = time.perf_counter()
        prep_ms.append((t1 - t0) * 1000)
        client_ms.append((t2 - t1) * 1000)
    return statistics.median(client_ms), statistics.median(prep_ms)


def added_latency(emu: EmulatorServer, n: int = 60) -> tuple[float, float]:
    """p50/p95 of (client round trip - emulator's own handling time), sequential calls."""
    jpeg = prepare(frame_1080p(), ROI, 1920, 90).jpeg
    added = []
    with TencentOcrClient(emu.url, SECRET_ID, SECRET_KEY, None, 3.0) as client:
        client.recognize(jpeg)  # warm the connection
        for _ in range(n):
            before = len(emu.calls)
            t0 = time.perf_counter()
            client.recognize(jpeg)
            rtt = time.perf_counter() - t0
            added.append((rtt - emu.calls[before].latency_s) * 1000)
    q = statistics.quantiles(added, n=20)
    return statistics.median(added), q[18]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    oracle = OracleReader({}, default=PLATE)
    emu = EmulatorServer(credentials={SECRET_ID: SECRET_KEY}, rate_limit=10, reader=oracle)
    emu.start()
    try:
        base_rate, base_errors, _ = sustained(emu, BaselineLimiter(10), args.seconds)
        print(f"baseline limiter (answers ignored): {base_rate:.2f} calls/s, "
              f"{base_errors} RequestLimitExceeded")
        time.sleep(1.2)
        rate, errors, calls = sustained(emu, RateLimiter(10), args.seconds)
        print(f"limiter as shipped:                 {rate:.2f} calls/s, "
              f"{errors} RequestLimitExceeded ({calls} calls; x{rate / base_rate:.3f} baseline)")
        emu.rate_limit = 10_000  # latency and overhead without the budget in the way
        client_ms, prep_ms = overhead(emu)
        print(f"client overhead per call (sign + encode + parse, 1080p): {client_ms:.2f} ms; "
              f"crop + JPEG encode of the lane ROI: {prep_ms:.2f} ms")
        p50, p95 = added_latency(emu)
        print(f"latency added over the emulator's own: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    finally:
        emu.stop()
    print(json.dumps({
        "calls_per_s": round(rate, 3), "rate_limit_errors": errors,
        "baseline_calls_per_s": round(base_rate, 3), "baseline_rate_limit_errors": base_errors,
        "ratio_vs_baseline": round(rate / base_rate, 3) if base_rate else None,
        "client_overhead_ms": round(client_ms, 3), "prepare_ms": round(prep_ms, 3),
        "added_latency_p50_ms": round(p50, 3), "added_latency_p95_ms": round(p95, 3),
    }))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    raise SystemExit(main())
