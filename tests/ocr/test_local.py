"""The local plate reader on rendered plate crops and plateless crops; its load errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from daemon.errors import EX_CONFIG, ReaderError, exit_code
from daemon.ocr import localise
from daemon.ocr.local import (
    DET_MODEL,
    REC_MODEL,
    LocalPlate,
    LocalPlateReader,
    model_dir,
    plate_chars,
)
from daemon.ocr.strip import text_rows
from tests.support.ocr import render_plate


@pytest.fixture(scope="module")
def reader() -> LocalPlateReader:
    return LocalPlateReader("hsv+det")


def _image(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


@pytest.mark.parametrize(
    ("text", "fill", "color"),
    [
        ("京A·F0236", (20, 60, 180), "蓝"),
        ("沪B·12345", (220, 180, 20), "黄"),
        ("粤C·D8K21", (20, 60, 180), "蓝"),
    ],
)
def test_reads_a_rendered_plate_with_box_colour_and_confidence(
    reader: LocalPlateReader, text: str, fill: tuple[int, int, int], color: str
) -> None:
    img = _image(render_plate(text, fill=fill))
    crop = img[180:720, 0:1280]  # the lane ROI crop, as the pool cuts it
    found = reader.read(crop)
    assert found, "no plate found"
    best = found[0]
    assert best.text == text.replace("·", "")
    assert best.valid and best.box_found
    assert best.color == color
    assert best.confidence >= 80
    assert len(best.chars) == len(best.text)  # one probability per plate character
    assert best.confidence == round(sum(best.chars) / len(best.chars)) or abs(
        best.confidence - sum(best.chars) / len(best.chars)) <= 1
    x, y, w, h = best.box  # the rendered plate spans x 500-830, y 400-490 of the frame
    assert abs(x - 500) < 30 and abs((y + 180) - 400) < 30 and 300 < w < 380 and h < 130


@pytest.mark.parametrize("cut", [15, 40])
def test_a_plate_cut_by_the_crop_edge_is_evidence_but_no_reading(
    reader: LocalPlateReader, cut: int
) -> None:
    """The plate's top rows outside the crop (a car entering the ROI): a cut province
    character reads as another (晋 -> 鲁), so no text, and no box for a cloud call."""
    img = _image(render_plate("晋A·F0236", fill=(20, 60, 180)))
    crop = img[400 + cut : 720, 0:1280]  # the plate spans y 400-490 of the frame
    found = reader.read(crop)
    assert any(p.clipped and p.box_found and p.text == "" for p in found)
    assert not any(p.valid for p in found)
    whole = reader.read(img[390:720, 0:1280])[0]  # 10 px of margin: read as usual
    assert not whole.clipped and whole.text == "晋AF0236"


@pytest.mark.parametrize("scene", ["grey", "noise", "stripes"])
def test_plateless_crops_give_no_valid_plate(reader: LocalPlateReader, scene: str) -> None:
    rng = np.random.default_rng(3)
    crop = np.full((567, 1280, 3), 90, np.uint8)
    if scene == "noise":
        crop = rng.integers(0, 255, crop.shape, dtype=np.uint8)
    elif scene == "stripes":  # a zebra crossing / a fence: dense edges, no characters
        crop[200:300, ::40] = 255
        crop[200:300, 1::40] = 255
    assert not any(p.valid for p in reader.read(crop))


@pytest.fixture(scope="module")
def hsv_reader() -> LocalPlateReader:
    return LocalPlateReader("hsv")


@pytest.mark.parametrize("text", ["京A·F0236", "琼B·77NA4", "粤C·D8K21"])
@pytest.mark.parametrize("shade", [0.3, 0.4, 0.5])
def test_a_plate_half_in_shadow_is_read_whole(
    hsv_reader: LocalPlateReader, monkeypatch: pytest.MonkeyPatch, text: str, shade: float
) -> None:
    """The left part of the plate (``shade`` of its width) in a deep shadow: the colour mask
    boxes the rest alone, which reads as part of the plate (held-out seed 59: 7NA4 of
    琼B77NA4). The box widened to a whole plate reads it all; without that, no valid
    reading (the control)."""
    img = _image(render_plate(text))  # the plate spans x 500-830, y 400-490
    x1 = 500 + int(330 * shade)
    img[390:500, 300:x1] = (img[390:500, 300:x1] * 0.2).astype(np.uint8)
    crop = img[180:720, 0:1280]
    best = hsv_reader.read(crop)[0]
    assert best.valid and best.text == text.replace("·", "") and best.confidence >= 90
    x, _, w, _ = best.box
    assert x <= 520 and x + w > 820  # its text, the province (from x 512) included
    monkeypatch.setattr(LocalPlateReader, "_widened", lambda *_a: [])
    monkeypatch.setattr(localise, "BIG_GAPS", ())  # whose wide edge pass may box it whole
    part = hsv_reader.read(crop)
    assert part and not any(p.valid for p in part) and 3 <= len(part[0].text) < 7


@pytest.mark.parametrize("text", ["赣S·T7108", "京A·F0236", "粤C·D8K21"])
@pytest.mark.parametrize("font_px", [110, 150])
def test_a_big_grey_plate_close_to_the_camera_is_found_by_its_edges(
    hsv_reader: LocalPlateReader, text: str, font_px: int
) -> None:
    """A night IR frame (no colour) of a car close to a 1080p camera: a 470-650 px plate,
    its character gaps and the gap after the province wider than the edge pass's kernel
    (held-out seed 141: never found, the lane's timestamp overlay read instead). The wider
    passes (``localise.BIG_GAPS``) box it whole."""
    width = int(font_px * 4.3)
    box = (700, 500, 700 + width, 500 + int(font_px * 1.35))
    img = _image(render_plate(text, (1920, 1080), box, (110, 110, 110), font_px))
    best = hsv_reader.read(img[270:1080])[0]
    assert best.valid and best.text == text.replace("·", "")
    x, _, w, _ = best.box
    assert x <= 730 and x + w >= 700 + width * 0.8


def test_tiny_or_grey_input_is_no_plate(reader: LocalPlateReader) -> None:
    assert reader.read(np.zeros((8, 8, 3), np.uint8)) == []
    assert reader.read(np.zeros((100, 100), np.uint8)) == []


def test_missing_model_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReaderError) as err:
        LocalPlateReader(models=tmp_path)
    assert REC_MODEL in str(err.value) and len(err.value.lines) == 1
    assert exit_code(err.value) == EX_CONFIG


def test_broken_model_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / REC_MODEL).write_bytes(b"not an onnx model")
    shutil.copy(model_dir() / DET_MODEL, tmp_path / DET_MODEL)
    with pytest.raises(ReaderError, match="cannot load"):
        LocalPlateReader(models=tmp_path)


def test_each_plate_character_keeps_its_own_probability() -> None:
    """Separators the recogniser reads (the plate's dot, a space) are dropped with their
    probabilities: the weak province stays lined up with its character."""
    read = [("青", 0.41), ("Z", 0.99), ("·", 0.93), ("H", 1.0), (" ", 0.5), ("Ｊ", 0.98),
            ("7", 0.97), ("8", 0.99), ("8", 0.96)]
    text, probs = plate_chars(read)
    assert text == "青ZHJ788"
    assert probs == [0.41, 0.99, 1.0, 0.98, 0.97, 0.99, 0.96]


def test_a_first_character_that_is_no_province_takes_the_likeliest_province() -> None:
    """A smeared 粤 read as 4: the grammar says a province stands there, the model's own
    probabilities say which, and its low probability makes the reading unsure."""
    tail = [("W", 0.99), ("9", 0.98), ("3", 0.99), ("1", 0.97), ("V", 0.99), ("9", 0.96)]
    text, probs = LocalPlateReader._first_province([("4", 0.93), *tail], ("粤", 0.05))
    assert text == "粤W931V9"
    assert probs[0] == 0.05 and probs[1:] == [p for _, p in tail]


def test_the_province_alternative_is_not_used_when_it_does_not_make_a_plate() -> None:
    valid = [("京", 0.97), ("A", 0.99), ("F", 0.98), ("0", 0.99), ("2", 0.97), ("3", 0.99),
             ("6", 0.96)]
    assert LocalPlateReader._first_province(valid, None)[0] == "京AF0236"
    # the province was not read at all: replacing the authority letter makes no plate
    missing = valid[1:]
    assert LocalPlateReader._first_province(missing, ("川", 0.02))[0] == "AF0236"


def test_a_province_decoded_as_blank_is_inserted_before_the_authority_letter() -> None:
    """宁V1U821 read V1U821 (the province's time steps were blank): the likeliest province
    before the first character makes the plate, with its own low probability."""
    tail = [("V", 1.0), ("1", 1.0), ("U", 0.73), ("8", 1.0), ("2", 0.99), ("1", 1.0)]
    text, probs = LocalPlateReader._first_province(tail, ("鄂", 0.01), ("宁", 0.02))
    assert text == "宁V1U821" and probs[0] == 0.02
    # a smeared 粤 read as 4 is replaced, not preceded, when that province is likelier
    tail = [("W", 0.99), ("9", 0.98), ("3", 0.99), ("1", 0.97), ("V", 0.99), ("9", 0.96)]
    assert LocalPlateReader._first_province([("4", 0.9), *tail], ("粤", 0.3), ("京", 0.01))[
        0] == "粤W931V9"


def test_text_rows_cut_a_strip_down_to_its_band_of_text() -> None:
    """A plate box holding its recess above and below: only the rows with the characters'
    vertical strokes (plus a fifth of their height each side) go to the recogniser."""
    strip = np.full((60, 150, 3), 90, np.uint8)
    strip[20:40, 10:140:8] = 250  # vertical strokes in rows 20-39
    cut = text_rows(strip)
    assert 18 <= cut.shape[0] < 40
    assert (cut == 250).any()
    flat = np.full((60, 200, 3), 90, np.uint8)
    assert text_rows(flat) is flat  # nothing stands out: the strip as it was
    car = np.full((60, 600, 3), 90, np.uint8)  # a box round a whole car, the plate inside
    car[20:40, 250:350:8] = 250
    assert text_rows(car) is car  # 28 rows by 600 px: too flat to be a plate's characters

def test_recognition_runs_give_the_arena_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recognition runs shrink onnxruntime's CPU arena when they end, so its size does not
    stay at what the widest strip ever needed; detector runs keep theirs (a shrunk one costs
    13 % more reading time, and an empty lane runs the detector on every read)."""
    import onnxruntime as ort

    from daemon.ocr.models import ARENA_SHRINKAGE

    seen: list[tuple[object, str | None]] = []
    run = ort.InferenceSession.run

    def spy(self: object, names: object, feed: object, run_options: object = None) -> object:
        shrink = None if run_options is None else (
            run_options.get_run_config_entry(ARENA_SHRINKAGE))  # type: ignore[attr-defined]
        seen.append((self, shrink))
        return run(self, names, feed, run_options)

    monkeypatch.setattr(ort.InferenceSession, "run", spy)
    reader = LocalPlateReader("hsv+det")
    assert reader.read(_image(render_plate("京A·F0236", fill=(20, 60, 180))))
    reader.read(np.full((300, 900, 3), 128, np.uint8))  # no colour box: the detector runs
    assert {s for sess, s in seen if sess is reader._rec} == {"cpu:0"}
    assert {s for sess, s in seen if sess is reader._det} == {None}


@pytest.mark.parametrize(("w", "h"), [(1920, 810), (1280, 567), (960, 405), (640, 283)])
def test_shrink_averages_like_an_area_resize_to_the_work_width(w: int, h: int) -> None:
    """A 1-px checkerboard (the finest detail a crop has) shrinks to grey, its mean as an
    area resize gives it, not to the black and white a decimation gives (spread 127): by
    area for each halving, so 1920 and 1280 wide are as smooth as area; the rest, under 2x
    (960 -> 640), by linear interpolation, smoother than decimation but not as area (spread
    31 against 14: the held-out 960x540 clips read the same, bench_reader)."""
    board = ((np.indices((h, w)).sum(axis=0) % 2) * 255).astype(np.uint8)
    img = np.dstack([board] * 3)
    small = localise.shrink(img, 640)
    assert small.shape[1] == 640 and abs(small.shape[0] - round(h * 640 / w)) <= 1
    if w == 640:
        assert small is img
        return
    area = cv2.resize(img, (640, small.shape[0]), interpolation=cv2.INTER_AREA)
    assert abs(float(small.mean()) - float(area.mean())) < 3
    halved = w >= 2 * 640  # at least one halving by area
    assert float(small.std()) <= (float(area.std()) + 5 if halved else 40)


def test_a_box_cut_by_the_crop_edge_is_recognised_only_when_nothing_else_reads(
    hsv_reader: LocalPlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its text is dropped anyway (a cut plate misreads): recognising it first, as the
    colour order had it (held-out seed 273: a yellow car body at the crop's top edge, 30 ms
    a frame), was wasted where a whole plate reads. With none, it still counts as
    evidence."""
    img = _image(render_plate("京A·F0236", fill=(20, 60, 180)))  # plate at x 500-830
    crop = img[180:720, 0:1280].copy()
    crop[0:40, 100:420] = (20, 60, 180)  # a wide blue band cut by the crop's top edge
    seen: list[tuple[int, int, int, int]] = []
    recognise = LocalPlateReader._recognise

    def spy(self: LocalPlateReader, c: np.ndarray, box: tuple[int, int, int, int],
            color: str | None, source: str) -> LocalPlate:
        seen.append(box)
        return recognise(self, c, box, color, source)

    monkeypatch.setattr(LocalPlateReader, "_recognise", spy)
    monkeypatch.setattr(localise, "hsv_boxes", lambda *_a: [((100, 0, 320, 40), "蓝"),
                                                            ((500, 220, 330, 90), "蓝")])
    monkeypatch.setattr("daemon.ocr.local.hsv_boxes", localise.hsv_boxes)
    best = hsv_reader.read(crop)[0]
    assert best.valid and best.text == "京AF0236"
    assert seen == [(500, 220, 330, 90)]  # the cut band never recognised
    seen.clear()
    crop[220:310, 500:830] = (90, 90, 90)  # no plate: the cut band is all there is
    found = hsv_reader.read(crop)
    assert (100, 0, 320, 40) in seen and not any(p.valid for p in found)


def test_a_plate_in_the_vehicles_box_is_read_before_a_parked_one(
    hsv_reader: LocalPlateReader,
) -> None:
    """Held-out seed 277: a parked car's plate, boxed first (the colour boxes go widest
    first), read validly, ended the read before the car's own: the car published plateless.
    With the vehicle's box as ``focus`` its plate is read first; without, the parked one."""
    car = _image(render_plate("粤C·D8K21", box=(520, 420, 770, 490), font_px=48))
    parked = _image(render_plate("京A·F0236", box=(40, 250, 370, 340)))
    car[250:341, 40:371] = parked[250:341, 40:371]
    crop = car[180:720, 0:1280]
    assert hsv_reader.read(crop)[0].text == "京AF0236"  # widest first: the parked plate
    found = hsv_reader.read(crop, focus=(420, 100, 450, 300))  # the car, crop pixels
    assert found[0].valid and found[0].text == "粤CD8K21"
