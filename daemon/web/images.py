"""Snapshot files for the page: confined to the snapshot directory, the plate box drawn.

:func:`confine` is the one gate between a stored (or requested) relative path and the
file system: an absolute path, ``..``, a NUL or a symlink leading out of the snapshot
directory all give None (the page answers 404).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from daemon.domain import Rect

BOX_BGR = (0, 200, 255)
"""Amber: visible on a dark night image and on a white plate."""


def confine(root: Path, rel: str | None) -> Path | None:
    """The existing file ``root/rel``, or None when ``rel`` leaves ``root`` or is missing."""
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or "\\" in rel:
        return None
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return None
    try:
        base = root.resolve(strict=True)
        path = (base / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def crop_path(snapshot: Path) -> Path:
    """Where the snapshot writer put the plate crop (``<event>.plate.jpg``)."""
    return snapshot.with_suffix(".plate.jpg")


def boxed_jpeg(path: Path, rect: Rect | None, quality: int = 85) -> bytes:
    """The JPEG at ``path`` with ``rect`` outlined; the file's bytes when there is no box."""
    data = path.read_bytes()
    if rect is None or rect.width <= 0 or rect.height <= 0:
        return data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return data
    thick = max(2, image.shape[1] // 400)
    cv2.rectangle(image, (rect.x, rect.y), (rect.x + rect.width, rect.y + rect.height),
                  BOX_BGR, thick)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return bytes(buf.tobytes()) if ok else data
