"""A local reading is final only when its characters are sure (issue 11): two frames that
agree on a plate whose province the reader was unsure of (a small night plate: 鲁 for 青
at 0.4-0.8 while the rest are at 0.99, mean confidence 90-97) call the cloud in
local_first, stay undecided in local mode and carry no more confidence than their weakest
character into the passage (so an allow on it needs that character sure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from daemon.config.models import PassageConfig
from daemon.domain import Frame, PlateRead, Rect
from daemon.lane.plategate import GateSettings, PlateGate
from daemon.lane.sureness import honest_confidence, weakest

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
IMAGE = np.zeros((360, 640, 3), np.uint8)
SURE = (99, 99, 99, 98, 99, 99, 99)
WEAK_PROVINCE = (52, 99, 99, 98, 99, 99, 99)


def local(seq: int, plate: str, chars: tuple[int, ...], confidence: int = 93) -> PlateRead:
    return PlateRead(
        camera_id="entry-1", passage_id="p1", frame_seq=seq, ok=True, plate=plate,
        confidence=confidence, rect=Rect(300, 250, 140, 40), called=False, provider="local",
        box_found=True, chars=chars,
    )


def feed(gate: PlateGate, reads: list[PlateRead], start: float = 1.0) -> list:
    return [gate.on_local(r, start + 0.1 * i) for i, r in enumerate(reads)]


def test_two_agreeing_sure_readings_are_final() -> None:
    gate = PlateGate(GateSettings(mode="local"), PassageConfig())
    steps = feed(gate, [local(1, "青ZHJ788", SURE), local(2, "青ZHJ788", SURE)])
    assert steps[0].final is None
    assert steps[1].final is not None and steps[1].final.plate == "青ZHJ788"


def test_agreeing_readings_with_an_unsure_character_are_not_final() -> None:
    gate = PlateGate(GateSettings(mode="local"), PassageConfig())
    steps = feed(gate, [local(i, "鲁ZHJ788", WEAK_PROVINCE, 97) for i in range(1, 5)])
    assert all(s.final is None for s in steps)
    plate, read = gate.local_readings()[0]  # what the passage closes with, offline
    assert plate == "鲁ZHJ788"
    assert read.confidence == 52  # the weak character's, not the mean's 97
    assert gate.local_confidence("鲁ZHJ788") == 52


def test_one_very_confident_reading_is_final_only_when_every_character_is_sure() -> None:
    gate = PlateGate(GateSettings(mode="local"), PassageConfig())
    assert feed(gate, [local(1, "鲁ZHJ788", WEAK_PROVINCE, 99)])[0].final is None
    gate = PlateGate(GateSettings(mode="local"), PassageConfig())
    assert feed(gate, [local(1, "青ZHJ788", SURE, 99)])[0].final is not None


def test_sure_readings_outvote_unsure_misreads() -> None:
    """Misreads first (the plate still small), then the right reading: the unsure ones do
    not count towards agreement or against the majority."""
    gate = PlateGate(GateSettings(mode="local"), PassageConfig())
    reads = [local(1, "鲁ZHJ788", WEAK_PROVINCE), local(2, "鲁ZHJ788", WEAK_PROVINCE),
             local(3, "青ZHJ788", SURE), local(4, "青ZHJ788", SURE)]
    finals = [s.final for s in feed(gate, reads) if s.final is not None]
    assert [f.plate for f in finals] == ["青ZHJ788"]


def test_local_first_calls_the_cloud_for_unsure_agreeing_readings() -> None:
    cfg = PassageConfig()
    gate = PlateGate(GateSettings(mode="local_first"), cfg)
    steps = []
    for i in range(1, 8):
        pts = 1.0 + 0.1 * i
        frame = Frame("entry-1", i, pts, T0 + timedelta(seconds=pts), IMAGE)
        assert gate.offer(frame, 1.0, pts) is frame
        steps.append(gate.on_local(local(i, "鲁ZHJ788", WEAK_PROVINCE, 97), pts + cfg.settle_s))
    assert all(s.final is None for s in steps)
    assert any(s.cloud is not None for s in steps)


def test_weakest_and_honest_confidence() -> None:
    read = local(1, "鲁ZHJ788", WEAK_PROVINCE, 97)
    assert weakest(read) == 52
    assert honest_confidence(read, 85) == 52
    assert honest_confidence(local(1, "青ZHJ788", SURE, 97), 85) == 97
    cloud = PlateRead(camera_id="c", passage_id="p", frame_seq=1, ok=True, plate="青ZHJ788",
                      confidence=91)
    assert weakest(cloud) == 91 and honest_confidence(cloud, 95) == 91  # the cloud's own


def read_frames(gate: PlateGate, reads: list[tuple[float, PlateRead]]) -> list:
    """Offer each read's frame to the gate at its pts, then give it the reading."""
    steps = []
    for pts, read in reads:
        frame = Frame("entry-1", read.frame_seq, pts, T0 + timedelta(seconds=pts), IMAGE)
        assert gate.offer(frame, 1.0, pts) is frame
        steps.append(gate.on_local(read, pts))
    return steps


