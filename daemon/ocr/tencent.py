"""Tencent LicensePlateOCR: TC3-HMAC-SHA256 signing, request building, response parsing, client.

Signing, building and parsing are pure functions (no clock, no I/O) so they can be
checked against the official SDK and fuzzed; :class:`TencentOcrClient` is the thin
I/O edge around them, with one pooled ``httpx.Client``.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from daemon.domain import Rect
from daemon.ocr.errors import (
    Action,
    OcrBadResponseError,
    OcrError,
    OcrServiceError,
    OcrTransportError,
)

log = logging.getLogger(__name__)

ALGORITHM = "TC3-HMAC-SHA256"
ACTION = "LicensePlateOCR"
VERSION = "2018-11-19"
JSON_CONTENT = "application/json"


# ---------------------------------------------------------------- signing (pure)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    """The credential-scope date: the UTC calendar day of the timestamp, YYYY-MM-DD."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """(canonical header block, signed names): names and values lower-cased, trimmed, sorted."""
    items = sorted((k.strip().lower(), v.strip().lower()) for k, v in headers.items())
    block = "".join(f"{k}:{v}\n" for k, v in items)
    return block, ";".join(k for k, _ in items)


def string_to_sign(*, timestamp: int, body: bytes, headers: Mapping[str, str], service: str) -> str:
    """The TC3 string to sign for ``POST /`` with these signed headers and exact body bytes."""
    block, names = canonical_headers(headers)
    canonical = "\n".join(["POST", "/", "", block, names, hashlib.sha256(body).hexdigest()])
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def tc3_signature(secret_key: str, date: str, service: str, to_sign: str) -> str:
    """hex(HMAC(kSigning, string to sign)) with the TC3 key derivation."""
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_tc3(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    timestamp: int,
    body: bytes,
    signed_headers: dict[str, str] | None = None,
    service: str = "ocr",
) -> str:
    """The ``Authorization`` header value for ``POST /`` to ``host``.

    By default signs ``content-type: application/json`` and ``host``; entries in
    ``signed_headers`` (e.g. ``{"x-tc-action": "LicensePlateOCR"}``) are added to,
    or override, those two.
    """
    headers = {"content-type": JSON_CONTENT, "host": host}
    for name, value in (signed_headers or {}).items():
        headers[name.strip().lower()] = value
    to_sign = string_to_sign(timestamp=timestamp, body=body, headers=headers, service=service)
    date = utc_date(timestamp)
    signature = tc3_signature(secret_key, date, service, to_sign)
    _, names = canonical_headers(headers)
    return (
        f"{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders={names}, Signature={signature}"
    )


def build_request(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    image: bytes,
    timestamp: int,
    region: str | None = None,
    language: str | None = None,
    token: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and the exact body bytes for one LicensePlateOCR call on a JPEG/PNG image.

    ``host`` must be the Host really sent (``127.0.0.1:8080`` for a local emulator).
    """
    payload = {"ImageBase64": base64.b64encode(image).decode("ascii")}
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": JSON_CONTENT,
        "Host": host,
        "X-TC-Action": ACTION,
        "X-TC-Version": VERSION,
        "X-TC-Timestamp": str(timestamp),
    }
    if region:
        headers["X-TC-Region"] = region
    if language:
        headers["X-TC-Language"] = language
    if token:
        headers["X-TC-Token"] = token
    headers["Authorization"] = sign_tc3(
        secret_id=secret_id, secret_key=secret_key, host=host, timestamp=timestamp, body=body
    )
    return headers, body


# ---------------------------------------------------------------- parsing (pure)


@dataclass(frozen=True, slots=True)
class PlateInfo:
    """One plate in a LicensePlateInfos entry; rect in the sent image's pixels."""

    plate: str
    color: str
    confidence: int
    category: str
    rect: Rect


@dataclass(frozen=True, slots=True)
class OcrResult:
    """A successful LicensePlateOCR answer; rect is in the *sent image's* pixels."""

    plate: str
    """The best plate, without "·"."""
    color: str
    confidence: int
    category: str
    rect: Rect
    request_id: str
    plates: tuple[PlateInfo, ...]
    """Every plate the service found (at least the best one)."""


def _field(obj: Mapping[str, Any], key: str, kind: type, request_id: str | None) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise OcrBadResponseError(f"field {key} is not {kind.__name__}", request_id=request_id)
    return value


def _int(obj: Mapping[str, Any], key: str, request_id: str | None, lo: int, hi: int) -> int:
    value = obj.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise OcrBadResponseError(f"{key} not an integer in [{lo}, {hi}]", request_id=request_id)
    return value


_MAX_PX = 1 << 20


def _rect(obj: Mapping[str, Any], request_id: str | None) -> Rect:
    raw = _field(obj, "Rect", dict, request_id)
    return Rect(
        x=_int(raw, "X", request_id, -_MAX_PX, _MAX_PX),
        y=_int(raw, "Y", request_id, -_MAX_PX, _MAX_PX),
        width=_int(raw, "Width", request_id, 0, _MAX_PX),
        height=_int(raw, "Height", request_id, 0, _MAX_PX),
    )


def _plate_info(obj: Mapping[str, Any], request_id: str | None) -> PlateInfo:
    number = _field(obj, "Number", str, request_id).replace("·", "").strip()
    if not number:
        raise OcrBadResponseError("empty Number", request_id=request_id)
    category = obj.get("LicensePlateCategory", "")
    if not isinstance(category, str):
        raise OcrBadResponseError("LicensePlateCategory is not str", request_id=request_id)
    return PlateInfo(
        plate=number,
        color=_field(obj, "Color", str, request_id),
        confidence=_int(obj, "Confidence", request_id, 0, 100),
        category=category,
        rect=_rect(obj, request_id),
    )


