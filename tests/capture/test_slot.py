"""Tests for daemon.capture.slot: Frames from decoded pictures, the one-slot mailbox, status."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from daemon.capture.slot import CameraStatus, LatestFrameSlot, bgr_part, frame_from_av
from daemon.capture.thread import CameraStatus as ReexportedStatus
from daemon.capture.thread import LatestFrameSlot as ReexportedSlot
from daemon.domain import Frame, Image, Rect
from tests.support.video import encode_h264

W, H, N = 320, 240, 40
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _frame(seq: int) -> Frame:
    return Frame("cam", seq, seq / 25, datetime.now(UTC), np.zeros((2, 2, 3), np.uint8))


def _picture(i: int) -> Image:
    img = np.full((H, W, 3), 60, np.uint8)
    img[:, : W // 2] = (20, 120, 220)
    x = (i * 6) % (W - 50)
    img[80:160, x : x + 50] = (240, 240, 240)
    return img


def _encode(path: Path, pix_fmt: str = "yuv420p", n: int = N) -> None:
    with av.open(str(path), "w") as container:
        encode_h264(container, _picture, n, size=(W, H), gop=10, pix_fmt=pix_fmt)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("frameslot") / "clip.mp4"
    _encode(path)
    return path


def _decode_copies(path: Path) -> tuple[list[Image], list[Image]]:
    """Luma planes and BGR pictures of every frame, copied at once (the reference)."""
    lumas, bgrs = [], []
    with av.open(str(path)) as container:
        for f in container.decode(video=0):
            plane = f.planes[0]
            y = np.frombuffer(plane, np.uint8).reshape(f.height, plane.line_size)[:, : f.width]
            lumas.append(y.copy())
            bgrs.append(f.to_ndarray(format="bgr24"))
    return lumas, bgrs


# -- frame_from_av --------------------------------------------------------------------------


def test_frames_keep_their_pictures_after_the_decoder_moved_on_and_closed(clip: Path) -> None:
    """No copy is made, so the kept luma must be the decoder's picture of *that* frame even
    after 40 more frames were decoded (with frame threads) and the container was closed."""
    kept: list[Frame] = []
    with av.open(str(clip)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for n, f in enumerate(container.decode(video=0)):
            kept.append(frame_from_av(f, "cam", n, n / 25, T0))
    lumas, bgrs = _decode_copies(clip)
    assert len(kept) == len(lumas) == N
    for frame, luma in zip(kept, lumas, strict=True):
        assert frame.limited_range and not frame.has_image
        assert frame.analysis_image.shape == (H, W) and (frame.width, frame.height) == (W, H)
        assert np.array_equal(frame.analysis_image, luma)
    # BGR is made on demand, equal to what capture used to make for every frame
    for frame, bgr in zip(kept[::7], bgrs[::7], strict=True):
        assert np.array_equal(frame.image, bgr) and frame.has_image
    assert not kept[1].has_image  # only the frames asked for paid for it


def test_video_range_luma_is_what_the_bgr_picture_turns_grey_from(clip: Path) -> None:
    """The luma plane spans 16-235: stretched, it matches the grey of the BGR picture."""
    with av.open(str(clip)) as container:
        f = next(container.decode(video=0))
        frame = frame_from_av(f, "cam", 0, 0.0, T0)
    stretched = (frame.analysis_image.astype(np.float32) - 16) * 255 / 219
    grey = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    assert float(np.abs(stretched - grey).mean()) < 3.0


def test_full_range_and_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "full.mp4"
    _encode(path, pix_fmt="yuvj420p", n=3)
    with av.open(str(path)) as container:
        f = next(container.decode(video=0))
        assert f.format.name == "yuvj420p"
        frame = frame_from_av(f, "cam", 0, 0.0, T0)
    assert not frame.limited_range and frame.analysis_image.ndim == 2
    rgb = av.VideoFrame.from_ndarray(_picture(0)[:, :, ::-1].copy(), format="rgb24")
    eager = frame_from_av(rgb, "cam", 1, 0.04, T0)  # no luma plane: BGR at once
    assert eager.has_image and eager.analysis_image.shape == (H, W, 3)
    assert np.array_equal(eager.image, _picture(0)) and not eager.limited_range


def test_frame_is_immutable_and_converts_once_across_threads() -> None:
    calls: list[int] = []
    grey = np.full((4, 6), 100, np.uint8)

    def make() -> Image:
        calls.append(1)
        time.sleep(0.05)  # a slow conversion: every thread arrives while it runs
        return np.zeros((4, 6, 3), np.uint8)

    frame = Frame("cam", 3, 0.12, T0, grey=grey, make_image=make, limited_range=True)
    seen: list[Image] = []
    threads = [threading.Thread(target=lambda: seen.append(frame.image)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(calls) == 1 and len(seen) == 8 and all(s is seen[0] for s in seen)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.seq = 4  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        frame.analysis_image[0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        frame.image[0, 0] = 1
    grey[0, 0] = 7  # the caller's own array stays writable (the frame holds a view)
    with pytest.raises(ValueError, match="needs a BGR image"):
        Frame("cam", 0, 0.0, T0, grey=grey)
    bgr_frame = Frame("cam", 0, 0.0, T0, np.zeros((2, 3, 3), np.uint8))
    assert bgr_frame.analysis_image is bgr_frame.image and not bgr_frame.limited_range
    assert "seq=0" in repr(bgr_frame)


def test_bgr_for_one_use_is_not_kept_unless_cached() -> None:
    """``bgr()`` converts without caching (a held frame pins no BGR copy); once ``image``
    cached the picture, ``bgr()`` hands out that one."""
    calls: list[int] = []

    def make() -> Image:
        calls.append(1)
        return np.full((4, 6, 3), len(calls), np.uint8)

    frame = Frame("cam", 3, 0.12, T0, grey=np.zeros((4, 6), np.uint8), make_image=make)
    first, second = frame.bgr(), frame.bgr()
    assert len(calls) == 2 and not frame.has_image
    assert first[0, 0, 0] == 1 and second[0, 0, 0] == 2  # two fresh conversions
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0] = 0
    cached = frame.image
    assert len(calls) == 3 and frame.has_image and frame.bgr() is cached and len(calls) == 3


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p"])
def test_a_part_converted_alone_is_the_whole_pictures_part(tmp_path: Path, pix_fmt: str) -> None:
    """The local reader's crop (``bgr(box)``) is converted alone from the decoded planes, pixel
    for pixel what the whole conversion gives there: odd edges, the picture's edges, a box
    reaching out of the picture."""
    path = tmp_path / "part.mp4"
    _encode(path, pix_fmt=pix_fmt, n=3)
    boxes = [Rect(41, 37, 101, 63), Rect(0, 0, W, H), Rect(W - 33, H - 17, 50, 50),
             Rect(-9, 5, 20, 7), Rect(5, 7, 1, 1)]
    with av.open(str(path)) as container:
        for f in container.decode(video=0):
            whole = f.to_ndarray(format="bgr24")
            frame = frame_from_av(f, "cam", 0, 0.0, T0)
            for box in boxes:
                x0, y0, x1, y1 = box.within(W, H)
                part = frame.bgr(box)
                assert part.shape == (y1 - y0, x1 - x0, 3)
                assert np.array_equal(part, whole[y0:y1, x0:x1]), box
                assert np.array_equal(bgr_part(f, x0, y0, x1, y1), part)
            assert not frame.has_image  # nothing cached: a held frame pins no BGR copy
            cached = frame.image  # once cached, a part is cut from it
            assert np.array_equal(frame.bgr(boxes[0]), cached[37:100, 41:142])
    assert Rect(-5, -5, 3, 3).within(W, H) == (0, 0, 0, 0)
    assert Rect(W + 5, 10, 3, 3).within(W, H) == (W, 10, W, 13)


def test_a_part_of_another_format_is_cut_from_the_whole_picture() -> None:
    rgb = av.VideoFrame.from_ndarray(_picture(0)[:, :, ::-1].copy(), format="rgb24")
    assert np.array_equal(bgr_part(rgb, 10, 20, 50, 60), _picture(0)[20:60, 10:50])
    grey = np.zeros((H, W), np.uint8)
    frame = Frame("cam", 0, 0.0, T0, grey=grey, make_image=lambda: _picture(1))
    assert np.array_equal(frame.bgr(Rect(10, 20, 40, 40)), _picture(1)[20:60, 10:50])


def test_capture_reexports_the_slot_and_status() -> None:
    assert ReexportedSlot is LatestFrameSlot and ReexportedStatus is CameraStatus


# -- LatestFrameSlot ----------------------------------------------------------------------


def test_slot_newest_wins_and_counts_drops() -> None:
    slot = LatestFrameSlot()
    for i in range(3):
        slot.put(_frame(i))
    got = slot.get(timeout=0.1)
    assert got is not None and got.seq == 2
    assert slot.dropped == 2 and slot.delivered == 1
    assert slot.get(timeout=0.05) is None


def test_slot_blocking_put_waits_for_consumer() -> None:
    slot = LatestFrameSlot()
    slot.put(_frame(0), block=True)
    with pytest.raises(TimeoutError):
        slot.put(_frame(1), block=True, timeout=0.05)
    got: list[int] = []

    def consumer() -> None:
        time.sleep(0.2)
        while len(got) < 3:
            f = slot.get(timeout=1)
            if f is not None:
                got.append(f.seq)

    t = threading.Thread(target=consumer)
    t.start()
    t0 = time.monotonic()
    slot.put(_frame(1), block=True, timeout=2)
    assert time.monotonic() - t0 >= 0.15  # it really waited for the consumer
    slot.put(_frame(2), block=True, timeout=2)
    t.join(2)
    assert got == [0, 1, 2]
    assert slot.dropped == 0 and slot.delivered == 3


def test_slot_close_wakes_getter_and_keeps_last_frame() -> None:
    slot = LatestFrameSlot()
    results: list[Frame | None] = []
    t = threading.Thread(target=lambda: results.append(slot.get(timeout=5)))
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    slot.close()
    t.join(2)
    assert results == [None] and time.monotonic() - t0 < 1
    assert slot.closed

    slot2 = LatestFrameSlot()
    slot2.put(_frame(7))
    slot2.close()
    assert not slot2.closed  # closed but a frame is still waiting
    f = slot2.get(timeout=0.1)
    assert f is not None and f.seq == 7
    assert slot2.closed
    slot2.put(_frame(8))  # after close: discarded, counted
    assert slot2.dropped == 1 and slot2.get(timeout=0.01) is None


def test_slot_threads_lose_nothing_in_blocking_mode() -> None:
    slot = LatestFrameSlot()
    seen: list[int] = []

    def producer() -> None:
        for i in range(500):
            slot.put(_frame(i), block=True, timeout=5)
        slot.close()

    t = threading.Thread(target=producer)
    t.start()
    while not slot.closed:
        f = slot.get(timeout=1)
        if f is not None:
            seen.append(f.seq)
    t.join(2)
    assert seen == list(range(500)) and slot.dropped == 0


def test_camera_status_as_dict() -> None:
    at = datetime(2026, 1, 1, 8, 0, 0, 123000, tzinfo=UTC)
    status = CameraStatus("c", "streaming", 24.96, at)
    assert status.as_dict() == {"state": "streaming", "fps": 25.0,
                                "last_frame_at": "2026-01-01T08:00:00.123Z", "error": None,
                                "decoding": "full", "streams": ["main"], "reading": "main"}
    idle = CameraStatus("c", "streaming", 1.0, at, decoding="keyframes")
    assert idle.as_dict()["decoding"] == "idle"
    dual = CameraStatus("c", "streaming", 1.0, at, decoding="idle", streams=("detect",),
                        reading="detect")
    assert dual.as_dict()["streams"] == ["detect"] and dual.as_dict()["reading"] == "detect"


