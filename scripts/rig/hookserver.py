"""A webhook receiver in its own process, for benches: the receiver's work must not share
the sender's interpreter (and its GIL), or the figures measure the receiver too.

``python -m scripts.rig.hookserver DELAY_S`` serves HTTP/1.1 (keep-alive, like a real
receiver) on a free loopback port, prints its URL, then one line ``<event_id> <monotonic
seconds>`` per request as it answers 204 after ``DELAY_S`` (a receiver writing to its
database). CLOCK_MONOTONIC is the same clock in every process of the machine, so the
parent compares these times with its own. :class:`HookReceiver` starts it, reads the
lines, and ends it by its PID.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def serve(delay_s: float) -> None:
    """Serve until killed; arrivals on stdout."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if delay_s:
                time.sleep(delay_s)
            line = f"{json.loads(data)['event_id']} {time.monotonic():.6f}\n"
            with lock:
                sys.stdout.write(line)
                sys.stdout.flush()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}/hook", flush=True)
    server.serve_forever()


class HookReceiver:
    """The receiver as a child process; ``seen`` maps each event_id to its first answer."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.seen: dict[str, float] = {}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.rig.hookserver", str(delay_s)], cwd=ROOT,
            stdout=subprocess.PIPE, text=True)
        self._out = self._proc.stdout
        if self._out is None:
            raise RuntimeError("no pipe from the hook server")
        self.url = self._out.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"hook server did not start: {self.url!r}")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._out:
            event_id, at = line.split()
            self.seen.setdefault(event_id, float(at))

    def close(self) -> None:
        """End the child (ours, by PID)."""
        self._proc.terminate()
        self._proc.wait(5)


if __name__ == "__main__":
    serve(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
