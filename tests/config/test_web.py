"""The ``web:`` section: off by default, loopback, a hash and never a password."""

from __future__ import annotations

import pytest

from daemon.config.models import parse_config
from daemon.errors import ConfigError

BASE = "site: a\ncameras: [{id: c, url: 'rtsp://127.0.0.1/x'}]\n"


def test_defaults_off_and_loopback() -> None:
    cfg = parse_config(BASE)
    assert not cfg.web.enabled and cfg.web.host == "127.0.0.1" and cfg.web.users == []


@pytest.mark.parametrize("web", [
    "{users: [{name: alice, password_hash: hunter22}]}",  # a password, not a hash
    "{users: [{name: 'a b', password_hash: 'scrypt$1$1$1$AA$AA'}]}",
    "{port: 70000}",
    "{session_idle_s: 5}",
    "{passwd: x}",
])
def test_bad_web_section_names_the_key(web: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(BASE + f"web: {web}\n")
    text = " ".join(exc.value.lines)
    assert "web ->" in text and "hunter22" not in text
