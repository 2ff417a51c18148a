"""The emulator's HTTP edge: a keep-alive request handler that hands each request over.

Requests go to the emulator's ``respond`` (LicensePlateOCR) or ``control`` (``/_control/``,
test controls); the answer's wire-level faults (a dropped connection, a slow drip of bytes)
are played here. The Date header follows the emulator's clock, so skew tests can move it.
"""

from __future__ import annotations

import logging
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from daemon.ocr.emulator.wire import Answer, json_answer

log = logging.getLogger(__name__)

MAX_BODY = 12 * 1024 * 1024
CONTROL = "/_control/"


class Emulator(Protocol):
    """What the handler needs of the emulator (daemon.ocr.emulator.server.EmulatorServer)."""

    stopping: bool

    def clock(self) -> float: ...

    def respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer: ...

    def control(self, method: str, path: str, body: bytes) -> Answer: ...


class Handler(BaseHTTPRequestHandler):
    """One connection's requests; ``emulator`` is set on a subclass per server."""

    protocol_version = "HTTP/1.1"  # keep-alive, so a pooled client reuses connections
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    emulator: Emulator

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            error = {"Code": "RequestSizeLimitExceeded", "Message": "too large"}
            self._answer(json_answer({"Error": error, "RequestId": str(uuid.uuid4())}))
            return
        body = self.rfile.read(length) if length else b""
        if self.path.startswith(CONTROL):
            self._answer(self.emulator.control(method, self.path, body))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._answer(self.emulator.respond(method, self.path, headers, body))

    def _answer(self, answer: Answer) -> None:
        if answer.payload is None:
            self.close_connection = True
            return
        if answer.drip_s > 0:
            self._drip(answer)
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.payload)))
            self.end_headers()
            self.wfile.write(answer.payload)
        except OSError:  # the client hung up (e.g. refused a huge_body answer half-way)
            self.close_connection = True

    def _drip(self, answer: Answer) -> None:
        """The slow_drip fault: the whole answer one byte at a time, until done or cut off."""
        assert answer.payload is not None  # noqa: S101 - checked by the caller
        phrase = self.responses.get(answer.status, ("",))[0]
        head = (f"HTTP/1.1 {answer.status} {phrase}\r\nContent-Type: {answer.content_type}\r\n"
                f"Content-Length: {len(answer.payload)}\r\n"
                f"Date: {self.date_time_string()}\r\n\r\n").encode("latin-1")
        self.close_connection = True
        for i, byte in enumerate(head + answer.payload):
            try:
                self.wfile.write(bytes((byte,)))
            except OSError:  # the client gave up: what the fault is there to provoke
                return
            if i % 64 == 0 and self.emulator.stopping:
                return
            time.sleep(answer.drip_s)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header follows the emulator's clock (so skew tests can move it)."""
        return super().date_time_string(self.emulator.clock() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
