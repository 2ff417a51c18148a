"""tuning.py: glibc's malloc gives big freed buffers and freed heap pages back to the system.

Each case runs in a fresh interpreter: malloc settings are process-wide, and the dynamic
mmap threshold the first case shows only moves once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_BURSTS = r"""
import json, sys
from daemon.ops import tuning

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

applied = tuning.cap_mmap_threshold() if sys.argv[1] == "cap" else None
base = anon_mb()
left = []
for _ in range(3):  # what one OCR call does: a few big buffers, touched, then freed
    a = bytearray(6_000_000); b = bytearray(4_000_000)
    del a, b
    left.append(anon_mb() - base)
print(json.dumps({"applied": applied, "left_mb": left}))
"""


def _bursts(mode: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}  # glibc defaults
    out = subprocess.run([sys.executable, "-c", _BURSTS, mode], cwd=ROOT, check=True, env=env,
                         capture_output=True, text=True, timeout=60).stdout
    result: dict[str, object] = json.loads(out)
    return result


def test_capped_threshold_returns_big_buffers_at_once() -> None:
    """Without the cap glibc keeps the second burst's buffers on its heap (the threshold
    grew past them); with it every burst is unmapped when freed."""
    default = _bursts("default")
    capped = _bursts("cap")
    if capped["applied"] is False:
        pytest.skip("not glibc: mallopt unavailable, nothing to tune")
    assert capped["applied"] is True
    kept = default["left_mb"]
    assert isinstance(kept, list) and max(kept) > 8, f"glibc kept no burst: {kept}"
    left = capped["left_mb"]
    assert isinstance(left, list) and max(left) < 2, f"capped threshold kept memory: {left}"


def test_trim_heap_gives_freed_heap_pages_back() -> None:
    """glibc keeps freed small blocks resident; the health loop's trim returns them."""
    code = r"""
import json
from daemon.ops import tuning
def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
blocks = [bytes(4000) for _ in range(10_000)]  # ~40 MB from malloc's main heap
keep = blocks[::50]  # every 50th stays: the heap's top cannot shrink by itself
del blocks
before = anon_mb()
ok = tuning.trim_heap()
print(json.dumps({"ok": ok, "freed_mb": before - anon_mb(), "kept": len(keep)}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    result = json.loads(out)
    if result["ok"] is False:
        pytest.skip("not glibc: malloc_trim unavailable")
    assert result["freed_mb"] > 15 and result["kept"] == 200


def test_apply_runs_opencv_on_the_calling_thread() -> None:
    code = (
        "import cv2; from daemon.ops import tuning; before = cv2.getNumThreads(); tuning.apply(); "
        "print(before, cv2.getNumThreads())"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=60).stdout.split()
    assert int(out[1]) == 1, out
