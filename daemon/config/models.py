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

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

import yaml
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from daemon.config import integrations as ix
from daemon.config.base import ID_PATTERN, Model
from daemon.config.camera import CameraConfig, MotionConfig, PassageConfig
from daemon.config.endpoints import check_endpoint
from daemon.config.errors import (
    describe_errors,
    redact_value,
    safe_line,
    url_passwords,
    yaml_problem,
)
from daemon.config.secrets import read_credential, redact_url, remember, remember_url
from daemon.config.web import WebConfig
from daemon.contract import check_prefix
from daemon.errors import ConfigError

RESERVED_IDS = frozenset({"ocr", "storage"})
"""``<prefix>/<site>/<id>/status`` carries these subsystems' status: no camera may use the ids."""


class LocalReaderConfig(Model):
    """The local plate reader (daemon/ocr/local.py) and how its readings decide a passage."""

    localiser: Literal["hsv", "hsv+det"] = Field(
        "hsv", description="colour/edge boxes; hsv+det: also the PP-OCR detector when they "
        "fail (better on real photos, ~45 MB more RSS)"
    )
    model_dir: Path | None = Field(
        None, description="folder with the PP-OCRv4 ONNX files; none = the installed wheel's"
    )
    workers: int = Field(1, ge=1, le=8, description="reader threads shared by all cameras")
    min_plate_width_px: int = Field(
        80, ge=20, le=2000, description="a cloud call needs a local plate box at least this "
        "wide (or, once it stopped growing, the widest the camera shows, from half of it on)"
    )
    agree_frames: int = Field(
        2, ge=1, le=10, description="local_first/local: equal valid readings that make it final"
    )
    final_confidence: int = Field(
        98, ge=0, le=100, description="local_first/local: one valid reading this sure is final"
    )
    char_min_confidence: int = Field(
        85, ge=0, le=100, description="a local reading counts towards a final one only when "
        "every character of it is this sure (a misread character is a weak one)"
    )
    evidence_frames: int = Field(
        2, ge=1, le=20, description="frames with a plate box before a plateless passage counts"
    )


class OcrConfig(Model):
    """The cloud OCR provider, the shared request budget and the local reader."""

    mode: Literal["cloud", "local_first", "local"] = Field(
        "cloud",
        description="cloud: local reader gates, cloud reads; local_first: cloud only when the "
        "local reading is not certain; local: no cloud (no keys needed)",
    )
    local: LocalReaderConfig = LocalReaderConfig()
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


class RetentionConfig(Model):
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
    undelivered_max_age_days: float | None = Field(
        30.0, gt=0, le=3650,
        description="undelivered messages of passages captured longer ago are given up (ALERT)",
    )
    undelivered_max_count: int | None = Field(
        50_000, ge=1,
        description="passages with undelivered messages kept for delivery; older ones given up",
    )


class StoreConfig(Model):
    """Where passages, reads and the outbox live."""

    url: str = Field("sqlite:////var/lib/gatecam/gatecam.db", min_length=1)
    snapshots: Path | None = Field(None, description="folder for passage snapshots; none if unset")
    snapshot_base_url: ix.BaseUrl | None = Field(
        None, description="http(s) URL serving the snapshots folder: events get image_url")
    retention: RetentionConfig = RetentionConfig()

    @model_validator(mode="after")
    def _base_url_needs_snapshots(self) -> StoreConfig:
        if self.snapshot_base_url is not None and self.snapshots is None:
            raise ValueError("snapshot_base_url needs store.snapshots (the folder it serves)")
        return self

    @field_validator("url")
    @classmethod
    def _sqlalchemy_url(cls, url: str) -> str:
        # An unparsable URL or unknown dialect (postgres:// for postgresql://) failed only at
        # start, as a storage error (exit 1, restarted in a loop).
        try:
            make_url(url).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"not a usable SQLAlchemy URL: {redact_url(first)}") from None
        return url


class AccessConfig(Model):
    """Allow / deny decisions carried in each event (daemon/access.py; lists live in the DB)."""

    allow_confusables: int = Field(
        1, ge=0, le=2, description="confusable swaps (B/8, O/0...) an allow match may need"
    )
    min_confidence: int = Field(80, ge=0, le=100, description="an allow needs this confidence")
    local_min_confidence: int = Field(
        95, ge=0, le=100, description="an allow on a local (not cloud) reading needs this"
    )
    refresh_s: float = Field(5.0, gt=0, le=3600, description="lists re-read from the DB this often")


class MqttTlsConfig(Model):
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


