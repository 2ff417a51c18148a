"""A total deadline per HTTP call: every socket operation gets at most the time left.

httpx's timeouts are per phase (connect, each read, each write): a server that sends
one byte just before each read timeout holds a call, and the OCR worker making it, for
as long as it likes. :class:`CallDeadline` keeps one deadline per thread (httpx's sync
client does its socket I/O on the calling thread); :class:`DeadlineBackend` wraps
httpcore's network backend so that connecting, each read and each write use
``min(phase timeout, time left)`` and fail with httpcore's own timeout once none is
left. httpx maps those to ``httpx.TimeoutException`` as usual, so the caller sees an
ordinary timeout. :func:`install` fits the backend into an ``httpx.HTTPTransport``
(httpx has no public parameter for it: the pool's ``_network_backend`` is replaced,
and a test fails if a new httpx moves it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

SocketOption = Any  # httpcore's SOCKET_OPTION union; passed through untouched


class CallDeadline(threading.local):
    """The monotonic time the current thread's call must be done by (None: no deadline)."""

    at: float | None = None

    @contextlib.contextmanager
    def until(self, at: float) -> Iterator[None]:
        """Run the block under a deadline at monotonic time ``at``."""
        previous, self.at = self.at, at
        try:
            yield
        finally:
            self.at = previous

    def left(self) -> float | None:
        """Seconds left (may be <= 0), None without a deadline."""
        return None if self.at is None else self.at - time.monotonic()

    def clip(self, timeout: float | None, exc: type[Exception]) -> float | None:
        """``timeout`` shortened to the time left; raises ``exc`` when nothing is left."""
        left = self.left()
        if left is None:
            return timeout
        if left <= 0:
            raise exc("total deadline of the call passed")
        return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads and writes respect the thread's :class:`CallDeadline`."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: CallDeadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read at most ``max_bytes`` within the phase timeout and the time left."""
        return self._inner.read(max_bytes, self._deadline.clip(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write ``buffer`` within the phase timeout and the time left."""
        self._inner.write(buffer, self._deadline.clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        """Close the underlying stream."""
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        """TLS over this stream; the TLS stream keeps the deadline."""
        clipped = self._deadline.clip(timeout, httpcore.ConnectTimeout)
        tls = self._inner.start_tls(ssl_context, server_hostname, clipped)
        return DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        """Whatever the underlying stream says (socket, TLS object, peer address)."""
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every stream it opens under a :class:`CallDeadline`."""

    def __init__(self, inner: httpcore.NetworkBackend, deadline: CallDeadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect within the phase timeout and the time left."""
        clipped = self._deadline.clip(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, clipped, local_address, socket_options)
        return DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect a unix socket within the phase timeout and the time left."""
        clipped = self._deadline.clip(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_unix_socket(path, clipped, socket_options)
        return DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        """Sleep (httpcore uses it between connection retries)."""
        self._inner.sleep(seconds)


def install(transport: httpx.BaseTransport, deadline: CallDeadline) -> bool:
    """Put ``transport``'s connection pool under ``deadline``; False if it has no such pool.

    Only ``httpx.HTTPTransport`` (direct or through a proxy) has one; a test transport
    (``httpx.MockTransport``) is left alone and the client's own read loop still checks
    the deadline between chunks.
    """
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if not isinstance(transport, httpx.HTTPTransport) or inner is None:
        return False
    if not isinstance(inner, DeadlineBackend):
        pool._network_backend = DeadlineBackend(inner, deadline)  # type: ignore[union-attr]
    return True
