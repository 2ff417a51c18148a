"""The /metrics and /healthz server under idle connections (issue 12, item 15).

Each idle connection used to hold a handler thread for ever: 150 idle sockets held 150
threads, past the unit's TasksMax. Now a connection is closed after ``timeout_s`` without
a request and at most ``max_connections`` are served at once; the rest are refused
(counted, exported). A bounded number of idle loopback sockets, threads counted.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from daemon.ops.health import HealthLimits, PipelineSnapshot
from daemon.ops.metrics import MetricsServer, PipelineMetrics, bind_warning
from daemon.ops.observe import PipelineView


def _view() -> PipelineView:
    snap = PipelineSnapshot(cameras=[], recorder_alive=True, recorder_beat=time.monotonic())
    return PipelineView(snapshot=snap, cameras=[], passages=0, outbox_backlog=None,
                        recorder_backlog=0)


def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def _handler_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("metrics-conn"))


@pytest.mark.timeout(30)
def test_idle_connections_are_capped_and_timed_out() -> None:
    server = MetricsServer(PipelineMetrics(), _view, HealthLimits(), port=0,
                           max_connections=8, timeout_s=1.0).start()
    socks: list[socket.socket] = []
    try:
        base = threading.active_count()
        for _ in range(40):
            socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=2))
        assert _wait(lambda: server.refused >= 32, 5), server.refused
        peak = threading.active_count() - base
        assert peak <= 8, f"{peak} threads for 40 idle sockets"
        assert server.active == 8 and _handler_threads() == 8
        # A refused socket is told so and closed, not left hanging.
        assert socks[-1].recv(100).startswith(b"HTTP/1.0 503")
        # The idle ones are closed after the timeout and their threads end.
        assert _wait(lambda: server.active == 0 and _handler_threads() == 0, 5)
        assert socks[0].recv(100) == b""
        r = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=3, trust_env=False)
        assert r.status_code == 200
        assert "gatecam_metrics_connections_refused_total 32.0" in r.text
        assert "gatecam_metrics_connections 1.0" in r.text  # the scrape itself
    finally:
        for s in socks:
            s.close()
        server.stop()


@pytest.mark.timeout(30)
def test_a_slow_request_is_cut_off_too() -> None:
    """A client that sends half a request line and stops holds its thread only timeout_s."""
    server = MetricsServer(PipelineMetrics(), _view, HealthLimits(), port=0,
                           max_connections=4, timeout_s=0.5).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET /metr")
            started = time.monotonic()
            assert s.recv(100) == b""  # closed by the server
            assert time.monotonic() - started < 3
        assert _wait(lambda: server.active == 0, 3)
        r = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=3, trust_env=False)
        assert r.status_code == 200 and r.json()["alive"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("host", "warns"),
    [("127.0.0.1", False), ("127.0.0.53", False), ("::1", False), ("localhost", False),
     ("0.0.0.0", True),  # noqa: S104 - only a string here, nothing is bound
     ("::", True), ("192.168.1.20", True), ("gate-pi.lan", True)],
)
def test_non_loopback_bind_is_warned_about(host: str, warns: bool) -> None:
    message = bind_warning(host)
    assert (message is not None) is warns
    if message:
        assert host in message and "metrics_host" in message


def test_loopback_start_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    server = MetricsServer(PipelineMetrics(), _view, HealthLimits(), host="127.0.0.1", port=0)
    with caplog.at_level(logging.WARNING, logger="daemon.ops.metrics"):
        server.start()
        server.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
