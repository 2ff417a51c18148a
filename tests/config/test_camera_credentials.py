"""Camera passwords from a credential file: put into the URL at load, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config.models import parse_config, with_camera_passwords
from daemon.config.secrets import known_secrets
from daemon.errors import ConfigError

TEXT = ("site: a\ncameras:\n  - id: c1\n    url: 'rtsp://admin@10.0.0.5:554/live'\n"
        "    password_credential: entry\n")


def test_password_from_the_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "camera_entry").write_text("p@ss/w rd%\n")  # LoadCredential=camera:DIR
    cfg = with_camera_passwords(parse_config(TEXT), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    cam = cfg.cameras[0]
    assert cam.url == "rtsp://admin:p%40ss%2Fw%20rd%25@10.0.0.5:554/live"
    assert cam.safe_url == "rtsp://admin:***@10.0.0.5:554/live"
    assert "p@ss/w rd%" in known_secrets()
    assert "p@ss" not in repr(cfg)


def test_installer_layout_is_found_too(tmp_path: Path) -> None:
    (tmp_path / "cameras").mkdir()
    (tmp_path / "cameras" / "entry").write_text("s3cret-x")
    cfg = with_camera_passwords(parse_config(TEXT), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert cfg.cameras[0].url == "rtsp://admin:s3cret-x@10.0.0.5:554/live"


def test_missing_credential_is_a_config_error_naming_the_camera(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cameras -> c1 -> password_credential: no file"):
        with_camera_passwords(parse_config(TEXT), {"CREDENTIALS_DIRECTORY": str(tmp_path)})


def test_password_in_both_places_is_refused() -> None:
    with pytest.raises(ConfigError, match="password_credential"):
        parse_config(TEXT.replace("admin@", "admin:x@"))
