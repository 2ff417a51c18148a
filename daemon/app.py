"""The only place that builds threads, queues and clients, and wires the stages together.

``start()`` goes in pipeline order from the sink backwards, ``stop()`` in reverse; who owns
what is drawn in docs/ARCHITECTURE.md. Each stage's own parts are built beside it
(ocr/build.py, mqtt/announce.py, ops/watch.py, web/wiring.py); the callbacks between stages
(submit, deliver, emit, record_read, committed, status) live here."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from daemon import __version__, contract
from daemon.access import AccessControl
from daemon.capture.dual import CameraStatus, Capture, LatestFrameSlot, make_capture
from daemon.config.models import CameraConfig, Config, with_camera_passwords
from daemon.config.secrets import Secrets
from daemon.domain import Candidate, Frame, Passage, PlateRead
from daemon.errors import CredentialsError
from daemon.lane.plategate import GateSettings
from daemon.lane.worker import LaneWorker
from daemon.mqtt.announce import announce
from daemon.mqtt.daily import DailyCalls
from daemon.mqtt.gate import signing_key
from daemon.mqtt.publisher import Publisher
from daemon.mqtt.snapshot import SnapshotPublisher
from daemon.ocr.build import start_cloud, start_local
from daemon.ocr.circuit import OcrCircuit
from daemon.ocr.localpool import LocalReadPool
from daemon.ocr.pool import OcrPool
from daemon.ocr.skew import ClockSkew
from daemon.ocr.tencent import TencentOcrClient
from daemon.ops import observe, tuning
from daemon.ops.health import HealthMonitor
from daemon.ops.logsetup import passage_line
from daemon.ops.metrics import MetricsServer, PipelineMetrics
from daemon.ops.observe import CameraStages, Stages
from daemon.ops.watch import start_watch
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from daemon.store.retention import Retention
from daemon.webhook.sender import WebhookSender, WebhookTarget, resolve_targets

log = logging.getLogger(__name__)

PassageListener = Callable[[Passage], None]

STOP_BUDGET_S = 20.0
"""Longest ``App.stop()`` waits in all; the unit's ``TimeoutStopSec=30`` keeps 10 s spare."""


@dataclass
class _Camera:
    cfg: CameraConfig
    slot: LatestFrameSlot
    capture: Capture
    lane: LaneWorker


