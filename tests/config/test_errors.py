"""Config error lines never carry a URL credential, whatever part of the input they echo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config.models import parse_config
from daemon.errors import EX_CONFIG, ConfigError

ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = ("Sup3r@S/cret", "two words here", "pl41n")


def _lines(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="g.yaml")
    return info.value.lines


def _assert_clean(lines: list[str]) -> None:
    text = "\n".join(lines)
    for pw in PASSWORDS:
        assert pw not in text, text
        for word in pw.split():
            assert word not in text, text


@pytest.mark.parametrize(
    "text",
    [
        # the whole camera mapping is the input of "id: Field required"
        "site: a\ncameras:\n  - url: 'rtsp://admin:Sup3r@S/cret@10.0.0.5/live'\n",
        "site: a\ncameras:\n  - url: 'rtsp://admin:two words here@10.0.0.5/live'\n    x: 1\n",
        # a list where a mapping belongs: the list is echoed
        "site: a\ncameras: {url: 'rtsp://admin:pl41n@10.0.0.5/live'}\n",
        # the top level is not a mapping
        "- rtsp://admin:pl41n@10.0.0.5/live\n",
        # a validator's own message quotes the URL
        "site: a\ncameras: [{id: c, url: x}]\n"
        "ocr: {endpoint: 'https://u:pl41n@ocr.tencentcloudapi.com/x'}\n",
        "site: a\ncameras: [{id: c, url: x}]\nocr: {rate_limit_url: 'ftp://u:Sup3r@S/cret@h'}\n",
        "site: a\ncameras: [{id: c, url: x}]\n"
        "store: {url: 'postgresql://u:two words here@db/g', snapshots: [1]}\n",
    ],
)
def test_config_errors_redact_url_credentials(text: str) -> None:
    lines = _lines(text)
    assert lines and all(line.startswith("g.yaml") for line in lines), lines
    _assert_clean(lines)


def test_the_redacted_value_still_shows_where_the_problem_is() -> None:
    lines = _lines("site: a\ncameras:\n  - url: 'rtsp://admin:Sup3r@S/cret@10.0.0.5/live'\n")
    assert any("cameras -> 0 -> id: Field required" in ln and "rtsp://admin:***@10.0.0.5/live"
               in ln for ln in lines), lines


def test_check_config_prints_no_password(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("site: a\ncameras:\n  - url: 'rtsp://admin:Sup3r@S/cret@10.0.0.5/live'\n"
                    "    direction: up\n")
    proc = subprocess.run([sys.executable, "-m", "daemon", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert proc.returncode == EX_CONFIG, proc.stderr
    assert "cameras -> 0" in proc.stderr
    _assert_clean([proc.stdout, proc.stderr])
