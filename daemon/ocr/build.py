"""Building the OCR stage from the config: the cloud client, its circuit and pool, and the
local reader with its reading threads.

app.py wires the callbacks (status, calls); what each part is made of lives here, beside
the parts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.config.models import OcrConfig
from daemon.config.secrets import reload_keys
from daemon.ocr.circuit import OcrCircuit
from daemon.ocr.fleet import make_budget
from daemon.ocr.local import LocalPlateReader
from daemon.ocr.localpool import LocalReadPool
from daemon.ocr.pool import OcrPool
from daemon.ocr.skew import ClockSkew
from daemon.ocr.tencent import TencentOcrClient

log = logging.getLogger(__name__)

StatusListener = Callable[[dict[str, Any]], None]
CallObserver = Callable[[str, str, float], None]


@dataclass(frozen=True, slots=True)
class CloudOcr:
    """The running cloud side: the signed client, its circuit and the rate-limited pool."""

    client: TencentOcrClient
    circuit: OcrCircuit
    pool: OcrPool


def start_local(cfg: OcrConfig) -> LocalReadPool:
    """The local plate reader (models loaded eagerly: ReaderError if they do not load) and
    its shared reading threads, started."""
    loc = cfg.local
    pool = LocalReadPool(LocalPlateReader(loc.localiser, models=loc.model_dir), loc.workers)
    pool.start()
    log.info("local plate reader loaded (%s, mode %s)", loc.localiser, cfg.mode)
    return pool


def start_cloud(
    cfg: OcrConfig, keys: tuple[str, str], skew: ClockSkew, on_status: StatusListener,
    on_call: CallObserver,
) -> CloudOcr:
    """Client, circuit and pool, started; ``on_status`` hears every circuit or clock change
    (and the first state at once), ``on_call`` every request sent."""
    client = TencentOcrClient(
        cfg.endpoint, keys[0], keys[1], cfg.region, cfg.timeout_s, reload_keys=reload_keys,
        failover_endpoint=cfg.failover_endpoint, failover_after=cfg.failover_after,
        failover_cooldown_s=cfg.failover_cooldown_s, skew=skew,
    )
    circuit = OcrCircuit(cfg.circuit_cooldown_s, cfg.circuit_cooldown_max_s)
    circuit.add_listener(on_status)
    skew.add_listener(lambda _s: on_status(circuit.status()))
    pool = OcrPool(
        client, make_budget(cfg.rate_limit, cfg.rate_limit_url), cfg.workers, cfg.jpeg_quality,
        cfg.max_width, circuit=circuit, on_call=on_call,
    )
    on_status(circuit.status())
    pool.start()
    return CloudOcr(client, circuit, pool)