class MqttConfig(Model):
    """The broker gate controllers subscribe to."""

    enabled: bool = True
    host: str = Field("127.0.0.1", min_length=1, pattern=r"^\S+$")
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field("gatecam", description="first topic level(s); no '$', no empty level")
    client_id: str | None = None
    username: str | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    max_inflight: int = Field(20, ge=1, le=1000, description="outbox messages awaiting PUBACK")
    late_after_s: float = Field(
        10.0, gt=0, le=86400,
        description="an event captured longer ago than this is sent with late: true",
    )
    tls: MqttTlsConfig | None = Field(None, description="TLS settings; plain TCP when unset")
    gate_command: bool = Field(
        False, description="publish <prefix>/<site>/<camera>/gate open commands for allow"
    )
    gate_command_ttl_s: float = Field(
        5.0, gt=0, le=60, description="a gate command expires this long after capture"
    )
    gate_signing: bool = Field(
        False,
        description="sign gate commands (HMAC-SHA256 \"sig\") with the key in GATECAM_GATE_KEY",
    )
    protocol: Literal["5", "3.1.1"] = Field(
        "5", description="MQTT version; 5 lets the broker expire stale gate commands"
    )
    ha_discovery: bool = Field(False, description="publish Home Assistant discovery configs")
    ha_discovery_prefix: str = Field("homeassistant")
    snapshot: ix.SnapshotPublishConfig = ix.SnapshotPublishConfig()

    @field_validator("topic_prefix", "ha_discovery_prefix")
    @classmethod
    def _usable_prefix(cls, prefix: str) -> str:
        # the topic builders (daemon/contract.py) refuse what this refuses, at start
        return check_prefix(prefix)

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_text(cls, value: object) -> object:
        # YAML reads `protocol: 5` as a number
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value


class LoggingConfig(Model):
    """Log level and format of the daemon (daemon/logsetup.py)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = Field(
        "text", description="text lines, or one JSON object per line"
    )


class HealthConfig(Model):
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


class Config(Model):
    """The whole configuration file."""

    site: str = Field(pattern=ID_PATTERN)
    cameras: list[CameraConfig] = Field(min_length=1)
    ocr: OcrConfig = OcrConfig()
    passage: PassageConfig = PassageConfig()
    store: StoreConfig = StoreConfig()
    mqtt: MqttConfig = MqttConfig()
    access: AccessConfig = AccessConfig()
    logging: LoggingConfig = LoggingConfig()
    health: HealthConfig = HealthConfig()
    webhooks: Annotated[list[ix.WebhookConfig], AfterValidator(ix.unique_names)] = Field(
        default_factory=list, description="HTTP targets of every passage event")
    web: WebConfig = WebConfig()

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


def with_camera_passwords(cfg: Config, environ: Mapping[str, str] | None = None) -> Config:
    """``cfg`` with each ``password_credential`` read and put, percent-encoded, into its URL.

    The file is ``camera_<name>`` in ``$CREDENTIALS_DIRECTORY`` (the unit's
    ``LoadCredential=camera:/etc/gatecam/credentials/cameras``) or ``cameras/<name>`` there
    (the installer's layout, for a run by hand). The password joins the log redaction set.
    ConfigError (exit 78) naming the camera when a file is missing.
    """
    cams = []
    for cam in cfg.cameras:
        name = cam.password_credential
        if name is None:
            cams.append(cam)
            continue
        password = read_credential((f"camera_{name}", f"cameras/{name}"), environ)
        if password is None:
            raise ConfigError(f"cameras -> {cam.id} -> password_credential: no file camera_"
                              f"{name} (or cameras/{name}) in $CREDENTIALS_DIRECTORY")
        remember(password)
        urls = {"url": _with_password(cam.url, password)}
        if cam.detect_url is not None:  # the substream of the same camera: same account
            urls["detect_url"] = _with_password(cam.detect_url, password)
        cams.append(cam.model_copy(update=urls))
    return cfg.model_copy(update={"cameras": cams})


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1) if "@" in rest.split("/", 1)[0] else ("", rest)
    out = f"{scheme}://{user}:{quote(password, safe='')}@{host}"
    remember_url(out)
    return out


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
        raise ConfigError([safe_line(yaml_problem(exc, source))]) from exc
    # Error lines are printed outside the log filter: none may carry a URL's password.
    passwords = url_passwords(data)
    if not isinstance(data, dict):
        got = repr(redact_value(data))
        raise ConfigError([safe_line(f"{source}: the top level must be a mapping of keys, "
                                     f"got {got}", passwords)])
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, root, source, passwords)) from exc
    # URL passwords join the log redaction set (one with spaces has no other way to be found).
    for url in (*(u for c in cfg.cameras for u in (c.url, c.detect_url)), cfg.store.url,
                cfg.ocr.rate_limit_url):
        remember_url(url)
    return cfg


__all__ = [  # the camera models live in daemon.config.camera; imported from here too
    "AccessConfig", "CameraConfig", "Config", "HealthConfig", "LocalReaderConfig",
    "LoggingConfig", "MotionConfig", "MqttConfig", "MqttTlsConfig", "OcrConfig",
    "PassageConfig", "RetentionConfig", "StoreConfig", "load_config", "parse_config",
    "with_camera_passwords",
]
