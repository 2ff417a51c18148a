"""Tencent LicensePlateOCR: the client, the thin I/O edge around signing and parsing.

Signing and request building live in :mod:`daemon.ocr.signing` and parsing in
:mod:`daemon.ocr.response` (both pure; re-exported here). :class:`TencentOcrClient` holds one pooled
``httpx.Client``: it measures the clock skew from every answer's ``Date``
(:class:`daemon.ocr.skew.ClockSkew`), re-signs with the offset after ``SignatureExpire``,
re-reads rotated keys after ``AuthFailure.TokenFailure`` / ``SecretIdNotFound`` /
``SignatureFailure``, and moves to an optional failover endpoint after consecutive
transient failures (:class:`daemon.ocr.endpoints.FailoverState`). Every call has a
total deadline (``deadline_s``, by default ``timeout_s``: httpx's own timeouts are per
phase, see :mod:`daemon.ocr.deadline`) and its answer is streamed and refused past
:data:`MAX_RESPONSE_BYTES` (``ResponseTooLarge``) instead of being read whole.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from daemon.ocr.deadline import CallDeadline, install
from daemon.ocr.endpoints import FAILOVER, PRIMARY, FailoverState, host_of
from daemon.ocr.errors import (
    KEY_REJECTED,
    TOKEN_FAILURE,
    Action,
    OcrBadResponseError,
    OcrError,
    OcrServiceError,
    OcrTransportError,
    is_transient,
)
from daemon.ocr.response import JSON_CONTENT, OcrResult, PlateInfo, parse_response, server_time
from daemon.ocr.signing import build_request, sign_tc3
from daemon.ocr.skew import ClockSkew

log = logging.getLogger(__name__)

KeyPair = tuple[str, str]
"""(SecretId, SecretKey)."""
KeySource = Callable[[], KeyPair | None]
"""Re-reads the keys, None when none are found (:func:`daemon.config.secrets.reload_keys`)."""

MAX_RESPONSE_BYTES = 64 * 1024
"""A LicensePlateOCR answer is ~1 KiB (a few plates); anything past this is refused unread."""




class TencentOcrClient:
    """LicensePlateOCR over one pooled ``httpx.Client``; thread-safe; retries only to recover."""

    def __init__(
        self,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        region: str | None,
        timeout_s: float,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        trust_env: bool = False,
        failover_endpoint: str | None = None,
        failover_after: int = 5,
        failover_cooldown_s: float = 60.0,
        reload_keys: KeySource | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        skew: ClockSkew | None = None,
        deadline_s: float | None = None,
    ) -> None:
        """``trust_env`` lets httpx read ``*_PROXY`` / ``SSL_CERT_*`` from the environment.

        ``deadline_s`` bounds each HTTP call as a whole (default ``timeout_s``, which
        also bounds each phase).

        ``failover_endpoint`` takes the calls after ``failover_after`` consecutive transient
        failures for ``failover_cooldown_s``; ``reload_keys`` re-reads rotated keys. Every
        answer's ``Date`` header feeds ``skew`` (the clock offset, daemon/ocr/skew.py).
        """
        self._urls = {PRIMARY: _endpoint(endpoint)}
        self._failover: FailoverState | None = None
        if failover_endpoint:
            self._urls[FAILOVER] = _endpoint(failover_endpoint)
            self._failover = FailoverState(failover_after, failover_cooldown_s)
        self._keys: KeyPair = (secret_id, secret_key)
        self._reload_keys = reload_keys
        self._region = region
        self._clock = clock
        self._monotonic = monotonic
        self._offset = 0.0
        self.skew = skew if skew is not None else ClockSkew()
        """The system clock's offset as measured from every answer (not only for signing)."""
        self._lock = threading.Lock()
        self.deadline_s = deadline_s if deadline_s is not None else timeout_s
        self._deadline = CallDeadline()
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        if transport is None:
            transport = httpx.HTTPTransport(limits=limits, trust_env=trust_env)
            if not install(transport, self._deadline):
                raise RuntimeError("httpx transport without a network backend to bound")
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s), transport=transport, trust_env=trust_env,
            limits=limits,
        )
        for mounted in getattr(self._client, "_mounts", {}).values():  # *_PROXY transports
            if mounted is not None:
                install(mounted, self._deadline)

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock to match server time (learnt from SignatureExpire)."""
        return self._offset

    @property
    def secret_id(self) -> str:
        """The SecretId in use (public half of the key pair; may change after a re-read)."""
        return self._keys[0]

    def endpoint_status(self) -> dict[str, Any]:
        """Active endpoint role and host, consecutive failures, seconds left on the failover."""
        if self._failover is None:
            return {"active": PRIMARY, "host": self._urls[PRIMARY][1], "failover": None}
        with self._lock:
            status: dict[str, Any] = self._failover.status(self._monotonic())
        status["host"] = self._urls[status["active"]][1]
        status["failover"] = self._urls[FAILOVER][1]
        return status

    def recognize(self, jpeg: bytes, *, retry_resync: bool = True) -> OcrResult:
        """Read the plate in an image; raises OcrError (code and action) on any failure.

        Recoverable refusals are prepared for one more call: on ``SignatureExpire`` the
        clock offset is learnt from the answer's ``Date`` header; on ``TokenFailure``
        the keys are re-read; on ``SecretIdNotFound`` / ``SignatureFailure`` the keys are
        re-read and, if they changed (a rotation), the error becomes RETRY instead of
        STOP. With ``retry_resync`` that call is made here, otherwise the error is raised
        and the caller (the pool, which must take a rate slot for it) retries.
        """
        keys = self._keys
        try:
            return self._call(jpeg, keys)
        except OcrServiceError as exc:
            if not self._recover(exc, keys) or not retry_resync:
                raise
        try:
            return self._call(jpeg, self._keys)
        except OcrServiceError as exc:
            if exc.action is Action.RESYNC_CLOCK:
                log.error(
                    "ALERT: signature still expired after a clock resync (request %s)",
                    exc.request_id,
                )
            raise

    def _recover(self, exc: OcrServiceError, used: KeyPair) -> bool:
        """Prepare one more call after a recoverable refusal; False when none would help."""
        if exc.action is Action.RESYNC_CLOCK:
            return self._resync(exc)
        if exc.code == TOKEN_FAILURE:
            self._reload(exc.code, used)
            return True
        if exc.code in KEY_REJECTED and self._reload(exc.code, used):
            exc.action = Action.RETRY
            return True
        return False

    def _reload(self, code: str, used: KeyPair) -> bool:
        """Re-read the keys; True when they differ from the ones the refused call used."""
        if self._reload_keys is None:
            return False
        try:
            fresh = self._reload_keys()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("re-reading the Tencent keys after %s failed: %s", code, type(exc).__name__)
            return False
        if fresh is None or not (fresh[0] and fresh[1]):
            log.warning("re-reading the Tencent keys after %s found none; keeping ours", code)
            return False
        self._keys = fresh
        changed = fresh != used
        log.warning(
            "Tencent keys re-read after %s: %s", code,
            "rotated, one more call with the new keys" if changed else "unchanged",
        )
        return changed

    def _resync(self, exc: OcrServiceError) -> bool:
        server = exc.server_time
        if server is None:
            log.error("SignatureExpire without a usable Date header; check the system clock")
            return False
        self._offset = server - self._clock()
        log.warning("clock is %.1f s off Tencent's; re-signing with that offset", self._offset)
        return True

    def _choose(self) -> str:
        if self._failover is None:
            return PRIMARY
        with self._lock:
            before = self._failover.active
            role = self._failover.choose(self._monotonic())
        if before != role:
            log.warning("OCR failover cool-down over: trying %s again", self._urls[PRIMARY][1])
        return role

    def _record(self, role: str, code: str | None) -> None:
        """Feed the failover switch with one outcome (None: a plate)."""
        if self._failover is None:
            return
        transient = code is not None and is_transient(code)
        with self._lock:
            moved = self._failover.on_result(role, transient, self._monotonic())
            cooldown = self._failover.cooldown_s
        if moved:
            log.error(
                "ALERT: %s failed %d times in a row (last %s): calling %s for %.0f s",
                self._urls[PRIMARY][1], self._failover.after, code, self._urls[FAILOVER][1],
                cooldown,
            )

    def _call(self, jpeg: bytes, keys: KeyPair) -> OcrResult:
        role = self._choose()
        url, host = self._urls[role]
        timestamp = int(self._clock() + self._offset)
        headers, body = build_request(
            secret_id=keys[0],
            secret_key=keys[1],
            host=host,
            image=jpeg,
            timestamp=timestamp,
            region=self._region,
        )
        sent_at = self._clock()
        deadline = time.monotonic() + self.deadline_s
        try:
            with (
                self._deadline.until(deadline),
                self._client.stream("POST", url, content=body, headers=headers) as resp,
            ):
                content = _read_capped(resp, deadline)
        except httpx.TimeoutException as exc:
            self._record(role, "Timeout")
            raise OcrTransportError("Timeout", type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            self._record(role, "NetworkError")
            raise OcrTransportError("NetworkError", type(exc).__name__) from exc
        except OcrError as exc:
            self._record(role, exc.code)
            raise
        date = server_time(resp.headers.get("date"))
        if date is not None:
            self.skew.observe(date, sent_at, self._clock())
        try:
            ctype = resp.headers.get("content-type")
            result = parse_response(resp.status_code, ctype, content)
        except OcrError as exc:
            self._record(role, exc.code)
            if isinstance(exc, OcrServiceError):
                exc.server_time = date
            raise
        self._record(role, None)
        log.debug("plate %s conf %d request %s", result.plate, result.confidence, result.request_id)
        return result

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __enter__(self) -> TencentOcrClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _read_capped(resp: httpx.Response, deadline: float) -> bytes:
    """The (decoded) body, refused past MAX_RESPONSE_BYTES or the call's total deadline."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise OcrBadResponseError(f"answer declares {declared} bytes", code="ResponseTooLarge")
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise OcrBadResponseError(
                f"answer over {MAX_RESPONSE_BYTES} bytes", code="ResponseTooLarge"
            )
        if time.monotonic() > deadline:  # a stream the socket clip does not see (mounts, tests)
            raise OcrTransportError("Timeout", "total deadline of the call passed")
        chunks.append(chunk)
    return b"".join(chunks)


def _endpoint(endpoint: str) -> tuple[httpx.URL, str]:
    """(POST URL, Host header) for an endpoint; ValueError unless http(s)://host[:port]."""
    url = httpx.URL(endpoint)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"endpoint must be http(s)://host[:port], got {endpoint!r}")
    return url.copy_with(path="/", query=None, fragment=None), host_of(str(url))


__all__ = [
    "JSON_CONTENT",
    "MAX_RESPONSE_BYTES",
    "KeyPair",
    "KeySource",
    "OcrError",
    "OcrResult",
    "PlateInfo",
    "TencentOcrClient",
    "build_request",
    "parse_response",
    "server_time",
    "sign_tc3",
]
