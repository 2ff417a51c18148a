"""TC3-HMAC-SHA256 signing and LicensePlateOCR request building: pure, no clock, no I/O.

Cross-checked against the official SDK's signer (tests/ocr/test_sign.py) and fuzzed; the
client (:mod:`daemon.ocr.tencent`) passes the timestamp in, the emulator checks requests
with the same functions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from daemon.ocr.response import JSON_CONTENT

ALGORITHM = "TC3-HMAC-SHA256"
ACTION = "LicensePlateOCR"
VERSION = "2018-11-19"


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


# ---------------------------------------------------------------- client (I/O)
