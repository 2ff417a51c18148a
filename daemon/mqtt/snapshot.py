"""Snapshots for subscribers: the last passage's plate area as a retained JPEG per camera.

``<prefix>/<site>/<camera>/snapshot`` (off by default, ``mqtt.snapshot``) holds the
plate with some of the car around it (one plate width each side, two plate heights above
and below), or the whole frame when no plate was read, scaled to ``max_width``. It is what
Frigate users expect on MQTT and what Home Assistant's ``image`` entity shows. The image
is encoded in the lane thread when the passage is emitted (a few milliseconds for a
crop) and published retained at once, before the event is committed, so a subscriber
that reacts to the event already finds the picture; the publisher re-sends it after a
reconnect. It is not in the outbox: only the last one matters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import cv2

from daemon import contract
from daemon.config.integrations import SnapshotPublishConfig
from daemon.domain import Frame, Image, Passage, Rect

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]


def plate_area(image: Image, rect: Rect | None, max_width: int) -> Image:
    """The plate with its surroundings (or the whole image without a box), at most max_width."""
    h, w = image.shape[:2]
    area = image
    if rect is not None and rect.width > 0 and rect.height > 0:
        x0, x1 = max(0, rect.x - rect.width), min(w, rect.x + 2 * rect.width)
        y0, y1 = max(0, rect.y - 2 * rect.height), min(h, rect.y + 3 * rect.height)
        if x1 > x0 and y1 > y0:
            area = image[y0:y1, x0:x1]
    if area.shape[1] > max_width:
        scale = max_width / area.shape[1]
        size = (max_width, max(1, round(area.shape[0] * scale)))
        area = cast(Image, cv2.resize(area, size, interpolation=cv2.INTER_AREA))
    return area


def encode_jpeg(image: Image, quality: int) -> bytes:
    """JPEG bytes; ValueError if OpenCV cannot encode the image."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf)


class SnapshotPublisher:
    """Encodes and publishes each passage's plate area (retained) when enabled."""

    def __init__(
        self, cfg: SnapshotPublishConfig, publish: Publish, topics: contract.Topics
    ) -> None:
        self._cfg = cfg
        self._publish = publish
        self._topics = topics
        self.published = 0
        self.failures = 0

    def offer(self, passage: Passage, frame: Frame | None) -> bool:
        """Publish the passage's snapshot; False when there is none or it failed (logged)."""
        if frame is None:
            return False
        try:
            area = plate_area(frame.bgr(), passage.rect, self._cfg.max_width)
            jpeg = encode_jpeg(area, self._cfg.jpeg_quality)
            self._publish(self._topics.snapshot(passage.camera), jpeg)
        except Exception as exc:  # a picture must never cost the passage
            self.failures += 1
            log.warning("snapshot of %s not published: %s", passage.event_id, exc)
            return False
        self.published += 1
        return True
