"""A plate's colour from its pixels: 蓝 / 黄 / 绿 / 白 / 黑 (其它 when it is none of them).

Shared by the local reader and the emulator's reader: the median hue of the saturated
pixels in the plate box, or its brightness when too few are saturated.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def plate_color(image: np.ndarray[Any, Any], x: int, y: int, w: int, h: int) -> str:
    """The colour of the plate in the box (x, y, w, h) of a BGR image."""
    crop = image[max(y, 0) : y + h, max(x, 0) : x + w]
    if crop.size == 0 or crop.ndim != 3:
        return "其它"
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV).reshape(-1, 3)
    saturated = hsv[(hsv[:, 1] > 80) & (hsv[:, 2] > 50)]
    # 0.15, not a majority: new-energy plates are a white-to-green gradient.
    if len(saturated) >= 0.15 * len(hsv):
        hue = float(np.median(saturated[:, 0]))
        if 90 <= hue <= 135:
            return "蓝"
        if 12 <= hue < 35:
            return "黄"
        if 35 <= hue < 90:
            return "绿"
        return "其它"
    return "白" if float(hsv[:, 2].mean()) > 127 else "黑"
