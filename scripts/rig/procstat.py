"""What this process's threads cost and wait for, and where its memory is (Linux ``/proc``).

For benches that run the daemon in their own process: CPU seconds per thread role (the
Python thread's name, or ``native`` for threads Python did not start: FFmpeg's decoder
threads, onnxruntime's, OpenBLAS's), the time threads spent runnable but waiting for a core
(``schedstat``: on a shared machine, the other jobs' share), and ``smaps_rollup``.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")

ThreadTimes = dict[int, tuple[str, float, float]]


def thread_times() -> ThreadTimes:
    """Per thread id: role, CPU seconds, seconds waited on a run queue (since it started)."""
    names = {t.native_id: re.sub(r"[-_]?\d+$", "", t.name) for t in threading.enumerate()
             if t.native_id is not None}
    out: ThreadTimes = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
            wait_ns = int((task / "schedstat").read_text().split()[1])
        except OSError:
            continue  # the thread ended
        tid = int(task.name)
        out[tid] = (names.get(tid, "native"), (int(stat[11]) + int(stat[12])) / TICK,
                    wait_ns / 1e9)
    return out


def cpu_by_role(before: ThreadTimes, after: ThreadTimes) -> dict[str, float]:
    """CPU seconds per role between two :func:`thread_times` (threads that ended are lost)."""
    roles: dict[str, float] = {}
    for tid, (role, cpu, _) in after.items():
        roles[role] = roles.get(role, 0.0) + cpu - before.get(tid, (role, 0.0, 0.0))[1]
    return {k: round(v, 2) for k, v in sorted(roles.items(), key=lambda kv: -kv[1]) if v >= 0.01}


def runqueue_wait_s(before: ThreadTimes, after: ThreadTimes) -> float:
    """Seconds the threads spent runnable but waiting for a core, between two samples."""
    return sum(w - before.get(tid, ("", 0.0, 0.0))[2] for tid, (_, _, w) in after.items())


def smaps_rollup_mb() -> dict[str, float]:
    """Resident memory by kind (``/proc/self/smaps_rollup``), MiB: anonymous (heap, arenas,
    codec buffers, thread stacks) against file-backed (shared libraries)."""
    out: dict[str, float] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        if key in ("Rss", "Anonymous", "Pss_File"):
            out[key] = round(int(rest.split()[0]) / 1024, 1)
    return out


def status_kb(key: str) -> int:
    """One field of ``/proc/self/status`` (kB for the memory fields), 0 if absent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
