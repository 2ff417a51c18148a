"""The test rig itself: generated clips, their ground truth, local OCR on them, the RTSP camera.

Everything else end-to-end stands on these: if the clip's plates are not readable
or the camera does not serve decodable H.264, the pipeline tests mean nothing.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from scripts.rig.camera import RtspCamera, free_port
from scripts.rig.clips import ClipStore, clips, load_make_clip

__all__ = ["clips"]  # the session fixture, imported for pytest

RTSP_OPTIONS = {"rtsp_transport": "tcp", "timeout": "5000000"}


def decode(path: Path, wanted: set[int] | None = None) -> dict[int, np.ndarray]:
    """Decoded BGR frames of a file by index (all, or only ``wanted``)."""
    frames: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if wanted is None or n in wanted:
                frames[n] = frame.to_ndarray(format="bgr24")
            if wanted is not None and n >= max(wanted):
                break
    return frames


def normalise(text: str) -> str:
    """Plate text as Tencent returns it: no separators, upper case."""
    return re.sub(r"[·•・.\-\s]", "", text).upper()


@pytest.fixture(scope="module")
def three_cars(clips: ClipStore) -> tuple[Path, dict[str, Any]]:
    """The standard three-car clip, 1280x720 at 25 fps."""
    return clips.get("three_cars")


@pytest.fixture(scope="module")
def short_clip(clips: ClipStore) -> tuple[Path, dict[str, Any]]:
    """A 2 s empty-lane clip, small and quick to loop."""
    mod = load_make_clip()
    return clips.get(mod.Scenario("empty_2s", (), duration_s=2.0), size=(640, 360))


def test_truth_is_consistent_with_the_clip(three_cars: tuple[Path, dict[str, Any]]) -> None:
    path, truth = three_cars
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert stream.average_rate == 25
        packets = [p for p in container.demux(stream) if p.size]
    assert len(packets) == truth["frames"] == round(truth["duration_s"] * truth["fps"])
    keys = [i for i, p in enumerate(packets) if p.is_keyframe]
    assert keys[:3] == [0, 50, 100]  # GOP of 2 s, fixed: RTSP clients resync quickly

    plates = [v["plate"] for v in truth["vehicles"]]
    assert plates == ["京AF0236", "粤BD12345", "沪C8K562"]
    assert [v["color"] for v in truth["vehicles"]] == ["蓝", "绿", "蓝"]
    previous_exit = -1.0
    for v in truth["vehicles"]:
        assert "·" not in v["plate"]
        assert previous_exit < v["enter_s"] < v["exit_s"] <= truth["duration_s"]
        previous_exit = v["exit_s"]
        first, last, best = v["first_legible_frame"], v["last_legible_frame"], v["best_frame"]
        assert v["enter_s"] * 25 <= first < best <= last <= v["exit_s"] * 25
        rects = v["plate_rects"]
        assert [r[0] for r in rects] == list(range(first, last + 1))
        for _n, x, y, w, h in rects:
            assert w >= 120 and x >= 0 and y >= 0 and x + w <= 1280 and y + h <= 720
        stop_start, stop_end = v["stop_s"]
        assert stop_start * 25 <= best <= stop_end * 25  # read while the car stands still
        assert 180 <= next(r[3] for r in rects if r[0] == best) <= 260


def test_scene_is_still_except_for_cars(three_cars: tuple[Path, dict[str, Any]]) -> None:
    path, truth = three_cars
    first = truth["vehicles"][0]
    frames = decode(path, {0, 2, first["best_frame"]})
    noise = np.abs(frames[0].astype(np.int16) - frames[2]).mean()
    car = np.abs(frames[0].astype(np.int16) - frames[first["best_frame"]]).mean()
    assert 0.2 < noise < 3  # mild sensor noise, no global change
    assert car > 30  # a car close to the camera changes most of the picture


def test_generation_is_deterministic(tmp_path: Path) -> None:
    mod = load_make_clip()
    scenario = mod.Scenario("det", (mod.Car("京A·F0236", enter_s=0.0),), duration_s=1.5)
    a = mod.make_clip(scenario, tmp_path / "a.mp4", (640, 360), 25, 7)
    b = mod.make_clip(scenario, tmp_path / "b.mp4", (640, 360), 25, 7)
    c = mod.make_clip(scenario, tmp_path / "c.mp4", (640, 360), 25, 8)
    assert a == b and c["seed"] == 8
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    assert (tmp_path / "a.mp4").read_bytes() != (tmp_path / "c.mp4").read_bytes()


def test_ffmpeg_fallback_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where PyAV's wheel lacks libx264 the generator pipes raw frames to /usr/bin/ffmpeg."""
    mod = load_make_clip()
    monkeypatch.setattr(mod.encode, "_encode_pyav", mod.encode._encode_ffmpeg)
    scenario = mod.Scenario("ff", (mod.Car("京A·F0236", enter_s=0.0),), duration_s=2.2)
    truth = mod.make_clip(scenario, tmp_path / "f.mp4", (640, 360), 25, 1)
    with av.open(str(tmp_path / "f.mp4")) as container:
        stream = container.streams.video[0]
        keys = [i for i, p in enumerate(container.demux(stream)) if p.size and p.is_keyframe]
        frames = stream.frames  # PyAV 18.1.1 refuses a closed container's stream attributes
    assert frames == truth["frames"] == 55
    assert keys == [0, 50]


