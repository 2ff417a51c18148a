"""health.py: sd_notify on a real unix datagram socket, stall detection, the watchdog."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.app import App
from daemon.config.secrets import Secrets
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ops.health import (
    CameraBeat,
    HealthLimits,
    HealthMonitor,
    Notifier,
    PipelineSnapshot,
    assess,
    watchdog_interval,
)
from scripts.rig.clips import ClipStore, clips
from tests.support.config import make_config
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, wait_until
from tests.support.notify import NotifySocket

__all__ = ["clips"]

LIMITS = HealthLimits(frame_stale_s=5.0, lane_stale_s=5.0, recorder_stale_s=5.0)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    s = NotifySocket(str(tmp_path / "notify.sock"))
    yield s
    s.close()


def _cam(state: str = "streaming", *, frame_at: float | None = 100.0,
         capture_beat: float = 100.0, lane_beat: float = 100.0, capture_alive: bool = True,
         lane_alive: bool = True) -> CameraBeat:
    return CameraBeat("entry-1", state, capture_alive, capture_beat, frame_at, lane_alive,
                      lane_beat, offline_grace_s=20.0)


def _snap(*cams: CameraBeat, recorder_beat: float = 100.0, recorder_alive: bool = True,
          ) -> PipelineSnapshot:
    return PipelineSnapshot(list(cams), recorder_alive, recorder_beat, passages=2)


# -- the protocol -----------------------------------------------------------------------

def test_notify_sends_one_datagram_of_key_value_lines(notify_socket: NotifySocket) -> None:
    n = Notifier(notify_socket.path)
    assert n.enabled
    assert n.notify(READY=1, STATUS="1/1 camera(s) streaming")
    assert wait_until(lambda: notify_socket.messages, 2)
    assert notify_socket.messages[0] == {"READY": "1", "STATUS": "1/1 camera(s) streaming"}
    with pytest.raises(ValueError, match="one line"):
        n.notify(STATUS="two\nlines")
    n.close()


def test_abstract_namespace_socket() -> None:
    name = f"@gatecam-test-{time.monotonic_ns()}"
    s = NotifySocket(name)
    try:
        assert Notifier.from_env({"NOTIFY_SOCKET": name}).notify(WATCHDOG=1)
        assert wait_until(lambda: s.messages == [{"WATCHDOG": "1"}], 2)
    finally:
        s.close()


def test_without_notify_socket_everything_is_a_no_op(tmp_path: Path) -> None:
    assert not Notifier.from_env({}).notify(READY=1)
    # systemd gone (socket removed): a failed send is reported, never raised
    assert not Notifier(str(tmp_path / "missing.sock")).notify(WATCHDOG=1)


def test_watchdog_interval_is_half_of_watchdog_sec() -> None:
    import os

    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    pid = str(os.getpid())
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": pid}) == 2.0
    assert watchdog_interval({}) is None


# -- the pure assessment ----------------------------------------------------------------

def test_fresh_frames_and_turning_loops_are_alive() -> None:
    v = assess(_snap(_cam()), now=102.0, limits=LIMITS)
    assert v.alive and v.ready and v.problems == ()
    assert v.status == "1/1 camera(s) streaming, 2 passage(s)"


def test_streaming_camera_without_frames_is_stalled() -> None:
    v = assess(_snap(_cam(frame_at=90.0)), now=100.0, limits=LIMITS)
    assert not v.alive
    assert v.problems == ("entry-1: streaming but no frame for 10 s",)
    assert "STALLED" in v.status


def test_camera_correctly_offline_is_alive_until_its_loop_stops_turning() -> None:
    offline = _cam("offline", frame_at=None, capture_beat=95.0)
    v = assess(_snap(offline), now=100.0, limits=LIMITS)
    assert v.alive and "entry-1 offline" in v.status
    v = assess(_snap(offline), now=120.0, limits=LIMITS)  # grace 20 s passed, no attempt
    assert not v.alive and "capture offline and stuck" in v.problems[0]


def test_still_starting_camera_is_not_ready() -> None:
    v = assess(_snap(_cam("starting", frame_at=None)), now=101.0, limits=LIMITS)
    assert v.alive and not v.ready


def test_lane_and_recorder_stalls_and_deaths() -> None:
    assert assess(_snap(_cam(lane_beat=90.0)), 100.0, LIMITS).problems == (
        "entry-1: lane loop stuck for 10 s",)
    assert assess(_snap(_cam(), recorder_beat=90.0), 100.0, LIMITS).problems == (
        "recorder stuck for 10 s",)
    assert assess(_snap(_cam(), recorder_alive=False), 100.0, LIMITS).problems == (
        "recorder thread died",)
    died = _cam(capture_alive=False, lane_alive=False)
    assert len(assess(_snap(died), 100.0, LIMITS).problems) == 2
    ended = _cam("ended", capture_alive=False, lane_alive=False)  # a replayed file finished
    assert assess(_snap(ended), 100.0, LIMITS).alive


# -- the monitor: READY once, WATCHDOG only while alive ----------------------------------

def test_monitor_withholds_watchdog_while_a_stage_is_stalled(notify_socket: NotifySocket) -> None:
    clock = [100.0]
    state: dict[str, Any] = {"cam": _cam("starting", frame_at=None)}
    mon = HealthMonitor(lambda: _snap(state["cam"]), Notifier(notify_socket.path), LIMITS,
                        threading.Event(), ready_timeout_s=10.0, monotonic=lambda: clock[0])
    mon.check()  # starting: no READY, no WATCHDOG
    state["cam"] = _cam()
    mon.check()
    mon.check()
    clock[0] = 110.0  # the recorder (beat 100) is 10 s old now: stalled
    state["cam"] = _cam(frame_at=109.5, lane_beat=109.9, capture_beat=109.5)
    mon.check()
    mon.check()
    assert wait_until(lambda: len(notify_socket.messages) >= 4, 2)
    msgs = notify_socket.messages
    assert "READY" not in msgs[0] and "WATCHDOG" not in msgs[0]
    assert msgs[1]["READY"] == "1" and msgs[1]["WATCHDOG"] == "1"
    assert msgs[2] == {"WATCHDOG": "1"}
    assert "WATCHDOG" not in msgs[3] and "STALLED: recorder stuck" in msgs[3]["STATUS"]
    assert len(notify_socket.with_key("READY")) == 1
    assert len(notify_socket.with_key("WATCHDOG")) == 2  # no ping after the stall


def test_ready_is_sent_when_cameras_time_out(notify_socket: NotifySocket) -> None:
    clock = [0.0]
    mon = HealthMonitor(lambda: _snap(_cam("starting", frame_at=None, capture_beat=0.0,
                                           lane_beat=clock[0], )),
                        Notifier(notify_socket.path), LIMITS, threading.Event(),
                        ready_timeout_s=10.0, monotonic=lambda: clock[0])
    mon.check()
    assert not mon.ready_sent
    clock[0] = 10.5
    mon.check()
    assert mon.ready_sent


# -- the real pipeline: a hung lane stops the pings --------------------------------------

@pytest.mark.timeout(60)
def test_app_pings_then_stops_pinging_when_the_lane_hangs(
    tmp_path: Path, clips: ClipStore, ocr_emulator: EmulatorServer,
    notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch,
) -> None:
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # ping every 0.5 s
    cfg = make_config(tmp_path, clip, ocr_emulator.url,
                      health={"lane_stale_s": 1.5, "metrics_enabled": False})
    app = App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
    app.start()
    hang = threading.Event()
    try:
        assert wait_until(lambda: notify_socket.with_key("READY"), 10)
        assert wait_until(lambda: len(notify_socket.with_key("WATCHDOG")) >= 3, 10)
        lane = app.stages().cameras[0].lane
        real_handle = lane._handle

        def stuck(frame: Any) -> None:  # a detector that never returns
            hang.wait(30)
            real_handle(frame)

        monkeypatch.setattr(lane, "_handle", stuck)
        assert wait_until(lambda: "STALLED" in (notify_socket.with_key("STATUS") or [{}])[-1].get(
            "STATUS", ""), 10)
        pings = len(notify_socket.with_key("WATCHDOG"))
        time.sleep(1.5)  # three ping periods
        assert len(notify_socket.with_key("WATCHDOG")) == pings
        assert "lane loop stuck" in notify_socket.with_key("STATUS")[-1]["STATUS"]
    finally:
        t0 = time.monotonic()
        app.stop(budget_s=2.0)  # the lane is still hung: stop() must not wait it out
        took = time.monotonic() - t0
        hang.set()
    assert took < 4.5, f"stop took {took:.1f} s with a 2 s budget"
    assert notify_socket.with_key("STOPPING")
