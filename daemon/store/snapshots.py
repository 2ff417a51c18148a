"""Snapshot files: the chosen frame and the plate crop of each passage, written atomically.

Layout: ``<root>/<camera>/<YYYY-MM-DD>/<event_id>.jpg`` (the frame, the path stored
with the passage) and ``<event_id>.plate.jpg`` beside it (the plate crop, when
the read has a box). The day is the UTC day of ``captured_at``. Retention
(daemon/retention.py) prunes these folders by age and total bytes.
"""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import UTC
from pathlib import Path

import cv2

from daemon.domain import Image, Passage

log = logging.getLogger(__name__)


class SnapshotWriter:
    """Writes snapshots under ``root``; a failure is logged and counted, never raised."""

    def __init__(self, root: Path, jpeg_quality: int = 90) -> None:
        """Nothing is touched until the first write."""
        self.root = root
        self._quality = jpeg_quality
        self.error: str | None = None
        """The last failure, None after a success."""
        self.failures = 0

    def write(self, passage: Passage, image: Image) -> str | None:
        """Write frame and plate crop; the frame's path relative to ``root``, None on failure."""
        day = passage.captured_at.astimezone(UTC).strftime("%Y-%m-%d")
        rel = Path(passage.camera) / day / f"{passage.event_id}.jpg"
        try:
            self._write_jpeg(self.root / rel, image)
            r = passage.rect
            if r is not None and r.width > 0 and r.height > 0:
                crop = image[r.y : r.y + r.height, r.x : r.x + r.width]
                if crop.size:
                    self._write_jpeg(self.root / rel.with_suffix(".plate.jpg"), crop)
        except (OSError, ValueError, cv2.error) as exc:
            self.failures += 1
            self.error = str(exc)
            log.error("snapshot for %s not written (%s); recording without it",
                      passage.event_id, exc)
            return None
        self.error = None
        return rel.as_posix()

    def note_failure(self, event_id: str, exc: BaseException) -> None:
        """Count a snapshot lost before :meth:`write` (the frame could not be converted)."""
        self.failures += 1
        self.error = f"{type(exc).__name__}: {exc}"
        log.error("snapshot for %s not written (%s); recording without it", event_id, self.error)

    def _write_jpeg(self, target: Path, image: Image) -> None:
        """Encode and write atomically (tmp + rename): a crash never leaves half a JPEG."""
        tmp = target.with_name(target.name + ".tmp")
        try:
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
            if not ok:
                raise ValueError("JPEG encoder refused the image")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(buf.tobytes())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
