"""What the operator page reads and acts on, wired by daemon.app: the store, the cameras,
the running stages (health), the gate opener and the misread corrector."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from daemon.config.web import WebConfig
from daemon.ops.observe import Stages
from daemon.store.db import Store
from daemon.web.auth import Users
from daemon.web.correct import Corrector


def local_zone(localtime: Path = Path("/etc/localtime")) -> tzinfo:
    """The machine's time zone with its rules (daylight saving included), as the page shows
    times: ``TZ`` if it names a zone, else ``/etc/localtime``; the offset of this moment
    only if neither can be read (a page left running across a DST change would then be an
    hour off)."""
    name = os.environ.get("TZ", "").removeprefix(":")
    try:
        if name:
            return ZoneInfo(name)
        with localtime.open("rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return datetime.now().astimezone().tzinfo or UTC


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
    tz: tzinfo = field(default_factory=local_zone)
