"""Bounded HTTP serving for the operator endpoints: a connection cap, timeouts, bind checks.

:class:`BoundedServer` is a ``ThreadingHTTPServer`` that serves at most
``max_connections`` connections at once (one thread each) and answers any beyond that
with a 503 and an immediate close, counting them; the handler's ``timeout`` closes a
connection that sends nothing (idle or dripping). Without these, each idle socket held
a thread for ever (150 idle sockets held 150 threads, past the unit's TasksMax).
:func:`bind_warning` says why a non-loopback bind is unwise (no authentication).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("daemon.ops.metrics")  # one logger for the endpoint's messages

MAX_CONNECTIONS = 16
"""Connections served at once; a scraper and a ``gatecam status`` need one each."""
CONNECTION_TIMEOUT_S = 5.0
"""A connection that sends nothing for this long is closed (its thread ends)."""
_REFUSAL = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (a host name: we cannot tell: False)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_warning(host: str) -> str | None:
    """Why binding the metrics server to ``host`` is unwise, or None for a loopback address."""
    if is_loopback(host):
        return None
    return (f"metrics endpoint bound to {host}, not loopback: /metrics and /healthz are "
            "readable from the network without authentication; set health.metrics_host: "
            "127.0.0.1 or firewall the port")


class BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server with at most ``max_connections`` handler threads."""

    daemon_threads = True
    request_queue_size = 128  # accept (then refuse) a burst at once, not via SYN retries

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 max_connections: int) -> None:
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._count_lock = threading.Lock()
        self.active = 0
        self.refused = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve on a new thread if a slot is free; else say 503 and close at once."""
        if not self._slots.acquire(blocking=False):
            with self._count_lock:
                self.refused += 1
                refused = self.refused
            if refused == 1 or refused % 1000 == 0:
                log.warning("metrics endpoint: %d connection(s) refused so far (more than %d "
                            "open at once)", refused, self.max_connections)
            _refuse(request)
            self.shutdown_request(request)
            return
        with self._count_lock:
            self.active += 1
        t = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                             name="metrics-conn", daemon=True)
        try:
            t.start()
        except RuntimeError:  # cannot start a thread (TasksMax): drop this one
            self._release()
            self.shutdown_request(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Handle one connection, then give its slot back."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._count_lock:
            self.active -= 1
        self._slots.release()


def _refuse(request: socket.socket) -> None:
    """Tell a refused client why, without ever blocking the accept loop."""
    try:
        request.setblocking(False)
        request.send(_REFUSAL)
    except OSError:
        pass


class ServerCollector(Collector):
    """The metrics server's own counters."""

    def __init__(self, server: BoundedServer) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        """Connections open now and refused so far."""
        yield GaugeMetricFamily("gatecam_metrics_connections",
                                "Connections the metrics server is serving now",
                                value=self._server.active)
        yield CounterMetricFamily("gatecam_metrics_connections_refused",
                                  "Connections refused because too many were open",
                                  value=self._server.refused)
