"""``gatecam preview`` (issue 13, item 6): one live frame from the GStreamer RTSP test camera
with the ROI, the read line and the plate-size window drawn; ``--roi`` to try a polygon;
clear one-line errors for a bad polygon or a camera that does not answer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from daemon.cli.main import main
from daemon.cli.preview import BLUE, GREEN, YELLOW, draw_overlay
from daemon.errors import EX_CONFIG
from scripts.rig.broker import free_port
from scripts.rig.camera import RtspCamera
from scripts.rig.clips import ClipStore, clips

__all__ = ["clips"]

ROI = [(0.1, 0.4), (0.9, 0.4), (0.9, 1.0), (0.1, 1.0)]



def _near(pixel: np.ndarray, color: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(color)).max() <= 40)


def _config(tmp_path: Path, url: str, **camera: object) -> Path:
    path = tmp_path / "gatecam.yaml"
    path.write_text(yaml.safe_dump({
        "site": "lot-a", "passage": {"in_view_bottom": 0.5},
        "cameras": [{"id": "entry-1", "url": url, "roi": [list(p) for p in ROI],
                     "open_timeout_s": 3, "read_timeout_s": 3, **camera}]}))
    return path


def test_overlay_draws_roi_read_line_and_plate_window() -> None:
    img = draw_overlay(np.zeros((360, 640, 3), np.uint8), ROI, 0.5, 80, 240)
    assert _near(img[144, 320], GREEN)        # top edge of the ROI (y = 0.4 * 360)
    assert _near(img[216, 64], GREEN)         # left edge (x = 0.1 * 640)
    assert _near(img[252, 100], YELLOW)       # read line: 144 + 0.5 * 216
    assert _near(img[252, 320 - 120], BLUE)   # the widest plate's left side, 240 px wide
    assert _near(img[252, 320 - 40], BLUE)    # the narrowest plate's left side, 80 px wide
    assert not img[20:120].any()              # nothing above the lane


def test_preview_grabs_a_live_frame_and_draws_the_lane(
    tmp_path: Path, clips: ClipStore, capsys: pytest.CaptureFixture[str]
) -> None:
    clip, _ = clips.get("one_car", size=(640, 360), fps=10)
    out = tmp_path / "frame.png"
    with RtspCamera(clip, loop=True) as cam:
        cfg = _config(tmp_path, cam.url, min_plate_width_px=80, max_plate_width_px=240)
        assert main(["preview", "-c", str(cfg), "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert f"{out}: camera entry-1, frame 640x360" in printed
        assert "roi: [[0.1, 0.4], [0.9, 0.4], [0.9, 1], [0.1, 1]]" in printed
        img = cv2.imread(str(out))
        assert img.shape == (360, 640, 3)
        assert _near(img[144, 320], GREEN) and _near(img[252, 100], YELLOW)
        assert _near(img[252, 200], BLUE)
        assert img[20:120].std() > 5  # the camera's picture, not a blank canvas

        trial = tmp_path / "trial.png"  # --roi: try a polygon before writing it to the YAML
        assert main(["preview", "-c", str(cfg), "--out", str(trial),
                     "--roi", "0,0.5; 0.5,0.5; 0.5,1; 0,1"]) == 0
        assert "roi: [[0, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]]" in capsys.readouterr().out
        img = cv2.imread(str(trial))
        assert _near(img[180, 160], GREEN) and not _near(img[144, 320], GREEN)


def test_preview_bad_roi_is_one_config_line(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, "rtsp://127.0.0.1:9/cam")
    assert main(["preview", "-c", str(cfg), "--roi", "0,0; 1,x"]) == EX_CONFIG
    assert capsys.readouterr().err.strip() == \
        "config error: --roi '0,0; 1,x': point '1,x' is not x,y"
    assert main(["preview", "-c", str(cfg), "--roi", "0,0; 1,1"]) == EX_CONFIG
    assert "at least 3 points" in capsys.readouterr().err
    assert main(["preview", "-c", str(cfg), "--camera", "nope"]) == EX_CONFIG
    assert "no camera 'nope'" in capsys.readouterr().err


def test_preview_of_a_silent_camera_is_one_line_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, f"rtsp://viewer:Hunter2pw@127.0.0.1:{free_port()}/cam")
    assert main(["preview", "-c", str(cfg), "--out", str(tmp_path / "x.jpg")]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: camera entry-1 (rtsp://viewer:***@127.0.0.1:")
    assert "Hunter2pw" not in line
    assert not (tmp_path / "x.jpg").exists()
