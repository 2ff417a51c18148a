"""Encode a few synthetic pictures into H.264 with PyAV, for capture and frame tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import av
import numpy as np


def encode_h264(
    container: Any,
    picture: Callable[[int], np.ndarray[Any, np.dtype[np.uint8]]],
    n: int,
    *,
    size: tuple[int, int],
    fps: int = 25,
    gop: int = 25,
    pix_fmt: str = "yuv420p",
) -> None:
    """Mux ``n`` BGR pictures ``picture(0..n-1)`` of ``size`` (w, h) into an open container."""
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
    stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(gop)}
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(picture(i), format="bgr24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
