"""What the operator page reads and acts on, wired by daemon.app: the store, the cameras,
the running stages (health), the gate opener and the misread corrector."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from daemon.config.web import WebConfig
from daemon.ops.observe import Stages
from daemon.store.db import Store
from daemon.web.auth import Users
from daemon.web.correct import Corrector

Opener = Callable[[str, str, str], tuple[str, "str | None"]]
"""(camera, operator, reason) -> (event id, None when sent or why not): Publisher.open_gate."""


@dataclass
class WebContext:
    """What the page reads and acts on (wired by daemon.app)."""

    cfg: WebConfig
    store: Store
    cameras: Sequence[str]
    snapshots: Path | None
    users: Users
    stages: Callable[[], Stages] | None = None
    opener: Opener | None = None
    gate_cameras: Sequence[str] = ()
    corrector: Corrector | None = None
    list_cameras: Sequence[str] = ()
    """Every configured camera (disabled ones too), for list entries' scopes (empty: cameras)."""
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    tz: tzinfo = field(default_factory=lambda: datetime.now().astimezone().tzinfo or UTC)