@dataclass
class App:
    """A running gatecam: build with the config, ``start()``, later ``stop()``. ``replay``:
    every camera URL is a clip played once; ``fast``: decode as fast as possible, no frame
    dropped, each OCR read awaited (see LaneWorker)."""

    cfg: Config
    secrets: Secrets
    replay: bool = False
    fast: bool = False
    on_passage: PassageListener | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    passages: int = 0
    _cameras: list[_Camera] = field(default_factory=list)
    _store: Store | None = None
    _recorder: Recorder | None = None
    _publisher: Publisher | None = None
    _pool: OcrPool | None = None
    _local: LocalReadPool | None = None
    _client: TencentOcrClient | None = None
    _retention: Retention | None = None
    _snapshots: SnapshotPublisher | None = None
    _daily_calls: DailyCalls | None = None
    _hooks: list[WebhookTarget] = field(default_factory=list)
    _senders: list[WebhookSender] = field(default_factory=list)
    metrics: PipelineMetrics = field(default_factory=PipelineMetrics)
    clock_skew: ClockSkew = field(default_factory=ClockSkew)
    """System clock vs the OCR service's Date (gate commands withheld while known off)."""
    _circuit: OcrCircuit | None = None
    _gate_key: bytes | None = None
    topics: contract.Topics = field(init=False)
    """The MQTT identity ``<prefix>/<site>``, one object for every stage that publishes."""
    health: HealthMonitor | None = None
    metrics_server: MetricsServer | None = None
    web_server: Any = None
    """The operator page's :class:`daemon.web.server.WebServer` when ``web.enabled``."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.topics = contract.Topics(self.cfg.mqtt.topic_prefix, self.cfg.site)

    # -- start, in pipeline order from the sink backwards so nothing produces into a void --
    def start(self) -> None:
        """Open the store, the publisher, the OCR pool, then each camera's lane and capture."""
        if self.cfg.ocr.mode != "local":
            self._credentials()  # before anything starts: a missing key is a config error (78)
        web_users = self._web_users()  # likewise a page nobody can log into
        self._gate_key = signing_key(self.cfg.mqtt, self.secrets.gate_key)
        self._hooks = resolve_targets(self.cfg.webhooks)  # a missing secret file: exit 78
        self.cfg = with_camera_passwords(self.cfg)  # camera password_credential files -> URLs
        tuning.apply()  # big per-call buffers go back to the system; OpenCV single-threaded
        self._local = start_local(self.cfg.ocr)  # models load now: a missing one is a 78
        self._store = Store(self.cfg.store.url)  # opened, recovered if corrupt, migrated
        self._start_recorder()
        self._start_publisher()
        self._start_webhooks()
        self._start_retention()
        self._start_ocr()
        self._start_cameras()
        self._start_health()
        self._start_web(web_users)
        log.info("gatecam %s started: site %s, %d camera(s)", __version__, self.cfg.site,
                 len(self._cameras))

    def stages(self) -> Stages:
        """A read-only view of the running stages, for health, metrics and tests."""
        return Stages(
            cameras=tuple(CameraStages(c.cfg, c.slot, c.capture, c.lane) for c in self._cameras),
            store=self._store, recorder=self._recorder, publisher=self._publisher,
            pool=self._pool, passages=self.passages, stopping=self.stop_event.is_set(),
            clock=self.clock_skew.status(), retention=self._retention, site=self.cfg.site,
            local=self._local, webhooks=tuple(self._senders),
        )

    def _credentials(self) -> tuple[str, str]:
        """(SecretId, SecretKey); CredentialsError when either is missing."""
        if not (self.secrets.secret_id and self.secrets.secret_key):
            raise CredentialsError(
                "no Tencent credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY "
                "or put files of those names in $CREDENTIALS_DIRECTORY"
            )
        return self.secrets.secret_id, self.secrets.secret_key

    def _start_recorder(self) -> None:
        """The single writer: passage + outbox rows in one transaction, access decided first."""
        if self._store is None:
            raise RuntimeError("open the store before the recorder")
        mq = self.cfg.mqtt
        self._recorder = Recorder(
            self._store, self.cfg.store.snapshots, self.topics, self._committed,
            decide=AccessControl(self._store, self.cfg.access).apply,
            gate_ttl_s=mq.gate_command_ttl_s if mq.enabled and mq.gate_command else None,
            fallback=self._fallback, on_storage_status=self._storage_status,
            snapshot_base_url=self.cfg.store.snapshot_base_url,
            webhook_targets=[t.outbox_target for t in self._hooks],
        )
        self._recorder.start()

    def _start_publisher(self) -> None:
        """MQTT delivery from the outbox (and Home Assistant discovery), when enabled."""
        mq = self.cfg.mqtt
        if not mq.enabled or self._store is None or self._recorder is None:
            return
        self._publisher = Publisher(
            mq, self.topics, self._store, self._recorder, self.secrets.mqtt_password,
            gate_key=self._gate_key, gate_guard=self.clock_skew.gate_refusal,
        )
        self._snapshots, self._daily_calls = announce(self._publisher, self.cfg, self.topics,
                                                      self._store)
        self._storage_status(self._recorder.status())  # HA's storage sensor needs a first state
        self._publisher.start()
        if self._store.recovery is not None:  # a corrupt database was moved aside: say so
            self._storage_status(self._recorder.status())

    def _start_webhooks(self) -> None:
        """One sender thread per webhook target, each draining its own outbox rows."""
        if self._store is None or self._recorder is None:
            raise RuntimeError("open the store and start the recorder before webhooks")
        self._senders = [WebhookSender(t, self._store, self._recorder, self.stop_event,
                                       snapshots_dir=self.cfg.store.snapshots,
                                       late_after_s=self.cfg.mqtt.late_after_s).started()
                         for t in self._hooks]

    def _start_retention(self) -> None:
        if self._store is None or self._recorder is None:
            raise RuntimeError("open the store and start the recorder before retention")
        self._retention = Retention(
            self.cfg.store.retention, self._store, self._recorder, self.cfg.store.snapshots,
            self.stop_event,
        )
        self._retention.start()

    def _start_ocr(self) -> None:
        """The signed client, its circuit and the shared, rate-limited worker pool."""
        if self.cfg.ocr.mode == "local":
            return  # no cloud at all: no client, no keys
        cloud = start_cloud(self.cfg.ocr, self._credentials(), self.clock_skew,
                            self._ocr_status, self._on_call)
        self._client, self._circuit, self._pool = cloud.client, cloud.circuit, cloud.pool

    def _start_cameras(self) -> None:
        for cam_cfg in self.cfg.cameras:
            if cam_cfg.enabled:
                self._cameras.append(self._start_camera(cam_cfg))

    def _start_health(self) -> None:
        """sd_notify + watchdog (health.py); /metrics and /healthz unless replaying."""
        cams = tuple(c.id for c in self.cfg.cameras if c.enabled)
        self.metrics.attach(lambda: observe.view(self.stages()), cams)
        self.metrics_server, self.health = start_watch(
            self.cfg, self.metrics, self.stages, self.stop_event, serve=not self.replay)

    def _web_users(self) -> Any:
        """The operator page's users, read before anything starts (none: ConfigError)."""
        if not self.cfg.web.enabled:
            return None
        from daemon.web.wiring import load_users  # noqa: PLC0415 (lazy: see _start_web)

        return load_users(self.cfg)

    def _start_web(self, users: Any) -> None:
        """The operator page (daemon/web), only when ``web.enabled``: imported lazily so a
        daemon without it never loads werkzeug, Jinja2 or waitress."""
        if users is not None and self._store is not None:
            from daemon.web.wiring import serve_page  # noqa: PLC0415 (lazy on purpose)

            self.web_server = serve_page(self.cfg, self._store, self.stages, self._publisher,
                                         users)

    def _start_camera(self, cam_cfg: CameraConfig) -> _Camera:
        if self._local is None or (self._pool is None and self.cfg.ocr.mode != "local"):
            raise RuntimeError("start the OCR pools before the cameras")
        slot = LatestFrameSlot()
        lane = LaneWorker(
            cam_cfg, self.cfg.passage, self.cfg.site, slot, self._submit, self._emit,
            self.stop_event, sync_reads=self.fast, read_local=self._read_local,
            gate=GateSettings.from_config(self.cfg.ocr),
            allow_floor=(self.cfg.access.min_confidence, self.cfg.access.local_min_confidence),
            record_read=lambda r: self._recorder and self._recorder.submit_read(r, r.passage_id),
        )
        capture = make_capture(  # two threads with a detect stream (capture/dual.py)
            cam_cfg, slot, self.stop_event, self._status, pace=not (self.replay and self.fast))
        lane.start()
        capture.start()
        return _Camera(cam_cfg, slot, capture, lane)

    # -- callbacks from stage threads --
    def _submit(self, candidate: Candidate, reply: Callable[[PlateRead], None]) -> None:
        """Hand a candidate to the OCR pool; the answer is counted for /metrics on its way back."""
        if self._pool is None:
            raise RuntimeError("OCR pool not started")
        self._pool.submit(candidate, self._observed(reply))

    def _read_local(self, candidate: Candidate, reply: Callable[[PlateRead], None]) -> None:
        """Hand a frame to the local reader (newest per camera wins); counted for /metrics."""
        if self._local is None:
            raise RuntimeError("local reader not started")
        self._local.submit(candidate, self._observed(reply))

    def _observed(self, reply: Callable[[PlateRead], None]) -> Callable[[PlateRead], None]:
        def observed(read: PlateRead) -> None:
            self.metrics.observe_read(read)
            reply(read)

        return observed

    def _on_call(self, camera: str, outcome: str, seconds: float) -> None:
        """Every OCR request sent: metrics, and the retained count of calls today."""
        self.metrics.observe_call(camera, outcome, seconds)
        if self._daily_calls is not None and self._publisher is not None:
            topic = self.topics.ocr_calls
            self._publisher.publish_status(topic, self._daily_calls.add(datetime.now(UTC)))

    def _emit(self, passage: Passage, reads: Sequence[PlateRead], snapshot: Frame | None) -> None:
        if self._recorder is None:
            raise RuntimeError("passage emitted before the recorder started")
        if self._snapshots is not None:  # retained before the event: a subscriber finds it
            self._snapshots.offer(passage, snapshot)
        self._recorder.submit_passage(passage, reads, snapshot)

    def _fallback(self, passage: Passage, messages: list[contract.Message]) -> None:
        """The store is failing: the event goes out anyway, to MQTT and each webhook target."""
        if self._publisher is not None:
            self._publisher.publish_direct(messages)
        for sender in self._senders:
            sender.send_direct(passage, messages)

    def _storage_status(self, status: dict[str, Any]) -> None:
        """Storage health, retained on ``<prefix>/<site>/storage/status`` (JSON)."""
        if self._publisher is not None:
            self._publisher.publish_camera_status("storage", contract.encode(status))

    def _committed(self, passage: Passage) -> None:
        log.info("%s", passage_line(passage))
        with self._lock:
            self.passages += 1
        self.metrics.observe_passage(passage)
        if self._publisher is not None:
            self._publisher.wake()
        for sender in self._senders:
            sender.wake()
        if self.on_passage is not None:
            self.on_passage(passage)

    def _status(self, status: CameraStatus) -> None:
        if status.state in ("reconnecting", "offline"):
            log.warning("camera %s %s: %s", status.camera_id, status.state, status.error or "")
        payload = contract.capture_status_payload(status.state, status.fps, status.last_frame_at,
                                                  **status.detail())
        if self._publisher is not None and payload is not None:
            self._publisher.publish_camera_status(status.camera_id, payload)

    def _ocr_status(self, status: dict[str, Any]) -> None:
        """OCR circuit state and clock skew, retained on ``<prefix>/<site>/ocr/status`` (JSON)."""
        if self._publisher is not None:
            status = {**status, "clock": self.clock_skew.status()}
            self._publisher.publish_camera_status("ocr", contract.encode(status))

    # -- running and stopping --
    def wait_replay_done(self, timeout: float | None = None) -> bool:
        """Block until every lane thread has finished its clip (replay mode); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for cam in self._cameras:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            cam.lane.join(left)
            if cam.lane.is_alive():
                return False
        return True

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every passage is committed and (with MQTT) delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        ok = self._recorder.flush(timeout) if self._recorder else True
        if self._publisher is not None:
            ok = self._publisher.wait_idle(max(0.0, deadline - time.monotonic())) and ok
        return ok

    def stop(self, timeout: float = 10.0, *, budget_s: float | None = None) -> None:
        """Stop in reverse pipeline order: cameras, lanes, OCR, then flush store and MQTT; each
        step waits at most ``timeout``, all together about ``budget_s`` (:data:`STOP_BUDGET_S`),
        within systemd's ``TimeoutStopSec=30``; publisher and writer keep 1 s for ``offline``."""
        deadline = time.monotonic() + (STOP_BUDGET_S if budget_s is None else budget_s)

        def left(floor: float = 0.0) -> float:
            return max(floor, min(timeout, deadline - time.monotonic()))

        self.stop_event.set()
        if self.web_server is not None:  # before the store closes under a page
            self.web_server.stop()
        for cam in self._cameras:
            cam.capture.join(left())
            cam.slot.close()
        for cam in self._cameras:
            cam.lane.join(left())
        self._stop_ocr(left())
        if self._retention is not None:
            self._retention.join(left())
        # Commit what is queued, deliver it, say "offline", then stop the writer (the
        # delivery marks go through it).
        if self._recorder is not None:
            self._recorder.flush(left())
        self._stop_delivery(left)
        if self._recorder is not None:
            self._recorder.stop(left(1.0))
        if self._store is not None:
            self._store.close()
        if self.health is not None:
            self.health.join(left(0.5))
        if self.metrics_server is not None:
            self.metrics_server.stop()
        log.info("gatecam stopped at %s", datetime.now(UTC).isoformat(timespec="seconds"))

    def _stop_ocr(self, timeout: float) -> None:
        """Stop the cloud and the local reading pools, then close the cloud client."""
        for pool in (self._pool, self._local):
            if pool is not None:
                pool.stop(timeout)
        if self._client is not None:
            self._client.close()

    def _stop_delivery(self, left: Callable[..., float]) -> None:
        """MQTT delivers what was just committed (bounded) and says offline; webhook senders
        (stop_event is set) end their attempt in flight; both before the writer stops."""
        if self._publisher is not None:
            if self._publisher.connected:
                self._publisher.wait_idle(min(left(), 5.0))
            self._publisher.stop(left(1.0))
        for sender in self._senders:
            sender.close(left(0.5))

    def ocr_stats(self) -> dict[str, Any]:
        """Counters of the OCR pool (calls, errors, stale drops) and its circuit status."""
        out: dict[str, Any] = dict(self._pool.stats()) if self._pool else {}
        if self._local is not None:
            out["local"] = self._local.stats()
        return out
