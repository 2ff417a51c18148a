"""Build and start the operator page from the configuration (called by daemon.app).

Operators come from ``web.users`` and from the credential file ``web_users`` (lines
``name:hash`` in ``$CREDENTIALS_DIRECTORY``); with none, or a bad line, the start fails
with a ConfigError (exit 78): a page nobody can log into is a configuration mistake.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from daemon.access import AccessControl
from daemon.config.models import Config
from daemon.config.secrets import read_credential
from daemon.errors import ConfigError
from daemon.mqtt.publisher import Publisher
from daemon.ops.observe import Stages
from daemon.store.db import Store
from daemon.web.auth import Users, parse_users_file
from daemon.web.context import Opener, WebContext
from daemon.web.correct import Corrector
from daemon.web.routes import WebApp
from daemon.web.server import WebServer

USERS_CREDENTIAL = "web_users"

log = logging.getLogger(__name__)


def load_users(cfg: Config, environ: Mapping[str, str] | None = None) -> Users:
    """Operators from the config and the credential file; ConfigError when there are none."""
    pairs = [(u.name, u.password_hash) for u in cfg.web.users]
    text = read_credential((USERS_CREDENTIAL,), environ)
    if text:
        try:
            pairs += parse_users_file(text)
        except ValueError as exc:
            raise ConfigError(f"$CREDENTIALS_DIRECTORY/{exc}") from None
    if not pairs:
        raise ConfigError("web.enabled but no operator: add web.users (gatecam web-password "
                          "makes the hash) or the credential file web_users")
    return Users(pairs)


def build_app(cfg: Config, store: Store, stages: Callable[[], Stages] | None,
              opener: Opener | None, users: Users | None = None) -> WebApp:
    """The WSGI application for ``cfg`` (tests call this without a server)."""
    cams = [c.id for c in cfg.cameras if c.enabled]
    mq = cfg.mqtt
    corrector = Corrector(
        store, AccessControl(store, cfg.access).apply,
        mq.topic_prefix if mq.enabled else None,
        mq.gate_command_ttl_s if mq.enabled and mq.gate_command else None)
    ctx = WebContext(
        cfg=cfg.web, store=store, cameras=cams,
        snapshots=Path(cfg.store.snapshots) if cfg.store.snapshots else None,
        users=users if users is not None else load_users(cfg),
        stages=stages, opener=opener, gate_cameras=cams if opener is not None else (),
        corrector=corrector, list_cameras=[c.id for c in cfg.cameras],
    )
    return WebApp(ctx)


def start_web(cfg: Config, store: Store, stages: Callable[[], Stages] | None,
              opener: Opener | None, users: Users | None = None) -> WebServer:
    """Build the page and serve it in its own thread."""
    return WebServer(cfg.web, build_app(cfg, store, stages, opener, users)).start()


def serve_page(cfg: Config, store: Store, stages: Callable[[], Stages],
               publisher: Publisher | None, users: Users) -> WebServer | None:
    """The page served in its own thread, manual opens through ``publisher`` when gate
    commands are on; None (logged) when its port is taken: the gate must not go dark."""
    opener = publisher.open_gate if publisher is not None and cfg.mqtt.gate_command else None
    try:
        return start_web(cfg, store, stages, opener, users)
    except OSError as exc:
        log.error("operator page %s:%s not served: %s", cfg.web.host, cfg.web.port, exc)
        return None
