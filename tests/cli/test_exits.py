"""Exit codes and messages on an installer's first day (issue 13, item 1): every config or
credential problem exits 78 with one line naming what to fix, never a traceback;
``check-config --strict`` gates a start; ``gatecam ocr`` refuses a bad file locally."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.cli.checks import placeholder_keys, strict_problems
from daemon.cli.main import main
from daemon.config.models import load_config
from daemon.config.secrets import Secrets
from daemon.errors import EX_CONFIG, EX_NOINPUT
from daemon.ocr.emulator.server import EmulatorServer
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, ROOT
from tests.support.ocr import render_plate

EXAMPLE = ROOT / "config" / "gatecam.example.yaml"
KEYS = Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None)


def _no_keys_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY",
                         "CREDENTIALS_DIRECTORY")}



@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", E2E_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", E2E_SECRET_KEY)


def _config(tmp_path: Path, url: str = "rtsp://viewer:s3cret@10.1.2.3:554/ch1",
            endpoint: str = "https://ocr.tencentcloudapi.com") -> Path:
    path = tmp_path / "gatecam.yaml"
    path.write_text(yaml.safe_dump({
        "site": "lot-a", "cameras": [{"id": "entry-1", "url": url}],
        "ocr": {"endpoint": endpoint}, "store": {"url": f"sqlite:///{tmp_path}/g.db"},
        "health": {"metrics_port": 0}}))
    return path


def test_run_without_keys_exits_78_with_one_line(tmp_path: Path) -> None:
    """Was: a traceback and exit 1, so systemd restarted it in a loop."""
    res = subprocess.run([sys.executable, "-m", "daemon", "run", "-c", str(_config(tmp_path))],
                         cwd=ROOT, env=_no_keys_env(), capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == EX_CONFIG, res.stderr
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("config error: no Tencent credentials") and "Traceback" not in line


def test_replay_without_keys_exits_78(tmp_path: Path, no_keys: None,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0")
    assert main(["replay", str(clip), "-c", str(_config(tmp_path))]) == EX_CONFIG
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "no Tencent credentials" in line


def test_check_config_strict_fails_on_missing_keys_and_placeholders(
    no_keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: exit 0 while printing "credentials MISSING"; now --strict can gate a start."""
    assert main(["check-config", str(EXAMPLE)]) == 0  # the plain check stays a syntax check
    capsys.readouterr()
    assert main(["check-config", "--strict", str(EXAMPLE)]) == EX_CONFIG
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("config error: Tencent credentials MISSING")
    assert [ln.split(": ")[1] for ln in lines[1:]] == ["cameras -> 0 -> url",
                                                      "cameras -> 1 -> url"]
    assert all("CHANGE-ME@" not in ln and "viewer" not in ln for ln in lines)


def test_check_config_strict_passes_a_ready_config(tmp_path: Path, keys: None) -> None:
    assert main(["check-config", "--strict", str(_config(tmp_path))]) == 0


def test_run_strict_refuses_a_documentation_address(tmp_path: Path, keys: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, url="rtsp://viewer:pw@192.0.2.10:554/ch1")
    assert main(["run", "--strict", "-c", str(cfg)]) == EX_CONFIG
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == ("config error: cameras -> 0 -> url: the documentation address 192.0.2.10, "
                    "left from the example: replace it")
    assert not (tmp_path / "g.db").exists()  # refused before anything started


@pytest.mark.parametrize(("value", "flagged"), [
    ("rtsp://u:CHANGE-ME@10.0.0.5/x", "the placeholder CHANGE-ME"),
    ("rtsp://u:pw@198.51.100.7:554/x", "the documentation address 198.51.100.7"),
    ("rtsp://u:pw@[2001:db8::5]:554/x", "the documentation address 2001:db8::5"),
    ("rtsp://cam.example.com/x", "the documentation address cam.example.com"),
    ("rtsp://u:pw@10.0.0.5:554/x", None),
    ("rtsp://u:pw@203.0.114.1/x", None),  # just outside TEST-NET-3
    ("/var/lib/clips/lane.mp4", None),
])
def test_placeholder_detection(value: str, flagged: str | None) -> None:
    example = load_config(EXAMPLE)
    cfg = example.model_copy(update={"cameras": [
        example.cameras[0].model_copy(update={"url": value}),
        example.cameras[1].model_copy(update={"url": "rtsp://u:pw@10.0.0.6/x"})]})
    found = placeholder_keys(cfg)
    assert found == ([("cameras -> 0 -> url", flagged)] if flagged else [])
    expected = [f"cameras -> 0 -> url: {flagged}, left from the example: replace it"]
    assert strict_problems(cfg, KEYS) == (expected if flagged else [])


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(credentials={E2E_SECRET_ID: E2E_SECRET_KEY}).start()
    yield server
    server.stop()


@pytest.mark.parametrize("case", [
    ("missing.jpg", None, "cannot read"),
    ("notes.csv", b"plate,kind\n\xe4\xba\xacA12345,allow\n", "is not a JPEG or PNG image"),
    ("broken.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 200, "does not decode"),
])
def test_ocr_refuses_a_bad_file_locally(
    tmp_path: Path, keys: None, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str],
    case: tuple[str, bytes | None, str],
) -> None:
    """Was: a traceback for a missing file, and a CSV sent to the billed endpoint."""
    name, content, says = case
    image = tmp_path / name
    if content is not None:
        image.write_bytes(content)
    cfg = _config(tmp_path, endpoint=emulator.url)
    assert main(["ocr", str(image), "-c", str(cfg)]) == EX_NOINPUT
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and str(image) in line and says in line
    assert emulator.calls == []  # nothing was sent


def test_ocr_without_keys_exits_78_before_any_call(
    tmp_path: Path, no_keys: None, emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = tmp_path / "plate.jpg"
    image.write_bytes(render_plate())
    assert main(["ocr", str(image), "-c", str(_config(tmp_path, endpoint=emulator.url))]) \
        == EX_CONFIG
    assert "no Tencent credentials" in capsys.readouterr().err
    assert emulator.calls == []
