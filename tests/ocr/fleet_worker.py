"""One 'daemon' of the fleet test: an OcrPool with the Redis budget kept busy for a while.

Run as ``python -m tests.ocr.fleet_worker ENDPOINT REDIS_URL KEY SECONDS``; prints the
pool's counters as one JSON line at the end. Every camera is busy: a candidate is
submitted every 50 ms (20/s per process, 60/s in all), far more than the shared budget
allows, yet light enough that three processes on two cores do not starve the emulator.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

import numpy as np

from daemon.domain import Candidate, Frame, PlateRead
from daemon.ocr.fleet import FleetRateLimiter
from daemon.ocr.pool import OcrPool
from daemon.ocr.tencent import TencentOcrClient
from tests.support.ocr import SECRET_ID, SECRET_KEY


def main() -> int:
    endpoint, redis_url, key, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    limiter = FleetRateLimiter(redis_url, 10, key=key)
    client = TencentOcrClient(endpoint, SECRET_ID, SECRET_KEY, None, 3.0)
    pool = OcrPool(client, limiter, 2, 85, 1920)
    image = np.full((360, 640, 3), 120, np.uint8)
    replies: list[PlateRead] = []
    pool.start()
    end = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < end:
        frame = Frame("cam", seq, seq / 25, datetime.now(UTC), image)
        cand = Candidate("cam", f"p{seq}", frame, 1.0, 1, time.monotonic() + 1.0)
        pool.submit(cand, replies.append)
        seq += 1
        time.sleep(0.05)
    time.sleep(1.2)
    pool.stop()
    client.close()
    limiter.close()
    stats = pool.stats()
    print(json.dumps({k: v for k, v in stats.items() if k != "circuit"}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
