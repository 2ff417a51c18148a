"""Starting what watches the pipeline: the sd_notify/watchdog monitor and /metrics, /healthz.

Both read the running stages through ``App.stages()`` (a read-only view); a taken metrics
port is logged, never fatal (the gate must not go dark for a dashboard).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from daemon.config.models import Config
from daemon.ops import observe
from daemon.ops.health import HealthLimits, HealthMonitor, Notifier
from daemon.ops.metrics import MetricsServer, PipelineMetrics
from daemon.ops.observe import Stages

log = logging.getLogger(__name__)


def start_watch(
    cfg: Config, metrics: PipelineMetrics, stages: Callable[[], Stages],
    stop_event: threading.Event, *, serve: bool,
) -> tuple[MetricsServer | None, HealthMonitor]:
    """The metrics server (when enabled and ``serve``) and the health monitor, started."""
    h = cfg.health
    limits = HealthLimits(h.frame_stale_s, h.lane_stale_s, h.recorder_stale_s)
    ready_s = max((c.open_timeout_s for c in cfg.cameras), default=10.0) + 1.0
    server = None
    if h.metrics_enabled and serve:
        try:
            server = MetricsServer(metrics, lambda: observe.view(stages()), limits,
                                   host=h.metrics_host, port=h.metrics_port).start()
        except OSError as exc:  # a taken port must not keep the gate dark
            log.error("metrics endpoint %s:%s not served: %s", h.metrics_host, h.metrics_port,
                      exc)
    health = HealthMonitor(
        lambda: observe.snapshot(stages(), with_backlog=False), Notifier.from_env(), limits,
        stop_event, ready_timeout_s=ready_s,
    )
    health.start()
    return server, health
