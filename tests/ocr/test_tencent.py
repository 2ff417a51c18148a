
"""parse_response on good, bad and fuzzed answers; TencentOcrClient over httpx.MockTransport."""

from __future__ import annotations

import copy
import email.utils
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.domain import Rect
from daemon.ocr.errors import Action, OcrError
from daemon.ocr.tencent import OcrResult, TencentOcrClient, parse_response, sign_tc3

GOOD: dict[str, Any] = {
    "Response": {
        "Number": "京A·F0236",
        "Confidence": 99,
        "Rect": {"X": 426, "Y": 423, "Width": 135, "Height": 66},
        "Color": "蓝",
        "LicensePlateInfos": [
            {
                "Number": "京AF0236",
                "Confidence": 99,
                "Rect": {"X": 426, "Y": 423, "Width": 135, "Height": 66},
                "Color": "蓝",
                "LicensePlateCategory": "实体车牌",
            },
            {
                "Number": "沪B12345",
                "Confidence": 80,
                "Rect": {"X": 10, "Y": 20, "Width": 30, "Height": 10},
                "Color": "黄",
                "LicensePlateCategory": "实体车牌",
            },
        ],
        "LicensePlateCategory": "实体车牌",
        "RequestId": "req-1",
    }
}
JSON = "application/json"


def _body(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def test_parse_success() -> None:
    res = parse_response(200, JSON, _body(GOOD))
    assert res.plate == "京AF0236"
    assert (res.color, res.confidence, res.category) == ("蓝", 99, "实体车牌")
    assert res.rect == Rect(426, 423, 135, 66)
    assert res.request_id == "req-1"
    assert [p.plate for p in res.plates] == ["京AF0236", "沪B12345"]
    assert res.plates[1].rect == Rect(10, 20, 30, 10)


def test_parse_error_envelope() -> None:
    body = _body(
        {
            "Response": {
                "Error": {"Code": "FailedOperation.OcrFailed", "Message": "none"},
                "RequestId": "r2",
            }
        }
    )
    with pytest.raises(OcrError) as info:
        parse_response(200, "application/json; charset=utf-8", body)
    assert (info.value.code, info.value.request_id) == ("FailedOperation.OcrFailed", "r2")
    assert info.value.action is Action.NO_PLATE


@pytest.mark.parametrize(
    ("status", "ctype", "body", "code"),
    [
        (502, "text/html", b"<html>bad gateway</html>", "HttpStatus.502"),
        (500, JSON, b"not json", "HttpStatus.500"),
        (200, "text/html", b"<html></html>", "BadResponse"),
        (200, JSON, b"\xff\xfe", "BadResponse"),
        (200, JSON, b"[]", "BadResponse"),
        (200, JSON, b'{"Response": {"RequestId": "x"}}', "BadResponse"),
        (200, JSON, b'{"Response": {"Error": {"Message": "m"}, "RequestId": "x"}}', "BadResponse"),
        (200, JSON, b'{"Response": {"Error": "oops"}}', "BadResponse"),
        (503, JSON, _body(GOOD), "HttpStatus.503"),
    ],
)
def test_parse_failures(status: int, ctype: str, body: bytes, code: str) -> None:
    with pytest.raises(OcrError) as info:
        parse_response(status, ctype, body)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("Confidence",), "99"),
        (("Confidence",), 101),
        (("Confidence",), True),
        (("Rect", "X"), None),
        (("Rect", "Width"), -1),
        (("Rect",), [1, 2, 3, 4]),
        (("Number",), ""),
        (("Color",), 3),
        (("LicensePlateInfos",), {"a": 1}),
        (("LicensePlateInfos",), [1]),
        (("RequestId",), 7),
    ],
)
def test_parse_rejects_wrong_types(path: tuple[str, ...], value: Any) -> None:
    doc = copy.deepcopy(GOOD)
    node = doc["Response"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(OcrError) as info:
        parse_response(200, JSON, _body(doc))
    assert info.value.code == "BadResponse"


_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8)
)
_json = st.recursive(
    _json_leaf,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4)
    ),
    max_leaves=20,
)
_keys = [
    "Response",
    "Number",
    "Confidence",
    "Rect",
    "X",
    "Y",
    "Width",
    "Height",
    "Color",
    "LicensePlateInfos",
    "LicensePlateCategory",
    "RequestId",
    "Error",
    "Code",
    "Message",
]


