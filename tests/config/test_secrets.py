"""Secrets: URL passwords redacted whatever they contain; every key read joins the redaction set."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.config.secrets import known_secrets, load_secrets, redact_url, reload_keys
from daemon.ops.logsetup import setup_logging

HOST = "10.0.0.5:554/live"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"rtsp://admin:p@ss@{HOST}", f"rtsp://admin:***@{HOST}"),
        (f"rtsp://admin:pa/ss@{HOST}", f"rtsp://admin:***@{HOST}"),
        (f"rtsp://admin:p@ss/w rd@{HOST}", f"rtsp://admin:***@{HOST}"),
        (f"rtsp://admin:my pass word@{HOST}", f"rtsp://admin:***@{HOST}"),
        (f"rtsp://admin:p%40ss%2F@{HOST}", f"rtsp://admin:***@{HOST}"),
        ("rtsp://admin:a:b@[fd00::5]:554/live?x=1", "rtsp://admin:***@[fd00::5]:554/live?x=1"),
        ("rtsp://admin:pw@cam", "rtsp://admin:***@cam"),
        (f"rtsp://{HOST}", f"rtsp://{HOST}"),
        ("rtsp://viewer@10.0.0.5/live", "rtsp://viewer@10.0.0.5/live"),
        ("/srv/clips/a@b.mp4", "/srv/clips/a@b.mp4"),
    ],
)
def test_redact_url_whatever_the_password_holds(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging("INFO", "text", stream=stream, environ={})
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])


def test_rotated_keys_join_the_log_redaction_set(tmp_path: Path, log_text: io.StringIO) -> None:
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    (tmp_path / "TENCENTCLOUD_SECRET_ID").write_text("AKIDfirst0001")
    (tmp_path / "TENCENTCLOUD_SECRET_KEY").write_text("first-key-0001")
    load_secrets(env)
    (tmp_path / "TENCENTCLOUD_SECRET_ID").write_text("AKIDrotated002")
    (tmp_path / "TENCENTCLOUD_SECRET_KEY").write_text("rotated-key-002")
    assert reload_keys(env) == ("AKIDrotated002", "rotated-key-002")
    assert {"AKIDrotated002", "rotated-key-002"} <= set(known_secrets())
    logging.getLogger("t").warning("signing with rotated-key-002 / AKIDrotated002")
    text = log_text.getvalue()
    assert "rotated-key-002" not in text and "AKIDrotated002" not in text, text
    assert "signing with *** / ***" in text


def test_camera_password_with_spaces_is_redacted_from_any_log_line(
    log_text: io.StringIO,
) -> None:
    from daemon.config.models import parse_config

    cfg = parse_config("site: a\ncameras:\n  - id: c\n    url: 'rtsp://admin:my s3cret @ pass@"
                       "10.0.0.5/live'\n")
    assert cfg.cameras[0].safe_url == "rtsp://admin:***@10.0.0.5/live"
    logging.getLogger("t").error("ffmpeg: 401 for user admin with my s3cret @ pass")
    assert "s3cret" not in log_text.getvalue(), log_text.getvalue()
