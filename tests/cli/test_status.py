"""``gatecam status`` checks it is talking to this config's daemon (issue 13, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.app import App
from daemon.cli.status import EXIT_ALIVE, EXIT_NOT_OURS, identity_problem, show_status
from daemon.config.models import Config
from daemon.config.secrets import Secrets
from daemon.ocr.emulator.server import EmulatorServer
from scripts.rig.clips import ClipStore, clips
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, wait_until

__all__ = ["clips"]


def test_a_daemon_that_names_no_site_is_not_taken_for_ours() -> None:
    cfg = Config.model_validate({"site": "lot-a", "cameras": [{"id": "entry-1", "url": "x"}]})
    assert identity_problem(cfg, {"site": "lot-a", "cameras": {"entry-1": {}}}) is None
    problem = identity_problem(cfg, {"alive": True, "cameras": {"entry-1": {}}})
    assert problem is not None and "names no site" in problem


def test_status_checks_it_is_this_configs_daemon(
    tmp_path: Path, clips: ClipStore, ocr_emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Was: whatever answered on the metrics port was reported, even another site's daemon."""
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    base = {"cameras": [{"id": "entry-1", "url": str(clip), "loop": True}],
            "ocr": {"endpoint": ocr_emulator.url}, "store": {"url": f"sqlite:///{tmp_path}/g.db"},
            "mqtt": {"enabled": False}, "health": {"metrics_port": 0}}
    app = App(Config.model_validate({"site": "lot-b", **base}),
              Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
    app.start()
    try:
        assert app.metrics_server is not None
        port = app.metrics_server.port

        def status(site: str, cameras: list[str]) -> int:
            cfg = Config.model_validate({**base, "site": site, "health": {"metrics_port": port},
                                         "cameras": [{"id": c, "url": "x.mp4"} for c in cameras]})
            return show_status(cfg)

        assert wait_until(lambda: status("lot-b", ["entry-1"]) == EXIT_ALIVE, 15)
        assert "[site lot-b, gatecam" in capsys.readouterr().out
        assert status("lot-a", ["entry-1"]) == EXIT_NOT_OURS
        captured = capsys.readouterr()
        assert captured.out == ""  # nothing of the other daemon shown as ours
        assert captured.err.strip() == (
            f"status: on 127.0.0.1:{port}: another daemon answered: site lot-b cameras "
            "['entry-1'], this config has site lot-a cameras ['entry-1']")
        assert status("lot-b", ["entry-1", "exit-1"]) == EXIT_NOT_OURS
        assert "this config has site lot-b cameras ['entry-1', 'exit-1']" in capsys.readouterr().err
    finally:
        app.stop()
