"""metrics.py and logsetup.py: /metrics and /healthz of a running App, redacted journald logs."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from daemon.app import App
from daemon.cli.status import render
from daemon.config.secrets import Secrets
from daemon.domain import Passage
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.errors import CALL_OUTCOMES
from daemon.ops.collector import READ_RESULTS
from daemon.ops.logsetup import redact, setup_logging
from scripts.rig.clips import ClipStore, clips
from tests.support.config import make_config
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, wait_until
from tests.support.metrics import busy_metrics, samples
from tests.support.promtool import check_metrics

__all__ = ["clips"]


def _label(labels: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]+)"', labels)
    assert m is not None, labels
    return m.group(1)


def test_one_counter_per_meaning_with_closed_label_sets() -> None:
    text = busy_metrics().render().decode()
    calls = samples(text, "gatecam_ocr_calls_total")
    assert calls['{camera="entry-1",outcome="plate"}'] == 1.0
    assert calls['{camera="entry-1",outcome="timeout"}'] == 1.0
    assert calls['{camera="exit-1",outcome="refused"}'] == 0.0  # born at zero: rate() sees 1st
    assert {_label(k, "outcome") for k in calls} == set(CALL_OUTCOMES)
    reads = samples(text, "gatecam_ocr_reads_total")
    assert {k: v for k, v in reads.items() if v} == {
        '{camera="entry-1",result="plate"}': 1.0, '{camera="entry-1",result="no_plate"}': 1.0,
        '{camera="entry-1",result="failed"}': 1.0, '{camera="entry-1",result="stale"}': 1.0,
        '{camera="entry-1",result="circuit_open"}': 1.0}
    assert {_label(k, "result") for k in reads} == set(READ_RESULTS)
    passages = samples(text, "gatecam_passages_total")
    assert passages['{access="allow",camera="entry-1",reason="allow_list"}'] == 1.0
    assert passages['{access="unknown",camera="entry-1",reason="no_plate"}'] == 1.0
    assert sum(passages.values()) == 2.0  # a sum() over the labels means something
    assert samples(text, "gatecam_ocr_latency_seconds_count") == {"": 2.0}
    assert samples(text, "gatecam_ocr_latency_seconds_bucket")['{le="0.2"}'] == 1.0
    decide = samples(text, "gatecam_decide_latency_seconds_bucket")
    assert decide['{camera="entry-1",le="0.1"}'] == 1.0
    assert decide['{camera="entry-1",le="0.75"}'] == 2.0
    assert samples(text, "gatecam_ocr_calls_per_passage_sum") == {"": 2.0}
    assert samples(text, "gatecam_ocr_circuit_openings_total") == {"": 2.0}
    assert samples(text, "gatecam_ocr_retries_total") == {
        '{kind="retry"}': 1.0, '{kind="reencode"}': 1.0}
    assert samples(text, "gatecam_ocr_queue") == {"": 1.0}
    assert samples(text, "gatecam_passages_unpublished_total") == {
        '{camera="entry-1",why="duplicate"}': 2.0,
        '{camera="entry-1",why="no_plate_evidence"}': 5.0,
        '{camera="exit-1",why="duplicate"}': 0.0,
        '{camera="exit-1",why="no_plate_evidence"}': 0.0}
    for gone in ("gatecam_ocr_pool", "gatecam_camera_passages", "gatecam_passages_committed",
                 "gatecam_ocr_circuit_trips", "gatecam_ocr_circuit_refused_calls"):
        assert gone not in text, gone


def test_exposition_is_promtool_clean_with_process_metrics_and_no_created() -> None:
    text = busy_metrics().render()
    assert b"_created" not in text
    for family in (b"process_resident_memory_bytes", b"process_cpu_seconds_total",
                   b"process_open_fds", b"python_info", b"python_gc_objects_collected_total"):
        assert family in text, family
    lint = check_metrics(text)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint


def test_promtool_lint_would_catch_a_counter_without_total() -> None:
    """The check above can fail: promtool names what breaks the conventions."""
    bad = b"# HELP gatecam_x Calls\n# TYPE gatecam_x counter\ngatecam_x 1\n"
    lint = check_metrics(bad)
    assert "counter metrics should have \"_total\" suffix" in lint.stdout + lint.stderr


@pytest.mark.timeout(60)
def test_app_serves_metrics_and_healthz_on_loopback(
    tmp_path: Path, clips: ClipStore, ocr_emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    cfg = make_config(tmp_path, clip, ocr_emulator.url, health={"lane_stale_s": 1.0})
    app = App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
    app.start()
    hang = threading.Event()
    try:
        assert app.metrics_server is not None and app.metrics_server.host == "127.0.0.1"
        base = f"http://127.0.0.1:{app.metrics_server.port}"
        assert wait_until(lambda: app.passages >= 1, 30)  # the car went by once
        text = httpx.get(f"{base}/metrics", timeout=3).text
        for needle in ('gatecam_frames_total{camera="entry-1"}',
                       'gatecam_camera_state{camera="entry-1",state="streaming"} 1.0',
                       "gatecam_frame_age_seconds", 'gatecam_passages_total{access="',
                       "gatecam_outbox_backlog", "gatecam_ocr_latency_seconds_bucket",
                       'gatecam_ocr_reads_total{camera="entry-1",result="plate"}',
                       "gatecam_ocr_calls_per_passage_count", "gatecam_decide_latency_seconds",
                       'gatecam_ocr_circuit{state="closed"} 1.0', 'gatecam_motion_frames_total',
                       'gatecam_passages_unpublished_total{camera="entry-1",why="duplicate"}',
                       "process_resident_memory_bytes"):
            assert needle in text, needle
        def called() -> float:  # a cold emulator may time out; counted when the call ends
            calls = samples(httpx.get(f"{base}/metrics", timeout=3).text,
                            "gatecam_ocr_calls_total")
            return sum(v for k, v in calls.items() if 'camera="entry-1"' in k)
        # the passage may be published before its call ends: the clip loops, and on a
        # loaded machine the car comes back before a cold emulator's first answer, so its
        # passage closes for the newcomer on the sure local reading
        assert wait_until(lambda: called() >= 1.0, 10), called()
        assert 'gatecam_ocr_reads_total{camera="entry-1",result="plate"}' in text
        lint = check_metrics(text.encode())  # the real scrape of a running App is clean too
        assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint
        r = httpx.get(f"{base}/healthz", timeout=3)
        doc = r.json()
        assert r.status_code == 200 and doc["alive"] and doc["ready"], doc
        assert doc["cameras"]["entry-1"]["state"] == "streaming"
        assert doc["passages"] >= 1 and doc["outbox_backlog"] is not None
        assert render(doc).startswith("gatecam: ALIVE")
        lane = app.stages().cameras[0].lane
        real = lane._handle
        monkeypatch.setattr(lane, "_handle", lambda f: (hang.wait(20), real(f)))
        assert wait_until(lambda: httpx.get(f"{base}/healthz", timeout=3).status_code == 503, 10)
        stalled = httpx.get(f"{base}/healthz", timeout=3).json()
        assert not stalled["alive"] and "lane loop stuck" in stalled["problems"][0]
        assert httpx.get(f"{base}/nope", timeout=3).status_code == 404
    finally:
        hang.set()
        app.stop()


def test_redact_url_passwords_and_known_secrets() -> None:
    text = "open rtsp://admin:p%40ss@10.0.0.2:554/x failed; key AKIDsecret123 in use"
    assert redact(text, ["AKIDsecret123"]) == (
        "open rtsp://admin:***@10.0.0.2:554/x failed; key *** in use")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_logs_are_journald_friendly_and_redacted(fmt: str) -> None:
    out = io.StringIO()
    handler = setup_logging("INFO", fmt, secrets=["hunter2-key"],
                            environ={"JOURNAL_STREAM": "8:1"}, stream=out)
    try:
        log = logging.getLogger("daemon.test")
        log.warning("camera %s down", "rtsp://u:pw123@cam/1")
        try:
            raise RuntimeError("boom with hunter2-key")
        except RuntimeError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    text = out.getvalue()
    assert "pw123" not in text and "hunter2-key" not in text
    if fmt == "json":
        first = json.loads(text.splitlines()[0])
        assert first["level"] == "WARNING" and first["msg"] == "camera rtsp://u:***@cam/1 down"
    else:
        lines = text.splitlines()
        assert lines[0] == "<4>WARNING MainThread daemon.test: camera rtsp://u:***@cam/1 down"
        assert all(line.startswith("<3>") for line in lines[1:])  # traceback keeps priority


@pytest.mark.timeout(60)
def test_metrics_and_healthz_report_ocr_circuit_and_storage(
    tmp_path: Path, clips: ClipStore, ocr_emulator: EmulatorServer,
) -> None:
    """A refused key opens the OCR circuit; a read-only store fails writes: both show up in
    /metrics and /healthz (as warnings: the pipeline is alive), and the store's recovery too."""
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    cfg = make_config(tmp_path, clip, ocr_emulator.url)
    (tmp_path / "g.db").write_bytes(b"not a database " * 300)  # corrupt: started anew
    app = App(cfg, Secrets(E2E_SECRET_ID, "not-the-key", None))  # the emulator refuses it
    app.start()
    read_only = threading.Event()

    def on_begin(conn: Any) -> None:  # what a worn SD card does: writes refused
        conn.connection.dbapi_connection.execute(
            f"PRAGMA query_only = {1 if read_only.is_set() else 0}")

    try:
        assert app.metrics_server is not None and app.stages().store is not None
        assert app.stages().recorder is not None
        base = f"http://127.0.0.1:{app.metrics_server.port}"

        def healthz() -> dict[str, Any]:
            doc: dict[str, Any] = httpx.get(f"{base}/healthz", timeout=3).json()
            return doc

        doc = healthz()
        assert doc["storage"]["ok"] is True
        assert doc["storage"]["recovered"]["moved_to"].startswith(f"{tmp_path}/g.db.corrupt-")
        assert [w for w in doc["warnings"] if w.startswith("database was corrupt")]
        assert doc["alive"]
        assert wait_until(lambda: healthz()["circuit"] == "open", 30)
        doc = healthz()
        assert doc["ocr"]["circuit"]["code"] == "AuthFailure.SignatureFailure"
        assert any(w.startswith("OCR circuit open (AuthFailure.SignatureFailure)")
                   for w in doc["warnings"]), doc["warnings"]
        assert doc["alive"]  # degraded, not stalled: passages are still recorded
        text = httpx.get(f"{base}/metrics", timeout=3).text
        for needle in ('gatecam_ocr_circuit{state="open"} 1.0',
                       'gatecam_ocr_circuit{state="closed"} 0.0',
                       'gatecam_ocr_circuit{state="half_open"} 0.0',
                       "gatecam_ocr_circuit_openings_total 1.0", "gatecam_storage_ok 1.0",
                       "gatecam_storage_fallback_published_total 0.0",
                       "gatecam_recorder_frames_spilled_total 0.0",
                       "gatecam_recorder_items_failed_total 0.0",
                       "gatecam_retention_undelivered_dropped_total 0.0"):
            assert needle in text, needle
        m = re.search(r"^gatecam_ocr_circuit_retry_in_seconds (\S+)$", text, re.MULTILINE)
        retry_in = float(m.group(1)) if m else -1.0
        assert 0 < retry_in <= cfg.ocr.circuit_cooldown_s

        read_only.set()
        event.listen(app.stages().store.engine, "begin", on_begin)
        t = datetime.now(UTC)
        app.stages().recorder.submit_passage(Passage(
            event_id="e-ro", site="lot-a", camera="entry-1", direction="entry",
            captured_at=t, decided_at=t, plate="京AF0236"), [])
        assert wait_until(lambda: healthz()["storage"]["ok"] is False, 10)
        doc = healthz()
        assert "readonly" in doc["storage"]["error"] and doc["alive"]
        assert any(w.startswith("storage failing since") for w in doc["warnings"])
        assert "gatecam_storage_ok 0.0" in httpx.get(f"{base}/metrics", timeout=3).text

        read_only.clear()  # writable again: the retried commit goes through
        assert wait_until(lambda: healthz()["storage"]["ok"] is True, 15)
        assert "gatecam_storage_ok 1.0" in httpx.get(f"{base}/metrics", timeout=3).text
        assert any(p.event_id == "e-ro" for p in app.stages().store.recent_passage_objects(50))
    finally:
        read_only.clear()
        app.stop()
