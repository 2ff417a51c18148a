"""``gatecam web-password``: the hash of a password, never the password."""

from __future__ import annotations

import argparse
import io

from daemon.cli.webpassword import cmd_web_password
from daemon.config.models import parse_config
from daemon.web.auth import verify_password


def test_prints_a_hash_the_config_accepts() -> None:
    out = io.StringIO()
    rc = cmd_web_password(argparse.Namespace(stdin=True, name=None),
                          stdin=io.StringIO("gate-keeper-7\n"), out=out)
    line = out.getvalue().strip()
    assert rc == 0 and "gate-keeper-7" not in line and verify_password("gate-keeper-7", line)
    cfg = parse_config(
        "site: a\ncameras: [{id: c, url: 'rtsp://127.0.0.1/x'}]\n"
        f"web: {{enabled: true, users: [{{name: alice, password_hash: '{line}'}}]}}\n")
    assert cfg.web.enabled and cfg.web.host == "127.0.0.1"


def test_name_form_and_short_password() -> None:
    out = io.StringIO()
    assert cmd_web_password(argparse.Namespace(stdin=True, name="bob"),
                            stdin=io.StringIO("long-enough\n"), out=out) == 0
    assert out.getvalue().startswith("bob:scrypt$")
    out = io.StringIO()
    assert cmd_web_password(argparse.Namespace(stdin=True, name=None),
                            stdin=io.StringIO("short\n"), out=out) == 2
    assert out.getvalue() == ""
