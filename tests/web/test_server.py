"""The page's server and wiring: idle connections closed, a connection cap, operators
required, bind warning."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from daemon.errors import ConfigError
from daemon.web.auth import hash_password
from daemon.web.server import bind_warning
from daemon.web.wiring import load_users
from tests.support.web import web_config, web_site


def test_idle_connection_is_closed_after_timeout(tmp_path: Path) -> None:
    with web_site(tmp_path, passages=0, timeout_s=1.0) as site:
        s = socket.create_connection(("127.0.0.1", site.server.port), timeout=10)
        t0 = time.monotonic()
        assert s.recv(10) == b""  # closed by the server, not by our 10 s timeout
        assert time.monotonic() - t0 < 5
        s.close()


def test_connection_cap_queues_never_spawns(tmp_path: Path) -> None:
    with web_site(tmp_path, passages=0, max_connections=2, timeout_s=2.0) as site:
        idle = [socket.create_connection(("127.0.0.1", site.server.port)) for _ in range(2)]
        time.sleep(0.3)
        t0 = time.monotonic()
        r = httpx.get(site.url + "static/page.css", timeout=10)
        waited = time.monotonic() - t0
        assert r.status_code == 200
        assert waited > 0.8  # served only once an idle connection timed out
        for s in idle:
            s.close()


def test_no_operator_is_a_config_error(tmp_path: Path) -> None:
    cfg = web_config(tmp_path, users=[])
    with pytest.raises(ConfigError, match="no operator"):
        load_users(cfg, environ={})


def test_operators_from_the_credential_file(tmp_path: Path) -> None:
    cfg = web_config(tmp_path, users=[])
    (tmp_path / "web_users").write_text(f"bob:{hash_password('bob-password')}\n")
    users = load_users(cfg, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert users.check("bob", "bob-password")
    (tmp_path / "web_users").write_text("bob:hunter22\n")
    with pytest.raises(ConfigError, match="line 1") as exc:
        load_users(cfg, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert "hunter22" not in str(exc.value)


def test_bind_warning() -> None:
    assert bind_warning("127.0.0.1") is None and bind_warning("::1") is None
    assert bind_warning("localhost") is None
    assert "not loopback" in (bind_warning("192.0.2.10") or "")


def test_app_refuses_to_start_a_page_nobody_can_log_into(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from daemon.app import App
    from daemon.config.secrets import Secrets

    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    app = App(web_config(tmp_path, users=[]), Secrets("id", "key", None))
    with pytest.raises(ConfigError, match="no operator"):
        app.start()
    assert app.stages().store is None and app.stages().cameras == ()  # nothing started
    assert not (tmp_path / "g.db").exists()
