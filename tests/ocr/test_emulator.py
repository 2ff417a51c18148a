
"""The emulator against the official SDK, against our client, and as a command."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ocr.v20181119 import models, ocr_client

from daemon.domain import Rect
from daemon.ocr.emulator.readers import LocatingReader
from daemon.ocr.emulator.server import EmulatorServer, estimate_color, normalise_plate
from daemon.ocr.errors import Action, OcrError
from daemon.ocr.ratelimit import RateLimiter
from daemon.ocr.tencent import TencentOcrClient, build_request, sign_tc3
from tests.support.ocr import SECRET_ID, SECRET_KEY, STUB_PLATE, render_plate, tiny_jpeg

ROOT = Path(__file__).resolve().parents[2]


def _sdk(emu: EmulatorServer, key: str = SECRET_KEY) -> ocr_client.OcrClient:
    http = HttpProfile(endpoint=f"127.0.0.1:{emu.port}", protocol="http", reqTimeout=10)
    profile = ClientProfile(httpProfile=http)
    profile.disable_region_breaker = True
    return ocr_client.OcrClient(credential.Credential(SECRET_ID, key), "ap-guangzhou", profile)


def _client(emu: EmulatorServer, **kw: object) -> TencentOcrClient:
    args: dict[str, object] = {"secret_id": SECRET_ID, "secret_key": SECRET_KEY}
    args.update(kw)
    return TencentOcrClient(emu.url, region="ap-guangzhou", timeout_s=10.0, **args)  # type: ignore[arg-type]


def _request(img: bytes) -> models.LicensePlateOCRRequest:
    req = models.LicensePlateOCRRequest()
    req.ImageBase64 = base64.b64encode(img).decode()
    return req


def test_official_sdk_calls_the_emulator(emulator: EmulatorServer) -> None:
    resp = _sdk(emulator).LicensePlateOCR(_request(tiny_jpeg()))
    assert resp.Number == STUB_PLATE.number
    assert resp.Confidence == STUB_PLATE.confidence
    assert resp.Rect.X == 10 and resp.Rect.Height == 40
    assert resp.LicensePlateInfos[0].Number == STUB_PLATE.number
    assert resp.LicensePlateCategory == "实体车牌"
    assert emulator.calls[-1].code == "OK"


def test_official_sdk_sees_emulator_errors(emulator: EmulatorServer) -> None:
    with pytest.raises(TencentCloudSDKException) as info:
        _sdk(emulator, key="wrong-key").LicensePlateOCR(_request(tiny_jpeg()))
    assert info.value.code == "AuthFailure.SignatureFailure"
    assert info.value.requestId


def test_answer_headers_and_extra_signed_header(emulator: EmulatorServer) -> None:
    host = f"127.0.0.1:{emulator.port}"
    ts = int(time.time())
    headers, body = build_request(
        secret_id=SECRET_ID, secret_key=SECRET_KEY, host=host, image=tiny_jpeg(), timestamp=ts
    )
    headers["Authorization"] = sign_tc3(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        host=host,
        timestamp=ts,
        body=body,
        signed_headers={"x-tc-action": "LicensePlateOCR"},
    )
    with httpx.Client(trust_env=False) as http:
        resp = http.post(emulator.url, content=body, headers=headers)
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["date"]
        assert resp.json()["Response"]["Number"] == STUB_PLATE.number
        # tampering with the signed body or dropping host from SignedHeaders is refused
        resp = http.post(emulator.url, content=body.replace(b'"}', b'A"}'), headers=headers)
        assert resp.json()["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
        bad = dict(
            headers,
            Authorization=headers["Authorization"].replace(
                "content-type;host;x-tc-action", "content-type;x-tc-action"
            ),
        )
        resp = http.post(emulator.url, content=body, headers=bad)
        assert resp.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
        resp = http.post(emulator.url, content=body, headers=dict(headers, **{"X-TC-Version": "1"}))
        assert resp.json()["Response"]["Error"]["Code"] == "NoSuchVersion"


def test_client_reads_a_rendered_plate(rapid_emulator: EmulatorServer) -> None:
    with _client(rapid_emulator) as client:
        res = client.recognize(render_plate("京A·F0236"))
    assert res.plate == "京AF0236"
    assert res.color == "蓝"
    assert res.confidence >= 80
    assert 480 <= res.rect.x <= 540 and 390 <= res.rect.y <= 440
    assert res.request_id


@pytest.mark.parametrize("text", ["京A·F0236", "豫C·21127"])
def test_locating_reader_finds_the_plate_then_reads_it(text: str) -> None:
    reader = LocatingReader()
    [found] = reader(render_plate(text))[:1]
    assert found.number == normalise_plate(text) and found.confidence >= 80
    assert found.color == "蓝" and 480 <= found.rect.x <= 540 and 380 <= found.rect.y <= 440
    assert reader(tiny_jpeg()) == [] and reader(b"not an image") == []


def test_client_no_plate(rapid_emulator: EmulatorServer) -> None:
    with _client(rapid_emulator) as client, pytest.raises(OcrError) as info:
        client.recognize(tiny_jpeg())
    assert info.value.code == "FailedOperation.OcrFailed"
    assert info.value.action is Action.NO_PLATE


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"secret_id": "AKIDnobody"}, "AuthFailure.SecretIdNotFound"),
        ({"secret_key": "not-the-key"}, "AuthFailure.SignatureFailure"),
    ],
)
def test_client_bad_credentials(emulator: EmulatorServer, kw: dict[str, str], code: str) -> None:
    with _client(emulator, **kw) as client, pytest.raises(OcrError) as info:
        client.recognize(tiny_jpeg())
    assert info.value.code == code
    assert info.value.action is Action.STOP
    assert emulator.calls[-1].code == code


def test_client_resyncs_a_skewed_clock(emulator: EmulatorServer) -> None:
    with _client(emulator, clock=lambda: time.time() - 1000) as client:
        assert client.recognize(tiny_jpeg()).plate == STUB_PLATE.number
        assert client.clock_offset == pytest.approx(1000, abs=2)
        client.recognize(tiny_jpeg())
    assert [c.code for c in emulator.calls] == ["AuthFailure.SignatureExpire", "OK", "OK"]


@pytest.mark.parametrize(
    ("image", "code"),
    [
        (b"GIF89a not supported", "FailedOperation.ImageDecodeFailed"),
        (b"\xff\xd8\xff truncated jpeg", "FailedOperation.ImageDecodeFailed"),
        (b"x" * (7 * 1024 * 1024 * 3 // 4 + 3), "LimitExceeded.TooLargeFileError"),
    ],
)
def test_emulator_checks_the_image(emulator: EmulatorServer, image: bytes, code: str) -> None:
    with _client(emulator) as client, pytest.raises(OcrError) as info:
        client.recognize(image)
    assert info.value.code == code


def test_emulator_checks_the_body(emulator: EmulatorServer) -> None:
    host = f"127.0.0.1:{emulator.port}"
    with httpx.Client(trust_env=False) as http:
        cases = [
            ({}, "MissingParameter"),
            ({"ImageBase64": 5}, "InvalidParameterValue"),
            ({"ImageBase64": "***"}, "InvalidParameterValue"),
        ]
        for payload, code in cases:
            body = json.dumps(payload).encode()
            headers, _ = build_request(
                secret_id=SECRET_ID,
                secret_key=SECRET_KEY,
                host=host,
                image=b"",
                timestamp=int(time.time()),
            )
            headers["Authorization"] = sign_tc3(
                secret_id=SECRET_ID,
                secret_key=SECRET_KEY,
                host=host,
                timestamp=int(time.time()),
                body=body,
            )
            resp = http.post(emulator.url, content=body, headers=headers)
            assert resp.json()["Response"]["Error"]["Code"] == code


def test_emulator_enforces_its_rate_limit(emulator: EmulatorServer) -> None:
    emulator.rate_limit = 3
    codes = []
    with _client(emulator) as client:
        for _ in range(6):
            try:
                client.recognize(tiny_jpeg())
                codes.append("OK")
            except OcrError as exc:
                assert exc.action is Action.BACKOFF
                codes.append(exc.code)
    assert codes.count("OK") == 3
    assert codes.count("RequestLimitExceeded") == 3


def test_our_limiter_keeps_the_emulator_happy(emulator: EmulatorServer) -> None:
    emulator.rate_limit = 4
    limiter = RateLimiter(4, margin=0.1)
    with _client(emulator) as client:
        for _ in range(9):
            assert limiter.acquire(timeout=5)
            client.recognize(tiny_jpeg())
    assert {c.code for c in emulator.calls} == {"OK"}


def test_fault_injection_and_latency(emulator: EmulatorServer) -> None:
    emulator.fail_next("InternalError")
    with _client(emulator) as client:
        with pytest.raises(OcrError) as info:
            client.recognize(tiny_jpeg())
        assert info.value.action is Action.RETRY
        assert client.recognize(tiny_jpeg()).plate == STUB_PLATE.number
    emulator.latency_s = 0.5
    fast = TencentOcrClient(emulator.url, SECRET_ID, SECRET_KEY, None, 0.2)
    with fast, pytest.raises(OcrError) as info:
        fast.recognize(tiny_jpeg())
    assert info.value.code == "Timeout"


def test_plate_helpers() -> None:
    assert normalise_plate(" 京A·F０２３６ ") == "京AF0236"
    import numpy as np

    yellow = np.zeros((40, 100, 3), np.uint8)
    yellow[:] = (0, 200, 230)  # BGR
    assert estimate_color(yellow, Rect(0, 0, 100, 40)) == "黄"
    assert estimate_color(np.full((40, 100, 3), 240, np.uint8), Rect(0, 0, 100, 40)) == "白"


def test_command_serves_until_sigterm() -> None:
    env = dict(os.environ, TENCENTCLOUD_SECRET_ID="AKIDcli", TENCENTCLOUD_SECRET_KEY="cli-key")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.ocr.emulator.cli", "--port", "0", "--rate-limit", "5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        with (
            TencentOcrClient(url, "AKIDcli", "wrong", None, 5.0) as client,
            pytest.raises(OcrError) as info,
        ):
            client.recognize(tiny_jpeg())
        assert info.value.code == "AuthFailure.SignatureFailure"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
