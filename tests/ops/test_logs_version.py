"""Logs an installer reads, and the release everywhere (issue 13, item 4): other libraries'
INFO lines (httpx: one per OCR call) stay out unless --verbose, one INFO line per passage,
``gatecam --version``, the version in /healthz and in ``gatecam_build_info``."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from daemon import __version__
from daemon.app import App
from daemon.config.models import Config
from daemon.config.secrets import Secrets
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ops.logsetup import passage_line, setup_logging
from scripts.rig.clips import ClipStore, clips
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, ROOT, wait_until

__all__ = ["clips"]



def test_other_libraries_info_only_with_verbose() -> None:
    for verbose in (False, True):
        out = io.StringIO()
        setup_logging("INFO", stream=out, environ={}, verbose=verbose)
        logging.getLogger("httpx").info('HTTP Request: POST http://x "HTTP/1.1 200 OK"')
        logging.getLogger("paho.mqtt.client").warning("broker went away")
        logging.getLogger("daemon.lane.worker").info("lane started")
        text = out.getvalue()
        assert ("HTTP Request" in text) is verbose
        assert "broker went away" in text and "lane started" in text


def test_version_flag_matches_the_installed_release() -> None:
    res = subprocess.run([sys.executable, "-m", "daemon", "--version"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30, check=True)
    assert res.stdout.strip() == f"gatecam {version('gatecam')}" == f"gatecam {__version__}"


def test_one_info_line_per_passage_and_the_version_in_healthz_and_metrics(
    tmp_path: Path, clips: ClipStore, ocr_emulator: EmulatorServer,
) -> None:
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    cfg = Config.model_validate({
        "site": "lot-a",
        "cameras": [{"id": "entry-1", "url": str(clip), "loop": False}],
        "ocr": {"endpoint": ocr_emulator.url},
        "store": {"url": f"sqlite:///{tmp_path}/g.db"},
        "mqtt": {"enabled": False},
        "health": {"metrics_port": 0},
    })
    out = io.StringIO()
    setup_logging("INFO", stream=out, environ={})
    app = App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
    app.start()
    try:
        assert app.metrics_server is not None
        base = f"http://127.0.0.1:{app.metrics_server.port}"
        doc = httpx.get(f"{base}/healthz", timeout=3).json()
        assert (doc["version"], doc["site"]) == (__version__, "lot-a")
        assert f'gatecam_build_info{{version="{__version__}"}} 1.0' in \
            httpx.get(f"{base}/metrics", timeout=3).text
        assert wait_until(lambda: app.passages >= 1, 30)
        [passage] = app.stages().store.recent_passage_objects() if app.stages().store else []
    finally:
        app.stop()
    lines = out.getvalue().splitlines()
    about = [ln for ln in lines if passage.event_id in ln and " INFO " in ln]
    assert len(about) == 1, about
    assert about[0].endswith(f"daemon.app: {passage_line(passage)}")
    # (whatever the OCR answered under load: a plate, or none after a timeout)
    assert re.search(rf"passage {passage.event_id} entry-1 entry: (\S+ \(.*\)|no plate), "
                     r"\w+ \(\w+\), \d call\(s\) \d+ ms$", about[0]), about[0]
    assert not [ln for ln in lines if " httpx" in ln or "HTTP Request" in ln]
    assert any(f"gatecam {__version__} started" in ln for ln in lines)



def test_cli_commands_print_results_not_logs(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Was: 'store open: ...' on stderr from every command that reads the database."""
    from daemon.cli.main import main
    from daemon.store.db import Store

    url = f"sqlite:///{tmp_path}/g.db"
    Store(url).close()
    cfg = tmp_path / "gatecam.yaml"
    cfg.write_text(f"site: lot-a\nstore:\n  url: {url}\ncameras:\n  - id: e\n    url: x.mp4\n")
    assert main(["plates", "-c", str(cfg)]) == 0
    assert main(["allow", "-c", str(cfg), "add", "京A12345"]) == 0
    assert capsys.readouterr().err == ""