def _mutations(doc: Any, draw: st.DrawFn) -> Any:
    """Randomly delete or replace keys anywhere in a copy of the good envelope."""
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            roll = draw(st.integers(0, 9))
            if roll == 0:
                continue
            out[k] = draw(_json) if roll == 1 else _mutations(v, draw)
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.sampled_from(_keys))] = draw(_json)
        return out
    if isinstance(doc, list):
        return [_mutations(v, draw) for v in doc if draw(st.integers(0, 5))]
    return doc


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return json.dumps(draw(_json)).encode()
    if kind == 2:
        return json.dumps({"Response": draw(_json)}).encode()
    doc = _mutations(GOOD, draw)
    if draw(st.integers(0, 4)) == 0 and isinstance(doc.get("Response"), dict):
        huge = draw(st.sampled_from(["京" * 200_000, "A" * 1_000_000, "\ud800" * 1000]))
        doc["Response"][draw(st.sampled_from(_keys))] = huge
    return json.dumps(doc).encode()


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from([200, 200, 200, 400, 500, 502]),
    st.one_of(
        st.sampled_from(
            [JSON, "text/plain", None, "text/html", "application/json; charset=utf-8"]
        ),
        st.text(max_size=40),  # any content type, however wrong
    ),
    _bodies(),
)
def test_parse_fuzz_raises_only_ocr_errors(status: int, ctype: str | None, body: bytes) -> None:
    try:
        result = parse_response(status, ctype, body)
    except OcrError as exc:
        assert exc.code
        assert isinstance(exc.action, Action)
    else:
        assert isinstance(result, OcrResult)
        assert status == 200
        assert "·" not in result.plate and 0 <= result.confidence <= 100


def test_parse_deeply_nested_json() -> None:
    with pytest.raises(OcrError):
        parse_response(200, JSON, b"[" * 100_000 + b"]" * 100_000)


# ---------------------------------------------------------------- client on a MockTransport


def _client(
    handler: Any, clock: Any = None, endpoint: str = "http://127.0.0.1:9"
) -> TencentOcrClient:
    kwargs = {"clock": clock} if clock else {}
    return TencentOcrClient(
        endpoint,
        "AKIDx",
        "keyx",
        "ap-guangzhou",
        1.0,
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def test_client_signs_the_host_and_bytes_it_sends() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Type": JSON}, content=_body(GOOD))

    with _client(handler, clock=lambda: 1700000000.5) as client:
        assert client.recognize(b"hello").plate == "京AF0236"
    req = seen[0]
    assert req.headers["host"] == "127.0.0.1:9"
    assert req.url.path == "/"
    expected = sign_tc3(
        secret_id="AKIDx",
        secret_key="keyx",
        host="127.0.0.1:9",
        timestamp=1700000000,
        body=req.content,
    )
    assert req.headers["authorization"] == expected
    assert req.headers["x-tc-region"] == "ap-guangzhou"


def test_client_default_https_host_has_no_port() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Type": JSON}, content=_body(GOOD))

    with _client(handler, endpoint="https://ocr.tencentcloudapi.com") as client:
        client.recognize(b"x")
    assert seen[0].headers["host"] == "ocr.tencentcloudapi.com"
    assert "Credential=AKIDx/" in seen[0].headers["authorization"]


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ReadTimeout("slow"), "Timeout"),
        (httpx.ConnectTimeout("slow"), "Timeout"),
        (httpx.ConnectError("refused"), "NetworkError"),
        (httpx.RemoteProtocolError("reset"), "NetworkError"),
    ],
)
def test_client_maps_transport_errors(exc: Exception, code: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with _client(handler) as client, pytest.raises(OcrError) as info:
        client.recognize(b"x")
    assert info.value.code == code
    assert info.value.action is Action.RETRY


def test_client_resyncs_clock_from_date_header() -> None:
    server_now = 1_800_000_000
    stamps: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ts = int(request.headers["x-tc-timestamp"])
        stamps.append(ts)
        if abs(ts - server_now) > 300:
            body = {
                "Response": {
                    "Error": {"Code": "AuthFailure.SignatureExpire", "Message": "x"},
                    "RequestId": "r",
                }
            }
            date = email.utils.formatdate(server_now, usegmt=True)
            return httpx.Response(
                200, headers={"Content-Type": JSON, "Date": date}, content=_body(body)
            )
        return httpx.Response(200, headers={"Content-Type": JSON}, content=_body(GOOD))

    client = _client(handler, clock=lambda: server_now - 3600.0)
    assert client.recognize(b"x").plate == "京AF0236"
    assert stamps[0] == server_now - 3600 and abs(stamps[1] - server_now) <= 1
    assert client.clock_offset == pytest.approx(3600.0, abs=1)
    client.recognize(b"x")  # the offset is kept: one call, no new expiry
    assert len(stamps) == 3


def test_client_without_date_header_reports_expiry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "Response": {
                "Error": {"Code": "AuthFailure.SignatureExpire", "Message": "x"},
                "RequestId": "r",
            }
        }
        return httpx.Response(200, headers={"Content-Type": JSON}, content=_body(body))

    with _client(handler) as client, pytest.raises(OcrError) as info:
        client.recognize(b"x")
    assert info.value.action is Action.RESYNC_CLOCK


def test_client_rejects_bad_endpoint() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        TencentOcrClient("ftp://x", "a", "b", None, 1.0)
