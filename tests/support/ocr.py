"""OCR test data: the emulator's test credentials, a stub plate, rendered plate images."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from daemon.domain import Rect
from daemon.ocr.emulator.server import PlateFound

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"

SECRET_ID = "AKIDgatecamTEST"

SECRET_KEY = "gatecam-test-key"

STUB_PLATE = PlateFound("沪B12345", 97, Rect(10, 20, 120, 40), "蓝")


def render_plate(
    text: str = "京A·F0236",
    size: tuple[int, int] = (1280, 720),
    box: tuple[int, int, int, int] = (500, 400, 830, 490),
    fill: tuple[int, int, int] = (20, 60, 180),
    font_px: int = 64,
) -> bytes:
    """A grey scene with one plate (RGB ``fill`` background, white ``font_px`` text) as JPEG
    bytes."""
    img = Image.new("RGB", size, (90, 90, 90))
    draw = ImageDraw.Draw(img)
    draw.rectangle(box, fill=fill)
    font = ImageFont.truetype(FONT, font_px)
    draw.text((box[0] + 12, box[1] + font_px // 6), text, font=font, fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=92)
    return out.getvalue()


def tiny_jpeg() -> bytes:
    """A small valid JPEG (content irrelevant to stub readers)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 32), (0, 0, 255)).save(out, format="JPEG")
    return out.getvalue()
