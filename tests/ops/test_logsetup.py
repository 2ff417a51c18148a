"""logsetup.redact: URL passwords holding '@', '/' and ':' are redacted in free text."""

from __future__ import annotations

import pytest

from daemon.ops.logsetup import redact


@pytest.mark.parametrize("password", ["p@ss", "pa/ss", "p@ss/w0rd", "a:b@c/d", "p%40ss"])
def test_url_password_with_at_slash_and_colon(password: str) -> None:
    text = f"cannot open rtsp://admin:{password}@10.0.0.5:554/live: 401 Unauthorized"
    assert redact(text) == "cannot open rtsp://admin:***@10.0.0.5:554/live: 401 Unauthorized"


def test_two_urls_on_one_line_are_both_redacted() -> None:
    text = "rtsp://a:x@y@h1/s and rtsp://b:z/w@h2/s"
    assert redact(text) == "rtsp://a:***@h1/s and rtsp://b:***@h2/s"
