"""One webhook delivery: the body, its HMAC signature, and what an HTTP answer means.

Pure, no I/O. The body is the passage event exactly as MQTT carries it (``late`` set at
send time when it waited longer than ``mqtt.late_after_s``), plus ``image`` (the
snapshot, base64 JPEG) for a target configured ``image: true``. With a secret, the
request carries ``X-Gatecam-Timestamp`` (Unix seconds) and ``X-Gatecam-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``: a receiver recomputes it, and
refuses a timestamp far from its clock (a replay).

Answers: 2xx delivered; 408, 429 and 5xx (and no answer) are retried with backoff;
any other status (4xx, 3xx: redirects are not followed) is final, never retried: the
receiver said the request itself is wrong, and sending it again cannot help.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from enum import Enum

RETRIED_4XX = frozenset({408, 429})


class Verdict(Enum):
    """What to do with an outbox row after one attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


def verdict(status: int | None) -> Verdict:
    """The verdict for an HTTP status (None: no answer: timeout, refused, reset, too big)."""
    if status is None or status >= 500 or status in RETRIED_4XX:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    return Verdict.REJECTED


def backoff_s(failures: int, min_s: float, max_s: float) -> float:
    """Pause after ``failures`` failed attempts in a row: doubling from min_s, capped."""
    return float(min(max_s, min_s * 2 ** max(0, failures - 1)))


def body(event_payload: str, image: bytes | None) -> bytes:
    """The JSON body: the event, with ``image`` (base64 JPEG) when one is given."""
    if image is None:
        return event_payload.encode()
    event = json.loads(event_payload)
    event["image"] = base64.b64encode(image).decode("ascii")
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def headers(event_id: str, payload: bytes, secret: str | None, now_s: float) -> dict[str, str]:
    """Request headers; the signature ones only with a secret."""
    out = {"Content-Type": "application/json", "User-Agent": "gatecam-webhook/1",
           "X-Gatecam-Event-Id": event_id}
    if secret:
        ts = str(int(now_s))
        mac = hmac.new(secret.encode(), ts.encode() + b"." + payload, hashlib.sha256)
        out["X-Gatecam-Timestamp"] = ts
        out["X-Gatecam-Signature"] = "sha256=" + mac.hexdigest()
    return out