def test_cloud_mode_calls_at_once_only_on_a_sure_reading() -> None:
    gate = PlateGate(GateSettings(mode="cloud"), PassageConfig())
    steps = read_frames(gate, [(1.0, local(1, "鲁ZHJ788", WEAK_PROVINCE, 97)),
                               (1.1, local(2, "青ZHJ788", SURE, 95))])
    assert steps[0].cloud is None  # unsure: wait for a better frame
    assert steps[1].cloud is not None and steps[1].cloud.seq == 2


def test_cloud_mode_sends_the_best_frame_after_settling_when_no_reading_is_sure() -> None:
    cfg = PassageConfig()
    gate = PlateGate(GateSettings(mode="cloud"), cfg)
    weak = [(1.0 + 0.1 * i, local(i + 1, "鲁ZHJ788", WEAK_PROVINCE, 90 + i)) for i in range(4)]
    steps = read_frames(gate, [*weak, (1.0 + cfg.settle_s, local(9, "鲁ZHJ788",
                                                                  WEAK_PROVINCE, 88))])
    assert all(s.cloud is None for s in steps[:-1])
    assert steps[-1].cloud is not None and steps[-1].cloud.seq == 4  # the most confident


def test_a_sure_reading_is_not_final_while_the_fused_characters_disagree() -> None:
    """A small night plate (seed 17): the province guessed at 5-40 % in many frames, then
    read 苏 surely (and at 98 +) once: the characters fused over the passage do not back
    it, so it is not final; offline the passage closes with the most frequent reading."""
    guesses = [local(i, "琼DY9882", (5 + 3 * i, 99, 100, 99, 100, 100, 100), 93)
               for i in range(1, 11)]
    sure_su = local(11, "苏DY9882", (95, 100, 100, 100, 100, 100, 100), 99)
    gate = PlateGate(GateSettings(mode="local"), PassageConfig())
    steps = feed(gate, [*guesses, sure_su])
    assert all(s.final is None for s in steps)
    assert gate.local_readings()[0][0] == "琼DY9882"
    # the same sure reading with nothing against it is final at once
    gate = PlateGate(GateSettings(mode="local"), PassageConfig())
    assert feed(gate, [sure_su])[0].final is not None


def test_agreeing_sure_readings_stay_final_after_a_few_weak_ones() -> None:
    """The fused check does not hold back the common case: a few weak frames while the
    plate is small, then sure agreeing ones."""
    gate = PlateGate(GateSettings(mode="local"), PassageConfig())
    reads = [local(1, "鲁ZHJ788", WEAK_PROVINCE), local(2, "青ZHJ788", SURE),
             local(3, "青ZHJ788", SURE)]
    finals = [s.final for s in feed(gate, reads) if s.final is not None]
    assert [f.plate for f in finals] == ["青ZHJ788"]
