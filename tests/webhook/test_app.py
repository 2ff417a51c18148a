"""A running App delivers each passage to its webhook targets (with the snapshot attached)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from daemon.app import App
from daemon.config.secrets import Secrets
from daemon.errors import CredentialsError
from daemon.ocr.emulator.server import EmulatorServer
from scripts.rig.clips import ClipStore, clips
from tests.support.config import make_config
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, wait_until
from tests.support.receiver import Receiver

__all__ = ["clips"]


@pytest.mark.timeout(90)
def test_app_posts_every_committed_passage_with_its_image(
    tmp_path: Path, clips: ClipStore, ocr_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    rx = Receiver().start()
    down = Receiver()  # never started: a dead target must not hold back the live one
    (tmp_path / "webhook_erp").write_text("k", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    cfg = make_config(tmp_path, clip, ocr_emulator.url,
                      store={"snapshots": str(tmp_path / "snaps")},
                      webhooks=[{"name": "erp", "url": rx.url, "image": True,
                                 "secret_credential": "erp"},
                                {"name": "dead", "url": down.url, "retry_min_s": 0.1}])
    app = App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
    app.start()
    try:
        assert wait_until(lambda: app.passages >= 1, 60)
        got = rx.wait_for(lambda g: len(g) >= 1, 15)
        event = got[0].event
        assert got[0].headers["X-Gatecam-Event-Id"] == event["event_id"]
        assert got[0].headers["X-Gatecam-Signature"].startswith("sha256=")
        jpeg = base64.b64decode(event["image"])
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is not None
        store = app.stages().store
        assert store is not None
        assert wait_until(lambda: not store.pending_outbox(5, "webhook:erp"), 10)
        assert store.pending_outbox(5, "webhook:dead")  # kept for when it comes back
        assert app.metrics_server is not None  # the dead target: degraded, reported
        base = f"http://127.0.0.1:{app.metrics_server.port}"
        doc = httpx.get(f"{base}/healthz", timeout=3).json()
        assert doc["alive"] and doc["webhooks"]["dead"]["failing"] >= 1
        assert doc["webhooks"]["dead"]["reachable"] is False  # degraded, not a crash
        assert doc["webhooks"]["erp"]["reachable"] is True
        assert any(w.startswith("webhook dead failing") for w in doc["warnings"]), doc
        text = httpx.get(f"{base}/metrics", timeout=3).text
        assert 'gatecam_webhook_attempts_total{result="delivered",target="erp"} 1.0' in text
        assert re.search(r'^gatecam_webhook_failing\{target="dead"\} [1-9]', text, re.M), text
        assert 'gatecam_webhook_reachable{target="dead"} 0.0' in text
        assert 'gatecam_webhook_reachable{target="erp"} 1.0' in text
    finally:
        app.stop()
        rx.stop()


def test_missing_webhook_secret_file_is_a_credentials_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    cfg = make_config(tmp_path, "clip.mp4", "http://127.0.0.1:9",
                      webhooks=[{"name": "erp", "url": "http://127.0.0.1:9/h",
                                 "secret_credential": "erp"}])
    with pytest.raises(CredentialsError, match="webhooks: erp"):
        App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None)).start()
