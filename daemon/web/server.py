"""The operator page's HTTP server: waitress in one thread, capped and timed out.

waitress (pure Python, no C extension) serves the WSGI app with ``threads`` request
threads, at most ``max_connections`` connections (more wait in the listen backlog, never
spawn a thread each) and closes a connection idle for ``timeout_s``; bodies are capped at
16 KiB by the app. It binds loopback unless ``web.host`` says otherwise (a warning then: the
page has no TLS). Its RSS on top of the daemon is measured in the README.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from waitress.server import create_server

from daemon.config.web import WebConfig
from daemon.ops.serving import is_loopback
from daemon.web.routes import WebApp

log = logging.getLogger(__name__)


def bind_warning(host: str) -> str | None:
    """Why binding the page to ``host`` is worth a warning, or None for loopback."""
    if is_loopback(host):
        return None
    return (f"operator page bound to {host}, not loopback: passwords and sessions cross the "
            "network without TLS; put an HTTPS proxy in front (web.secure_cookie: true)")


class WebServer:
    """``start()`` binds and serves in a daemon thread; ``stop()`` closes it."""

    def __init__(self, cfg: WebConfig, app: WebApp) -> None:
        self.app = app
        self._server: Any = create_server(
            app, host=cfg.host, port=cfg.port, threads=cfg.threads,
            # waitress counts its own listening socket and wake-up pipe in the limit
            connection_limit=cfg.max_connections + 2, channel_timeout=cfg.timeout_s,
            cleanup_interval=max(1, int(cfg.timeout_s // 2)), ident="gatecam",
            max_request_header_size=16 * 1024, max_request_body_size=64 * 1024,
            clear_untrusted_proxy_headers=True, expose_tracebacks=False,
        )
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        warning = bind_warning(cfg.host)
        if warning:
            log.warning(warning)

    @property
    def port(self) -> int:
        """The bound port (useful with ``web.port: 0``)."""
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        """``http://host:port/``."""
        return f"http://{self._server.effective_host}:{self.port}/"

    def start(self) -> WebServer:
        """Serve in the background."""
        self._thread.start()
        log.info("operator page on %s", self.url)
        return self

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # closed by stop()
            self._server.run()

    def stop(self, timeout: float = 2.0) -> None:
        """Close the listening socket and the connections; wait for the thread."""
        self._server.close()
        self._thread.join(timeout)