def _media_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower()


def _envelope(status: int, content_type: str | None, body: bytes) -> dict[str, Any]:
    """The ``Response`` object, or the transport/format error that stands in its way."""
    media = _media_type(content_type)
    problem = None
    response: Any = None
    if media not in (None, JSON_CONTENT, "text/plain"):
        problem = f"content type {media}"
    else:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            data = None
            problem = "body is not JSON"
        response = data.get("Response") if isinstance(data, dict) else None
        if problem is None and not isinstance(response, dict):
            problem = "no Response object"
    if problem is not None:
        if status != 200:
            raise OcrTransportError(f"HttpStatus.{status}", problem)
        raise OcrBadResponseError(problem)
    assert isinstance(response, dict)  # noqa: S101 - narrowed above for mypy
    return response


def parse_response(status: int, content_type: str | None, body: bytes) -> OcrResult:
    """Turn an HTTP answer into an OcrResult; anything else raises an OcrError subclass."""
    response = _envelope(status, content_type, body)
    request_id = response.get("RequestId")
    if not isinstance(request_id, str):
        request_id = None
    if "Error" in response:
        error = response["Error"]
        code = error.get("Code") if isinstance(error, dict) else None
        if not isinstance(code, str) or not code:
            raise OcrBadResponseError("Error without a Code", request_id=request_id)
        message = error.get("Message", "")
        raise OcrServiceError(
            code, message if isinstance(message, str) else "", request_id=request_id
        )
    if status != 200:
        raise OcrTransportError(f"HttpStatus.{status}", "success envelope", request_id=request_id)
    if request_id is None:
        raise OcrBadResponseError("missing RequestId")
    best = _plate_info(response, request_id)
    infos = response.get("LicensePlateInfos")
    if infos is None:
        plates: tuple[PlateInfo, ...] = (best,)
    elif isinstance(infos, list) and all(isinstance(i, dict) for i in infos):
        plates = tuple(_plate_info(i, request_id) for i in infos) or (best,)
    else:
        raise OcrBadResponseError("LicensePlateInfos not a list of objects", request_id=request_id)
    return OcrResult(
        plate=best.plate,
        color=best.color,
        confidence=best.confidence,
        category=best.category,
        rect=best.rect,
        request_id=request_id,
        plates=plates,
    )


def server_time(date_header: str | None) -> float | None:
    """Seconds since the epoch from an HTTP ``Date`` header, or None if absent or unparsable."""
    if not date_header:
        return None
    try:
        return email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------- client (I/O)


class TencentOcrClient:
    """LicensePlateOCR over one pooled ``httpx.Client``; thread-safe; retries only to resync."""

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
    ) -> None:
        """``trust_env`` lets httpx read ``*_PROXY`` / ``SSL_CERT_*`` from the environment."""
        url = httpx.URL(endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"endpoint must be http(s)://host[:port], got {endpoint!r}")
        self._url = url.copy_with(path="/", query=None, fragment=None)
        self._host = url.host if url.port is None else f"{url.host}:{url.port}"
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._region = region
        self._clock = clock
        self._offset = 0.0
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            trust_env=trust_env,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock to match server time (learnt from SignatureExpire)."""
        return self._offset

    def recognize(self, jpeg: bytes, *, retry_resync: bool = True) -> OcrResult:
        """Read the plate in an image; raises OcrError (code and action) on any failure.

        On ``AuthFailure.SignatureExpire`` the clock offset is learnt from the answer's
        ``Date`` header; with ``retry_resync`` the call is re-signed and sent once more
        here, otherwise the error is raised and the caller (the pool, which must take a
        rate slot for the second call) retries.
        """
        try:
            return self._call(jpeg)
        except OcrServiceError as exc:
            if exc.action is not Action.RESYNC_CLOCK or not self._resync(exc) or not retry_resync:
                raise
        try:
            return self._call(jpeg)
        except OcrServiceError as exc:
            if exc.action is Action.RESYNC_CLOCK:
                log.error(
                    "ALERT: signature still expired after a clock resync (request %s)",
                    exc.request_id,
                )
            raise

    def _resync(self, exc: OcrServiceError) -> bool:
        server = exc.server_time
        if server is None:
            log.error("SignatureExpire without a usable Date header; check the system clock")
            return False
        self._offset = server - self._clock()
        log.warning("clock is %.1f s off Tencent's; re-signing with that offset", self._offset)
        return True

    def _call(self, jpeg: bytes) -> OcrResult:
        timestamp = int(self._clock() + self._offset)
        headers, body = build_request(
            secret_id=self._secret_id,
            secret_key=self._secret_key,
            host=self._host,
            image=jpeg,
            timestamp=timestamp,
            region=self._region,
        )
        try:
            resp = self._client.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise OcrTransportError("Timeout", type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise OcrTransportError("NetworkError", type(exc).__name__) from exc
        try:
            ctype = resp.headers.get("content-type")
            result = parse_response(resp.status_code, ctype, resp.content)
        except OcrServiceError as exc:
            exc.server_time = server_time(resp.headers.get("date"))
            raise
        log.debug("plate %s conf %d request %s", result.plate, result.confidence, result.request_id)
        return result

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __enter__(self) -> TencentOcrClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


__all__ = [
    "OcrError",
    "OcrResult",
    "PlateInfo",
    "TencentOcrClient",
    "build_request",
    "parse_response",
    "sign_tc3",
]
