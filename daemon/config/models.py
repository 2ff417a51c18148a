"""Configuration: pydantic models for the YAML file, loaded with errors that name the key.

Every model forbids unknown keys so a typo fails loudly. ``load_config`` returns a
validated :class:`Config` or raises :class:`ConfigError`, whose ``lines`` say, one
per problem, the YAML line, the key path, the bad value and why. Secrets (the
Tencent keys, the MQTT password) never come from the YAML file: they come from
``TENCENTCLOUD_SECRET_ID`` / ``TENCENTCLOUD_SECRET_KEY`` / ``GATECAM_MQTT_PASSWORD``
or from files of the same names (any case) in ``$CREDENTIALS_DIRECTORY``
(systemd ``LoadCredential=``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from daemon.config.endpoints import check_endpoint
from daemon.config.errors import describe_errors, yaml_problem
from daemon.config.secrets import redact_url
from daemon.errors import ConfigError

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Camera and site ids end up in MQTT topics: no wildcards, no slashes."""


RESERVED_IDS = frozenset({"ocr", "storage"})
"""``<prefix>/<site>/<id>/status`` carries these subsystems' status: no camera may use the ids."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class MotionConfig(_Model):
    """Motion detector tuning; defaults suit a lane filling a good part of the view."""

    width: int = Field(160, ge=32, le=640, description="width of the grey working image, px")
    threshold: int = Field(25, ge=1, le=255, description="per-pixel difference counted as change")
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


class CameraConfig(_Model):
    """One camera watching one lane."""

    id: str = Field(pattern=_ID, description="camera id, used in topics and the database")
    url: str = Field(min_length=1, description="rtsp:// URL or a path to a video file")
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
        2, ge=0, le=16,
        description="H.264 decoder threads; 0 = FFmpeg's choice (one per core: more memory)",
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

    @field_validator("roi")
    @classmethod
    def _polygon(cls, roi: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(roi) < 3:
            raise ValueError("a lane polygon needs at least 3 points")
        return roi

    @property
    def is_file(self) -> bool:
        """True when the source is a local file rather than a network stream."""
        return "://" not in self.url or self.url.startswith("file://")

    @property
    def safe_url(self) -> str:
        """The URL with any password replaced, fit for logs."""
        return redact_url(self.url)


class PassageConfig(_Model):
    """When a passage starts, ends, how many calls it may spend and how duplicates merge."""

    max_calls: int = Field(3, ge=1, le=20, description="OCR calls at most per passage")
    min_confidence: int = Field(80, ge=0, le=100, description="a read at or above is trusted")
    clear_after_s: float = Field(1.5, gt=0, le=60, description="lane quiet this long ends it")
    settle_s: float = Field(0.6, ge=0, le=10, description="send at the latest this long in")
    dedup_window_s: float = Field(30.0, ge=0, le=3600, description="same plate again merges")
    max_open_s: float = Field(600.0, gt=0, description="force-close a passage open this long")
    candidate_max_age_s: float = Field(2.0, gt=0, le=30, description="older frames are not sent")
    in_view_bottom: float = Field(
        0.3, gt=0, le=1,
        description="first call once the vehicle's box bottom passed this share of the ROI height",
    )


class OcrConfig(_Model):
    """The cloud OCR provider and the shared request budget."""

    provider: Literal["tencent"] = "tencent"
    endpoint: str = Field("https://ocr.tencentcloudapi.com", pattern=r"^https?://[^/\s]+/?$")
    region: str | None = Field("ap-guangzhou", pattern=r"^[a-z]{2}-[a-z]+(-\d)?$")
    rate_limit: float = Field(10.0, gt=0, le=100, description="requests per second, all cameras")
    workers: int = Field(4, ge=1, le=32, description="concurrent requests in flight")
    timeout_s: float = Field(3.0, gt=0, le=30)
    jpeg_quality: int = Field(90, ge=30, le=100)
    max_width: int = Field(1920, ge=320, le=8192, description="downscale wider crops to this")
    rate_limit_url: str | None = Field(
        None,
        pattern=r"^(memory|redis|rediss|unix)://",
        description="shared budget for daemons on one account: redis://host:6379/0; none = local",
    )
    circuit_cooldown_s: float = Field(
        60.0, ge=1, le=86400, description="first pause after an auth/billing refusal, s"
    )
    circuit_cooldown_max_s: float = Field(
        3600.0, ge=1, le=86400, description="longest pause; each refusal doubles it up to this"
    )
    failover_endpoint: str | None = Field(
        None, description="another host for the same account, used after transient failures"
    )
    failover_after: int = Field(5, ge=1, le=100, description="consecutive transient failures")
    failover_cooldown_s: float = Field(60.0, ge=1, le=3600, description="then the primary again")

    @field_validator("endpoint", "failover_endpoint")
    @classmethod
    def _known_endpoint(cls, value: str | None) -> str | None:
        # Tencent hosts must be a real OCR host over https (daemon/ocr/endpoints.py).
        return None if value is None else check_endpoint(value)

    @model_validator(mode="after")
    def _distinct_failover(self) -> OcrConfig:
        same = (self.failover_endpoint or "").rstrip("/") == self.endpoint.rstrip("/")
        if self.failover_endpoint and same:
            raise ValueError("ocr.failover_endpoint must differ from ocr.endpoint")
        return self


class RetentionConfig(_Model):
    """How much history an SD card keeps: by age and by bytes (daemon/retention.py)."""

    max_age_days: float = Field(90.0, gt=0, le=3650, description="passages and reads kept")
    db_max_bytes: int | None = Field(
        None, ge=1 << 20, description="SQLite used bytes above which the oldest passages go"
    )
    snapshots_max_age_days: float = Field(30.0, gt=0, le=3650, description="snapshot files kept")
    snapshots_max_bytes: int | None = Field(
        2 << 30, ge=1 << 20, description="total snapshot bytes above which the oldest go"
    )
    interval_s: float = Field(600.0, ge=1, le=86400, description="time between retention passes")


class StoreConfig(_Model):
    """Where passages, reads and the outbox live."""

    url: str = Field("sqlite:////var/lib/gatecam/gatecam.db", min_length=1)
    snapshots: Path | None = Field(None, description="folder for passage snapshots; none if unset")
    retention: RetentionConfig = RetentionConfig()


class AccessConfig(_Model):
    """Allow / deny decisions carried in each event (daemon/access.py; lists live in the DB)."""

    allow_confusables: int = Field(
        1, ge=0, le=2, description="confusable swaps (B/8, O/0...) an allow match may need"
    )
    min_confidence: int = Field(80, ge=0, le=100, description="an allow needs this confidence")
    refresh_s: float = Field(5.0, gt=0, le=3600, description="lists re-read from the DB this often")


class MqttTlsConfig(_Model):
    """TLS to the broker; a client certificate is optional."""

    ca_file: Path | None = Field(None, description="CA bundle; None uses the system store")
    cert_file: Path | None = Field(None, description="client certificate (PEM)")
    key_file: Path | None = Field(None, description="client key (PEM), with cert_file")
    insecure: bool = Field(False, description="skip the host-name check (never in production)")

    @model_validator(mode="after")
    def _pair(self) -> MqttTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class MqttConfig(_Model):
    """The broker gate controllers subscribe to."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field("gatecam", pattern=r"^[^#+\s]+$")
    client_id: str | None = None
    username: str | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    max_inflight: int = Field(20, ge=1, le=1000, description="outbox messages awaiting PUBACK")
    late_after_s: float = Field(
        10.0, gt=0, description="an event captured longer ago than this is sent with late: true"
    )
    tls: MqttTlsConfig | None = Field(None, description="TLS settings; plain TCP when unset")
    gate_command: bool = Field(
        False, description="publish <prefix>/<site>/<camera>/gate open commands for allow"
    )
    gate_command_ttl_s: float = Field(
        5.0, gt=0, le=60, description="a gate command expires this long after capture"
    )
    ha_discovery: bool = Field(False, description="publish Home Assistant discovery configs")
    ha_discovery_prefix: str = Field("homeassistant", pattern=r"^[^#+\s]+$")


class LoggingConfig(_Model):
    """Log level and format of the daemon (daemon/logsetup.py)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = Field(
        "text", description="text lines, or one JSON object per line"
    )


class HealthConfig(_Model):
    """Stall detection behind the systemd watchdog, and the local metrics endpoint."""

    frame_stale_s: float = Field(
        15.0, gt=0, le=600, description="a streaming camera without a frame this long is stalled"
    )
    lane_stale_s: float = Field(30.0, gt=0, le=600, description="a lane loop stuck this long")
    recorder_stale_s: float = Field(
        60.0, gt=0, le=3600, description="the database writer stuck this long"
    )
    metrics_enabled: bool = Field(True, description="serve /metrics and /healthz")
    metrics_host: str = Field("127.0.0.1", description="bind address; keep it on loopback")
    metrics_port: int = Field(9108, ge=0, le=65535, description="0 picks a free port")


class Config(_Model):
    """The whole configuration file."""

    site: str = Field(pattern=_ID)
    cameras: list[CameraConfig] = Field(min_length=1)
    ocr: OcrConfig = OcrConfig()
    passage: PassageConfig = PassageConfig()
    store: StoreConfig = StoreConfig()
    mqtt: MqttConfig = MqttConfig()
    access: AccessConfig = AccessConfig()
    logging: LoggingConfig = LoggingConfig()
    health: HealthConfig = HealthConfig()

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        seen: set[str] = set()
        for cam in cameras:
            if cam.id in RESERVED_IDS:
                raise ValueError(f"camera id {cam.id!r} is reserved for a status topic")
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice")
            seen.add(cam.id)
        return cameras

    def camera(self, camera_id: str) -> CameraConfig:
        """The camera with this id; KeyError names the ids that exist."""
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(f"no camera {camera_id!r}; configured: {[c.id for c in self.cameras]}")


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML configuration file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> Config:
    """Validate YAML text; errors carry the line, key path, value and reason."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ConfigError([yaml_problem(exc, source)]) from exc
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys, got {data!r}"])
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, root, source)) from exc
