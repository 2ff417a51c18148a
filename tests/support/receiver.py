"""A local HTTP receiver for webhook tests: scripted answers, stop and restart on one port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scripts.rig.broker import free_port

Answer = tuple[int, float, int]
"""(HTTP status, seconds to wait before answering, bytes of body to send)."""


@dataclass(frozen=True)
class Got:
    """One request as received."""

    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    answered: int
    concurrent: int = 1
    """Requests being handled when this one arrived, itself included."""


class Receiver:
    """POSTs to ``url`` are recorded; ``script(n)`` (n from 1) says how to answer each."""

    def __init__(self, script: Callable[[int], Answer] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.script = script or (lambda _n: (200, 0.0, 2))
        self.got: list[Got] = []
        self.in_flight = 0
        self.cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        """Listen (again) on the same port."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.cond:
                    n = len(outer.got) + 1
                    outer.in_flight += 1
                    status, delay, size = outer.script(n)
                    outer.got.append(Got(json.loads(data), data, dict(self.headers), status,
                                         outer.in_flight))
                    outer.cond.notify_all()
                time.sleep(delay)
                with outer.cond:
                    outer.in_flight -= 1
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    self.wfile.write(b"x" * size)
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are refused until start())."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, predicate: Callable[[list[Got]], bool], timeout: float) -> list[Got]:
        """Block until ``predicate(got)``; AssertionError with what came on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.got):
                left = deadline - time.monotonic()
                assert left > 0, [(g.event.get("event_id"), g.answered) for g in self.got]
                self.cond.wait(left)
            return list(self.got)

    def delivered_ids(self) -> set[str]:
        """Event ids answered 2xx."""
        with self.cond:
            return {g.event["event_id"] for g in self.got if 200 <= g.answered < 300}
