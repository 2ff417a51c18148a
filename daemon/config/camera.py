"""The per-camera part of the configuration: the camera, its lane (motion) and passages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from daemon.config.base import ID_PATTERN, Fraction, Model
from daemon.config.secrets import redact_url, url_password

MIN_ROI_AREA = 0.001
"""Smallest lane polygon, as a share of the frame: below it no vehicle can trigger motion."""


class MotionConfig(Model):
    """Motion detector tuning; defaults suit a lane filling a good part of the view."""

    width: int = Field(160, ge=32, le=640, description="width of the grey working image, px")
    threshold: int = Field(
        25, ge=1, le=255,
        description="per-pixel difference counted as change in a lit lane (lower in a dark "
                    "one, fitted to its light: daemon/lane/bounds.py)")
    start_fraction: float = Field(0.02, gt=0, le=1, description="ROI share that starts motion")
    stop_fraction: float = Field(0.008, gt=0, le=1, description="ROI share below which it stops")
    background_alpha: float = Field(0.05, gt=0, le=1, description="running-average learning rate")
    global_change_fraction: float = Field(
        0.6, gt=0, le=1, description="ROI share changing at once that is a light jump or shake"
    )
    min_vehicle_width: float = Field(
        0.2, ge=0, le=1,
        description="a moving blob narrower than this share of the lane is no vehicle",
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> MotionConfig:
        if self.stop_fraction > self.start_fraction:
            raise ValueError("stop_fraction must not exceed start_fraction")
        return self


class CameraConfig(Model):
    """One camera watching one lane."""

    id: str = Field(pattern=ID_PATTERN, description="camera id, used in topics and the database")
    url: str = Field(min_length=1, description="rtsp:// URL or a path to a video file")
    detect_url: str | None = Field(
        None, min_length=1,
        description="optional low-resolution substream of the same camera (640x360, 704x576) "
                    "for motion; url (the main stream) is then decoded only to read plates",
    )
    direction: Literal["entry", "exit"] = "entry"
    roi: list[tuple[Fraction, Fraction]] = Field(
        default_factory=lambda: [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)],
        description="lane polygon as fractions of the frame (x, y)",
    )
    enabled: bool = True
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = Field(10.0, gt=0, le=120)
    read_timeout_s: float = Field(5.0, gt=0, le=120)
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(1.0, gt=0, le=600)
    loop: bool = Field(False, description="replay a file source forever (demos, soak tests)")
    decode_threads: int = Field(
        1, ge=0, le=16,
        description="H.264 decoder threads of this camera: 1 holds the fewest decoded "
        "pictures; 2 shortens the catch-up after an idle lane wakes at ~7 MB more per 1080p "
        "camera; 0 = FFmpeg's choice (one per core: more memory)",
    )
    idle_decode: Literal["off", "keyframes"] = Field(
        "keyframes",
        description="while the lane is empty decode key frames only; full rate on motion",
    )
    idle_after_s: float = Field(
        2.0, ge=0, le=600, description="lane quiet this long (stream time) before idling"
    )
    idle_max_gop_s: float = Field(
        1.0, gt=0, le=10,
        description="idle only if the camera's key-frame interval (GOP) is at most this, s "
        "(2 s GOPs lose vehicles in view for less than 2 s: scripts/bench_idle.py)",
    )
    motion: MotionConfig = MotionConfig()
    password_credential: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="the URL's password from $CREDENTIALS_DIRECTORY/camera_<name> "
                    "(/etc/gatecam/credentials/cameras/<name>), put into the URL at start",
    )

    detect_idle_fps: float = Field(
        2.0, gt=0, le=100,
        description="with a detect_url: frames a second the lane examines while it is empty "
                    "and the picture does not change (a changed frame goes at once, every "
                    "frame while busy); the main stream is not decoded meanwhile",
    )

    @model_validator(mode="after")
    def _detect_stream(self) -> CameraConfig:
        if self.detect_url is None:
            return self
        if self.detect_url == self.url:
            raise ValueError("detect_url is the main url: name the camera's substream or omit it")
        if self.is_file != ("://" not in self.detect_url or self.detect_url.startswith("file://")):
            raise ValueError("url and detect_url must both be network streams or both files")
        if url_password(self.detect_url) and self.password_credential:
            raise ValueError("detect_url has a password and password_credential is set: keep one")
        return self

    @model_validator(mode="after")
    def _one_password(self) -> CameraConfig:
        if self.password_credential and url_password(self.url):
            raise ValueError("the URL has a password and password_credential is set: keep one")
        if self.password_credential and self.is_file:
            raise ValueError("password_credential needs a network URL (rtsp://user@host/...)")
        return self

    min_plate_width_px: int = Field(
        0, ge=0, le=8192,
        description="a read whose plate is narrower (full-frame px) is ignored: a plate far "
                    "beyond the lane; 0 = no lower limit (gatecam preview draws it)",
    )
    max_plate_width_px: int = Field(
        0, ge=0, le=8192,
        description="a read whose plate is wider is ignored (a poster, a sign); 0 = no limit",
    )

    @model_validator(mode="after")
    def _plate_window(self) -> CameraConfig:
        if 0 < self.max_plate_width_px < self.min_plate_width_px:
            raise ValueError(f"max_plate_width_px {self.max_plate_width_px} is below "
                             f"min_plate_width_px {self.min_plate_width_px}")
        return self

    def plate_fits(self, width_px: int) -> bool:
        """True when a plate ``width_px`` wide lies in this camera's plate-size window."""
        top = self.max_plate_width_px
        return width_px >= self.min_plate_width_px and (top == 0 or width_px <= top)

    @field_validator("roi")
    @classmethod
    def _polygon(cls, roi: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(roi) < 3:
            raise ValueError("a lane polygon needs at least 3 points")
        # shoelace area: a flat polygon (points on a line) masks nothing, so no motion ever
        area = abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(roi, roi[1:] + roi[:1],
                                                                        strict=True))) / 2
        if area < MIN_ROI_AREA:
            raise ValueError(f"the lane polygon covers {area:.4%} of the frame; it needs at "
                             f"least {MIN_ROI_AREA:.1%}")
        return roi

    @property
    def is_file(self) -> bool:
        """True when the source is a local file rather than a network stream."""
        return "://" not in self.url or self.url.startswith("file://")

    @property
    def safe_url(self) -> str:
        """The URL with any password replaced, fit for logs."""
        return redact_url(self.url)

    def stream(self, which: Literal["main", "detect"]) -> CameraConfig:
        """This camera reading one of its streams alone: ``main`` (``url``) or ``detect``
        (``detect_url`` as its url, one decoder thread and no idle decoding: a substream is
        cheap to decode in full, and a frame-threaded decoder would add a frame of delay)."""
        if which == "main" or self.detect_url is None:
            return self.model_copy(update={"detect_url": None})
        return self.model_copy(update={"url": self.detect_url, "detect_url": None,
                                       "decode_threads": 1, "idle_decode": "off"})


class PassageConfig(Model):
    """When a passage starts, ends, how many calls it may spend and how duplicates merge."""

    max_calls: int = Field(3, ge=1, le=20, description="OCR calls at most per passage")
    min_confidence: int = Field(80, ge=0, le=100, description="a read at or above is trusted")
    clear_after_s: float = Field(1.5, gt=0, le=60, description="lane quiet this long ends it")
    settle_s: float = Field(0.6, ge=0, le=10, description="send at the latest this long in")
    dedup_window_s: float = Field(30.0, ge=0, le=3600, description="same plate again merges")
    max_open_s: float = Field(
        600.0, gt=0, le=86400, description="force-close a passage open this long"
    )
    candidate_max_age_s: float = Field(2.0, gt=0, le=30, description="older frames are not sent")
    in_view_bottom: float = Field(
        0.3, gt=0, le=1,
        description="first call once the vehicle's box bottom passed this share of the ROI height",
    )
    standing_probe_s: float = Field(
        0.0, ge=0, le=30,
        description="at start (and after a sudden wide change), the local reader looks this "
        "long for a car already waiting at the barrier (no motion to open its passage); "
        "0 = never (default: a parked car's plate inside the ROI would be read as one)",
    )
