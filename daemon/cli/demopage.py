"""The end of ``gatecam demo``: the operator page left up on what the demo recorded.

A one-time operator ``demo`` with a fresh random password (printed once, hashed in memory,
never stored) and the page on loopback until Ctrl-C or SIGTERM, so a newcomer sees the
passages of their first command in a browser. No gate button: the demo has no gates.
"""

from __future__ import annotations

import secrets
import sys
import threading
from typing import TextIO

from daemon.config.models import Config
from daemon.store.db import Store
from daemon.web.auth import Users, hash_password
from daemon.web.server import WebServer
from daemon.web.wiring import build_app

DEMO_USER = "demo"


def serve_until_stopped(cfg: Config, port: int, stop: threading.Event,
                        out: TextIO | None = None) -> None:
    """Serve the page on ``127.0.0.1:port`` (0: any free port) until ``stop`` is set."""
    out = out or sys.stderr
    password = secrets.token_urlsafe(9)
    web = cfg.web.model_copy(update={"host": "127.0.0.1", "port": port})
    cfg = cfg.model_copy(update={"web": web})
    store = Store(cfg.store.url)
    try:
        app = build_app(cfg, store, None, None,
                        users=Users([(DEMO_USER, hash_password(password))]))
        server = WebServer(cfg.web, app).start()
        try:
            print(f"gatecam: operator page on {server.url} (user {DEMO_USER}, one-time "
                  f"password {password}); Ctrl-C to stop", file=out, flush=True)
            stop.wait()
        finally:
            server.stop()
    finally:
        store.close()
