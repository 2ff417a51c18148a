
"""TC3 signing: the documented vectors and byte-for-byte agreement with the official SDK."""

from __future__ import annotations

import json
import re
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from tencentcloud.common import abstract_client, credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ocr.v20181119 import ocr_client

from daemon.ocr.tencent import build_request, sign_tc3

VECTOR = {
    "secret_id": "AKIDEXAMPLE",
    "secret_key": "SECRETEXAMPLE",
    "host": "ocr.tencentcloudapi.com",
    "timestamp": 1700000000,
}
PREFIX = "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2023-11-14/ocr/tc3_request, SignedHeaders="


def test_vector_sdk_body_with_space() -> None:
    auth = sign_tc3(body=b'{"ImageBase64": "aGVsbG8="}', **VECTOR)  # type: ignore[arg-type]
    assert auth == PREFIX + "content-type;host, Signature=" + (
        "625188769645a5eebcd33c435528802e72042bbabcb32b46d3f2dd4af79bd774"
    )


def test_vector_compact_body() -> None:
    auth = sign_tc3(body=b'{"ImageBase64":"aGVsbG8="}', **VECTOR)  # type: ignore[arg-type]
    assert auth.endswith(
        "SignedHeaders=content-type;host, Signature="
        "52104b89c72dbd79941f18cca6882ecc92761f1e41acd80b0d7ef069217ad594"
    )


def test_vector_also_signing_action() -> None:
    auth = sign_tc3(
        body=b'{"ImageBase64":"aGVsbG8="}',
        signed_headers={"X-TC-Action": "LicensePlateOCR"},
        **VECTOR,  # type: ignore[arg-type]
    )
    assert auth == PREFIX + "content-type;host;x-tc-action, Signature=" + (
        "46f4596f86443f993e9a1af1fdc7c748c5a8326ac98772128806628666cb8b49"
    )


def test_build_request_hashes_the_exact_compact_body() -> None:
    headers, body = build_request(image=b"hello", region="ap-shanghai", **VECTOR)  # type: ignore[arg-type]
    assert body == b'{"ImageBase64":"aGVsbG8="}'
    assert headers["Authorization"].endswith(
        "52104b89c72dbd79941f18cca6882ecc92761f1e41acd80b0d7ef069217ad594"
    )
    assert headers["Host"] == "ocr.tencentcloudapi.com"
    assert headers["X-TC-Action"] == "LicensePlateOCR"
    assert headers["X-TC-Version"] == "2018-11-19"
    assert headers["X-TC-Timestamp"] == "1700000000"
    assert headers["X-TC-Region"] == "ap-shanghai"
    assert headers["Content-Type"] == "application/json"


_key_text = st.text(
    alphabet=st.characters(
        min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]
    ),
    min_size=1,
    max_size=40,
)
_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_host = st.builds(
    lambda labels, port: ".".join(labels) + (f":{port}" if port else ""),
    st.lists(_label, min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(1, 65535)),
)
_timestamp = st.integers(0, 4_102_444_800)


def _sdk_client(host: str, secret_id: str, secret_key: str) -> ocr_client.OcrClient:
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=host))
    return ocr_client.OcrClient(credential.Credential(secret_id, secret_key), None, profile)


@settings(max_examples=150, deadline=None)
@given(_key_text, _key_text, _host, _timestamp, st.text(max_size=300))
def test_sign_matches_official_sdk(
    secret_id: str, secret_key: str, host: str, timestamp: int, image: str
) -> None:
    """Build a request exactly as the SDK's abstract_client does, then compare headers."""
    client = _sdk_client(host, secret_id, secret_key)
    req = RequestInternal(host, "POST", "/")
    with mock.patch.object(abstract_client.time, "time", return_value=timestamp):
        client._build_req_with_tc3_signature("LicensePlateOCR", {"ImageBase64": image}, req)
    assert req.data == json.dumps({"ImageBase64": image})
    ours = sign_tc3(
        secret_id=secret_id,
        secret_key=secret_key,
        host=host,
        timestamp=timestamp,
        body=req.data.encode("utf-8"),
    )
    assert ours == req.header["Authorization"]


@settings(max_examples=100, deadline=None)
@given(_key_text, _host, _timestamp, st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_sign_matches_sdk_on_arbitrary_bodies(
    secret_key: str, host: str, timestamp: int, body: str
) -> None:
    """The SDK's own canonical-request code on any body text (non-ASCII included)."""
    req = RequestInternal(host, "POST", "/", data=body)
    req.header = {
        "Content-Type": "application/json",
        "Host": host,
        "X-TC-Timestamp": str(timestamp),
    }
    date = abstract_client.datetime.utcfromtimestamp(timestamp).strftime("%Y-%m-%d")
    expected = abstract_client.AbstractClient._get_tc3_signature(
        None, {}, req, date, "ocr", secret_key
    )
    ours = sign_tc3(
        secret_id="AKID",
        secret_key=secret_key,
        host=host,
        timestamp=timestamp,
        body=body.encode("utf-8"),
    )
    match = re.search(r"Signature=([0-9a-f]{64})$", ours)
    assert match is not None and match[1] == expected
