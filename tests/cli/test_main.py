"""The ``gatecam`` command as an operator runs it: replay, ocr, emulate-tencent, plates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.ocr.emulator.server import EmulatorServer
from scripts.rig.broker import Mosquitto, Subscriber
from scripts.rig.clips import ClipStore, clips
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, ROOT, daemon_config
from tests.support.ocr import render_plate

__all__ = ["clips"]

ENV = dict(os.environ, TENCENTCLOUD_SECRET_ID=E2E_SECRET_ID, TENCENTCLOUD_SECRET_KEY=E2E_SECRET_KEY)


def gatecam(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m daemon ARGS`` with the emulator's credentials."""
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args], cwd=ROOT, env=ENV, capture_output=True,
        text=True, timeout=timeout, check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_replay_fast_prints_one_event_per_line_and_delivers(
    tmp_path: Path, clips: ClipStore, broker: Mosquitto, ocr_emulator: EmulatorServer
) -> None:
    clip, truth = clips.get("three_cars")
    cfg = daemon_config(tmp_path, camera_url="unused.mp4", mqtt_port=broker.port,
                        endpoint=ocr_emulator.url)
    sub = Subscriber(broker.port, ("gatecam/lot-a/+/passage",))
    assert sub.wait_connected()
    proc = gatecam("replay", str(clip), "--config", str(cfg), "--camera", "entry-1", "--fast")
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted(e["plate"] for e in events) == sorted(v["plate"] for v in truth["vehicles"])
    for e in events:
        assert e["schema"] == 1 and e["camera"] == "entry-1" and not e["late"]
        assert e["snapshot"] and (tmp_path / "snap" / e["snapshot"]).is_file()
    # replay exits only after delivery: every event is already at the subscriber
    got = sub.wait_for("gatecam/lot-a/+/passage", n=3, timeout=5)
    assert sorted(json.loads(m.payload)["event_id"] for m in got) == \
        sorted(e["event_id"] for e in events)
    sub.close()
    listed = gatecam("plates", "--config", str(cfg), "--plate", events[0]["plate"], "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["event_id"] for r in rows] == [events[0]["event_id"]]


def test_replay_of_a_missing_clip_is_a_clear_error(tmp_path: Path) -> None:
    cfg = daemon_config(tmp_path, camera_url="x.mp4", mqtt_port=1, endpoint="http://127.0.0.1:1")
    proc = gatecam("replay", str(tmp_path / "nope.mp4"), "--config", str(cfg))
    assert proc.returncode == 2
    assert "no such clip" in proc.stderr


@pytest.mark.timeout(120)
def test_emulate_tencent_then_ocr_one_image(tmp_path: Path) -> None:
    emu = subprocess.Popen(
        [sys.executable, "-m", "daemon", "emulate-tencent", "--port", "0"], cwd=ROOT, env=ENV,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert emu.stdout is not None
        line = emu.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        image = tmp_path / "plate.jpg"
        image.write_bytes(render_plate("京A·F0236"))
        cfg = daemon_config(tmp_path, camera_url="x.mp4", mqtt_port=1, endpoint=url)
        proc = gatecam("ocr", str(image), "--config", str(cfg))
        assert proc.returncode == 0, proc.stderr[-2000:]
        result = json.loads(proc.stdout)
        assert result["plate"] == "京AF0236" and result["confidence"] >= 80
        assert result["request_id"]
        wrong_env = dict(ENV, TENCENTCLOUD_SECRET_KEY="wrong")
        proc = subprocess.run(
            [sys.executable, "-m", "daemon", "ocr", str(image), "--config", str(cfg)],
            cwd=ROOT, env=wrong_env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert proc.returncode == 1
        assert json.loads(proc.stdout)["error"] == "AuthFailure.SignatureFailure"
        assert "wrong" not in proc.stdout + proc.stderr
    finally:
        emu.send_signal(signal.SIGTERM)
        assert emu.wait(10) == 0
