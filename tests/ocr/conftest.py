
"""Shared fixtures for the OCR tests: rendered plate images and a loopback Tencent emulator."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw, ImageFont

from daemon.domain import Rect
from daemon.ocr.emulator.server import EmulatorServer, PlateFound

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
SECRET_ID = "AKIDgatecamTEST"
SECRET_KEY = "gatecam-test-key"
STUB_PLATE = PlateFound("沪B12345", 97, Rect(10, 20, 120, 40), "蓝")


def render_plate(
    text: str = "京A·F0236",
    size: tuple[int, int] = (1280, 720),
    box: tuple[int, int, int, int] = (500, 400, 830, 490),
    fill: tuple[int, int, int] = (20, 60, 180),
) -> bytes:
    """A grey scene with one plate (RGB ``fill`` background, white text) as JPEG bytes."""
    img = Image.new("RGB", size, (90, 90, 90))
    draw = ImageDraw.Draw(img)
    draw.rectangle(box, fill=fill)
    font = ImageFont.truetype(FONT, 64)
    draw.text((box[0] + 12, box[1] + 10), text, font=font, fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=92)
    return out.getvalue()


def tiny_jpeg() -> bytes:
    """A small valid JPEG (content irrelevant to stub readers)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 32), (0, 0, 255)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """An emulator with a stub reader that always finds STUB_PLATE (no OCR cost)."""
    server = EmulatorServer(
        credentials={SECRET_ID: SECRET_KEY}, rate_limit=100.0, reader=lambda _img: [STUB_PLATE]
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def rapid_emulator() -> Iterator[EmulatorServer]:
    """An emulator reading plates with the real RapidOCR engine."""
    server = EmulatorServer(credentials={SECRET_ID: SECRET_KEY}, rate_limit=100.0).start()
    try:
        yield server
    finally:
        server.stop()
