"""Endpoints are configuration: the config refuses unknown Tencent hosts, the signed Host follows
the configured (or failover) endpoint, and the example config's endpoint list is valid."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from daemon.config.endpoints import REGIONS, TENCENT_HOSTS, check_endpoint
from daemon.config.models import OcrConfig, load_config, parse_config
from daemon.errors import ConfigError
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.endpoints import host_of
from daemon.ocr.errors import OcrError
from daemon.ocr.tencent import TencentOcrClient
from tests.support.ocr import SECRET_ID, SECRET_KEY, STUB_PLATE, tiny_jpeg

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "gatecam.example.yaml"


@pytest.mark.parametrize(
    "url",
    [
        "https://ocr.tencentcloudapi.com", "https://ocr.tencentcloudapi.com/",
        "https://ocr.ap-shanghai.tencentcloudapi.com", "https://ocr.intl.tencentcloudapi.com",
        "http://127.0.0.1:8080", "https://ocr-proxy.lan:8443", "http://[::1]:9000",
    ],
)
def test_valid_endpoints(url: str) -> None:
    assert check_endpoint(url) == url
    assert OcrConfig(endpoint=url).endpoint == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://ocr.ap-shangai.tencentcloudapi.com", "not a Tencent OCR host"),
        ("https://cvm.tencentcloudapi.com", "not a Tencent OCR host"),
        ("https://tencentcloudapi.com", "not a Tencent OCR host"),
        ("http://ocr.tencentcloudapi.com", "need https"),
        ("https://ocr.tencentcloudapi.com/v3", "no path"),
        ("ocr.tencentcloudapi.com", "http(s)://"),
    ],
)
def test_invalid_endpoints(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(")", r"\)")):
        check_endpoint(url)


def test_config_errors_name_the_key_and_line() -> None:
    text = (
        "site: lot-a\n"
        "cameras: [{id: entry-1, url: rtsp://cam/1}]\n"
        "ocr:\n"
        "  endpoint: https://ocr.ap-shanghai.tencentcloudapi.com\n"
        "  failover_endpoint: https://ocr.ap-bejing.tencentcloudapi.com\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    line = info.value.lines[0]
    assert ":5: ocr -> failover_endpoint:" in line and "ocr.ap-bejing" in line
    same = text.replace("ap-bejing", "ap-shanghai")
    with pytest.raises(ConfigError, match="must differ"):
        parse_config(same)
    ok = parse_config(text.replace("ap-bejing", "ap-beijing"))
    assert ok.ocr.failover_endpoint == "https://ocr.ap-beijing.tencentcloudapi.com"
    assert (ok.ocr.failover_after, ok.ocr.failover_cooldown_s) == (5, 60.0)


def test_example_config_lists_every_known_host_and_validates() -> None:
    """The example documents the endpoint list; each listed host passes the validator."""
    text = EXAMPLE.read_text(encoding="utf-8")
    load_config(EXAMPLE)
    for region in REGIONS:
        assert f"ocr.{region}.tencentcloudapi.com" in text or region in text, region
    assert "ocr.intl.tencentcloudapi.com" in text
    assert "failover_endpoint" in text


@pytest.mark.parametrize("host", sorted(TENCENT_HOSTS))
def test_signed_host_follows_the_endpoint(host: str) -> None:
    """Whatever host is configured, the client sends and signs exactly that Host; an emulator
    verifying the signature over the Host it received accepts the call."""
    emu = EmulatorServer(credentials={SECRET_ID: SECRET_KEY}, reader=lambda _i: [STUB_PLATE])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer = emu.respond("POST", request.url.path, headers, request.content)
        assert answer.payload is not None
        return httpx.Response(answer.status, headers={"Content-Type": answer.content_type},
                              content=answer.payload)

    cfg = OcrConfig(endpoint=f"https://{host}")
    client = TencentOcrClient(cfg.endpoint, SECRET_ID, SECRET_KEY, cfg.region, 1.0,
                              transport=httpx.MockTransport(handler))
    with client:
        assert client.recognize(tiny_jpeg()).plate == STUB_PLATE.number
    req = seen[0]
    assert req.url.host == host and req.headers["host"] == host == host_of(cfg.endpoint)
    assert "SignedHeaders=content-type;host," in req.headers["authorization"]
    assert [c.code for c in emu.calls] == ["OK"]


def test_failover_host_is_signed_for_the_failover() -> None:
    """A regional failover: after the primary's transient failure (failover_after=1) the request
    goes to, and is signed for, the failover's host."""
    emu = EmulatorServer(credentials={SECRET_ID: SECRET_KEY}, reader=lambda _i: [STUB_PLATE])
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.headers["host"])
        if request.url.host == "ocr.ap-shanghai.tencentcloudapi.com":
            raise httpx.ConnectError("unreachable region", request=request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer = emu.respond("POST", "/", headers, request.content)
        assert answer.payload is not None
        return httpx.Response(200, headers={"Content-Type": "application/json"},
                              content=answer.payload)

    client = TencentOcrClient(
        "https://ocr.ap-shanghai.tencentcloudapi.com", SECRET_ID, SECRET_KEY, "ap-shanghai", 1.0,
        failover_endpoint="https://ocr.ap-beijing.tencentcloudapi.com", failover_after=1,
        transport=httpx.MockTransport(handler),
    )
    with client:
        with pytest.raises(OcrError):
            client.recognize(tiny_jpeg())
        client.recognize(tiny_jpeg())
    assert hosts == ["ocr.ap-shanghai.tencentcloudapi.com", "ocr.ap-beijing.tencentcloudapi.com"]
    assert [c.code for c in emu.calls] == ["OK"]