def test_rapidocr_reads_every_plate(three_cars: tuple[Path, dict[str, Any]]) -> None:
    """Each plate reads right from whole decoded frames: first legible, best and last legible."""
    from rapidocr_onnxruntime import RapidOCR

    path, truth = three_cars
    wanted = {
        n: v["plate"]
        for v in truth["vehicles"]
        for n in (v["first_legible_frame"], v["best_frame"], v["last_legible_frame"])
    }
    engine = RapidOCR()
    misses = []
    for n, image in sorted(decode(path, set(wanted)).items()):
        result, _ = engine(image)
        texts = [normalise(r[1]) for r in result or []]
        if wanted[n] not in texts:
            misses.append((n, wanted[n], texts))
    assert not misses


def _read_rtsp(url: str, frames: int, timeout_s: float = 20.0) -> list[tuple[int | None, Any]]:
    """Up to ``frames`` (pts, BGR image) pairs from an RTSP URL; ends early on EOF."""
    out: list[tuple[int | None, Any]] = []
    deadline = time.monotonic() + timeout_s
    with av.open(url, options=RTSP_OPTIONS) as container:
        for frame in container.decode(video=0):
            out.append((frame.pts, frame.to_ndarray(format="bgr24")))
            if len(out) >= frames or time.monotonic() > deadline:
                break
    return out


def test_rtsp_camera_serves_the_clip_unchanged(three_cars: tuple[Path, dict[str, Any]]) -> None:
    path, _truth = three_cars
    reference = decode(path, set(range(40)))
    with RtspCamera(path) as cam:
        started = time.monotonic()
        got = _read_rtsp(cam.url, 40)
        elapsed = time.monotonic() - started
    assert len(got) == 40
    assert elapsed > 1.2  # paced in real time (40 frames = 1.6 s), not dumped at once
    matched = 0
    for pts, image in got:
        if pts is None:  # FFmpeg gives the very first RTSP frame no pts
            continue
        n = round(pts / 3600)  # 90 kHz RTP clock, 25 fps
        assert np.abs(image.astype(np.int16) - reference[n]).mean() < 1.0  # no re-encode
        matched += 1
    assert matched >= 38


def test_rtsp_camera_loops_with_increasing_timestamps(
    short_clip: tuple[Path, dict[str, Any]],
) -> None:
    path, truth = short_clip
    assert truth["frames"] == 50
    with RtspCamera(path, loop=True) as cam:
        got = _read_rtsp(cam.url, 120)
    pts = [p for p, _ in got if p is not None]
    assert len(got) == 120  # 2.4 loops of a 2 s clip
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert pts[-1] / 90000 > 4.0


def test_rtsp_camera_stop_and_restart(short_clip: tuple[Path, dict[str, Any]]) -> None:
    path, _truth = short_clip
    port = free_port()
    cam = RtspCamera(path, port=port, loop=True)
    try:
        cam.start()
        assert cam.url == f"rtsp://127.0.0.1:{port}/cam"
        result: dict[str, Any] = {}

        def watch() -> None:
            try:
                result["frames"] = len(_read_rtsp(cam.url, 10_000, timeout_s=30))
            except av.error.FFmpegError as exc:
                result["error"] = exc

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        time.sleep(2.0)
        pid = cam.pid
        assert cam.stop() == 0  # SIGTERM is a clean exit, even with a client attached
        assert not cam.running and pid is not None
        watcher.join(10)
        assert not watcher.is_alive()  # the client notices the camera went away
        assert result.get("frames", 0) > 10 or "error" in result
        with pytest.raises(av.error.FFmpegError):
            av.open(cam.url, options={**RTSP_OPTIONS, "timeout": "1000000"})
        cam.restart()
        assert cam.port == port and cam.pid != pid
        assert len(_read_rtsp(cam.url, 10)) == 10
    finally:
        cam.stop()
    assert not cam.running


def test_the_decode_floor_reads_both_streams_and_decodes_only_the_detect_one(
    short_clip: tuple[Path, dict[str, Any]],
) -> None:
    """bench_dual's ``floor`` child (FFmpeg alone on an idle camera's two streams) really
    receives both: it counts the main stream's packets and the detect stream's frames at
    the clip's rate, and its CPU is measured."""
    from scripts.rig.floor import floor_child

    path, _truth = short_clip
    with RtspCamera(path, loop=True) as main, RtspCamera(path, loop=True) as detect:
        r = floor_child({"clips": [main.url], "detect_urls": [detect.url],
                         "warmup": 2.5, "seconds": 2.0})  # past the opening burst
    assert 35 <= r["main_packets"] <= 65  # 25 fps for 2 s, live
    assert 35 <= r["detect_frames"] <= 65
    assert 0 < r["cpu_pct"] < 100
