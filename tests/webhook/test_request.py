"""webhook/request.py: verdicts, backoff, body and HMAC signature (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from daemon.webhook.request import Verdict, backoff_s, body, headers, verdict


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, Verdict.DELIVERED), (204, Verdict.DELIVERED), (None, Verdict.RETRY),
     (500, Verdict.RETRY), (503, Verdict.RETRY), (408, Verdict.RETRY), (429, Verdict.RETRY),
     (400, Verdict.REJECTED), (401, Verdict.REJECTED), (404, Verdict.REJECTED),
     (410, Verdict.REJECTED), (301, Verdict.REJECTED)],
)
def test_only_408_429_5xx_and_no_answer_are_retried(status: int | None,
                                                    expected: Verdict) -> None:
    assert verdict(status) is expected


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(n, 0.5, 3.0) for n in (1, 2, 3, 4, 10)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_signature_covers_timestamp_and_body() -> None:
    data = body('{"event_id":"e","late":false}', b"\xff\xd8jpeg")
    assert base64.b64decode(json.loads(data)["image"]) == b"\xff\xd8jpeg"
    h = headers("e", data, "s3cret", 1_764_806_400.7)
    assert h["X-Gatecam-Timestamp"] == "1764806400" and h["X-Gatecam-Event-Id"] == "e"
    mac = hmac.new(b"s3cret", b"1764806400." + data, hashlib.sha256).hexdigest()
    assert h["X-Gatecam-Signature"] == f"sha256={mac}"
    assert "X-Gatecam-Signature" not in headers("e", data, None, 0.0)
    assert body('{"event_id":"e"}', None) == b'{"event_id":"e"}'  # the MQTT payload as is
