"""The local reading pool: newest candidate per camera wins, crop and box mapping, a failing
reader is counted and logged once, the pool goes on."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from daemon.domain import Candidate, Frame, Image, PlateRead, Rect
from daemon.ocr.local import LocalPlate
from daemon.ocr.localpool import DROPPED, LOCAL_ERROR, LocalReadPool, to_read

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


ROI = Rect(100, 50, 400, 300)


def cand(seq: int, camera: str = "entry-1", roi: Rect | None = ROI) -> Candidate:
    img = np.zeros((360, 640, 3), np.uint8)
    return Candidate(camera, "p1", Frame(camera, seq, seq / 10, T0, img), 0.0, 0, 1e12, roi)


class FakeReader:
    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.gate, self.fail, self.shapes = gate, fail, []
        self.focus: list[object] = []

    def read(self, crop: Image, focus: object = None) -> list[LocalPlate]:
        self.focus.append(focus)
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise ValueError("bad frame")
        self.shapes.append(crop.shape[:2])
        return [LocalPlate("京A12345", True, 97, (10, 20, 140, 40), "蓝", True, "hsv")]


def collect() -> tuple[list[PlateRead], threading.Event, object]:
    got: list[PlateRead] = []
    done = threading.Event()

    def reply(read: PlateRead) -> None:
        got.append(read)
        done.set()
    return got, done, reply


def read_one(reader: FakeReader, candidate: Candidate) -> tuple[PlateRead, LocalReadPool]:
    """``candidate`` through a pool over ``reader``; its reading and the (stopped) pool."""
    pool = LocalReadPool(reader)
    pool.start()
    got, done, reply = collect()
    try:
        pool.submit(candidate, reply)  # type: ignore[arg-type]
        assert done.wait(5)
    finally:
        pool.stop()
    [read] = got
    return read, pool


def test_reads_the_roi_crop_and_maps_the_box_to_the_frame() -> None:
    reader = FakeReader()
    read, pool = read_one(reader, cand(1))
    assert reader.shapes == [(300, 400)]
    assert read.provider == "local" and not read.called and read.ok and read.box_found
    assert read.plate == "京A12345" and read.rect == Rect(110, 70, 140, 40)
    assert pool.stats()["reads"] == 1


def test_the_vehicles_box_reaches_the_reader_in_crop_pixels() -> None:
    reader = FakeReader()
    read_one(reader, replace(cand(1), focus=Rect(150, 80, 200, 120)))
    assert reader.focus == [(50, 30, 200, 120)]  # the ROI crop starts at (100, 50)


def test_a_plate_cut_by_the_crop_edge_is_evidence_without_a_box_to_send() -> None:
    cut = LocalPlate("", False, 0, (10, 0, 140, 30), "蓝", True, "hsv", clipped=True)
    read = to_read(cand(1), [cut], 12.0, 100, 50)
    assert read.box_found and not read.ok and read.plate is None and read.rect is None


def test_newest_candidate_per_camera_wins_the_older_is_dropped() -> None:
    gate = threading.Event()
    pool = LocalReadPool(FakeReader(gate))
    pool.start()
    got: list[PlateRead] = []
    try:
        pool.submit(cand(1), got.append)  # taken by the worker, which waits on the gate
        for _ in range(50):
            if pool.stats()["pending"] == 0:
                break
            threading.Event().wait(0.02)
        pool.submit(cand(2), got.append)  # waits in the slot ...
        pool.submit(cand(3), got.append)  # ... and is replaced by this one
        gate.set()
        for _ in range(100):
            if len(got) == 3:
                break
            threading.Event().wait(0.02)
    finally:
        pool.stop()
    by_seq = {r.frame_seq: r for r in got}
    assert by_seq[2].error_code == DROPPED and by_seq[3].ok and by_seq[1].ok
    assert pool.stats()["dropped"] == 1


def test_reader_failure_is_counted_logged_once_and_the_pool_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = LocalReadPool(FakeReader(fail=True))
    pool.start()
    got: list[PlateRead] = []
    try:
        with caplog.at_level(logging.ERROR, logger="daemon.ocr.localpool"):
            for seq in range(3):
                got_one = threading.Event()
                pool.submit(cand(seq), lambda r, e=got_one: (got.append(r), e.set()))
                assert got_one.wait(5)
    finally:
        pool.stop()
    assert [r.error_code for r in got] == [LOCAL_ERROR] * 3
    assert pool.stats()["errors"] == 3
    assert len([r for r in caplog.records if "local reader failed" in r.message]) == 1


def test_a_green_plate_read_with_seven_characters_is_no_plate_reading() -> None:
    """A green (new-energy) plate has 8 characters: 川F11703 read off one dropped its L
    (held-out seed 178, every character at 99-100). The text stays for the record."""
    dropped = LocalPlate("川F11703", False, 100, (10, 20, 140, 40), "绿", True, "hsv")
    read = to_read(cand(1), [dropped], 12.0, 0, 0)
    assert not read.ok and read.plate == "川F11703" and read.box_found
    whole = LocalPlate("川LF11703", True, 97, (10, 20, 140, 40), "绿", True, "hsv")
    assert to_read(cand(1), [whole], 12.0, 0, 0).ok
    blue = LocalPlate("川F11703", True, 99, (10, 20, 140, 40), "蓝", True, "hsv")
    assert to_read(cand(1), [blue], 12.0, 0, 0).ok
