"""Encode generated frames to H.264 MP4 (PyAV, or ffmpeg as a fallback) and write the ground truth.

``make_clip`` is the entry point: scenario in, ``<clip>.mp4`` and ``<clip>.json`` out.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import av
import numpy as np

from clipgen.render import Track, frames, make_track
from clipgen.scenarios import SCENARIOS
from clipgen.scene import PLATE_STYLES, Car, Parked, Scenario, clip_duration, ir_mode, stop_window


def _encode_pyav(
    frames: Iterator[np.ndarray], out: Path, width: int, height: int, fps: int
) -> None:
    with av.open(str(out), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 2 * fps
        stream.codec_context.max_b_frames = 0
        # One slice per picture, as cameras send: with slice threads every IDR is split
        # in two and RTP payloaders that repeat SPS/PPS per IDR NAL break FFmpeg clients.
        stream.codec_context.thread_type = "FRAME"
        stream.options = {
            "preset": "veryfast",
            "tune": "grain",  # keep some sensor noise instead of skipping it all in P-frames
            "crf": "23",
            "threads": "2",
            "x264-params": f"keyint={2 * fps}:min-keyint={2 * fps}:scenecut=0:slices=1",
        }
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _encode_ffmpeg(
    frames: Iterator[np.ndarray], out: Path, width: int, height: int, fps: int
) -> None:
    gop = 2 * fps
    args = (
        f"-v error -y -f rawvideo -pix_fmt bgr24 -s {width}x{height} -r {fps} -i - "
        f"-c:v libx264 -preset veryfast -tune grain -crf 23 -threads 2 -g {gop} -bf 0 "
        "-x264-params scenecut=0:slices=1:sliced-threads=0 -pix_fmt yuv420p -movflags +faststart"
    )
    cmd = ["/usr/bin/ffmpeg", *args.split(), str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    if proc.stdin is None:
        raise RuntimeError("ffmpeg has no stdin")
    try:
        for img in frames:
            proc.stdin.write(img.tobytes())
    finally:
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg exited with {proc.returncode}")


def _best(tr: Track, fps: int) -> int | None:
    """Frame to read the plate from: mid-halt if the car stops, else the widest legible plate."""
    legible = {e[0] for e in tr.legible}
    halt = stop_window(tr.car) if isinstance(tr.car, Car) else None
    if halt is not None and (mid := round((halt[0] + halt[1]) / 2 * fps)) in legible:
        return mid
    return max(tr.legible, key=lambda e: (e[3], -e[0]))[0] if tr.legible else None


def render(
    scenario: str | Scenario, size: tuple[int, int] = (1280, 720), fps: int = 25, seed: int = 1
) -> tuple[Scenario, list[Track], Iterator[np.ndarray], int]:
    """Scenario, tracks, a lazy frame iterator and the frame count, without encoding (tests)."""
    scn = SCENARIOS[scenario]() if isinstance(scenario, str) else scenario
    width, height = size
    tracks = [make_track(c) for c in scn.cars] + [make_track(p) for p in scn.parked]
    n_frames = round(clip_duration(scn, width, height, fps) * fps)
    it = frames(
        scn, width=width, height=height, fps=fps, seed=seed, tracks=tracks, n_frames=n_frames
    )
    return scn, tracks, it, n_frames


def truth_of(  # noqa: PLR0917 - mirrors make_clip's arguments
    scn: Scenario, tracks: list[Track], size: tuple[int, int], fps: int, seed: int, n_frames: int
) -> dict[str, Any]:
    """The ground truth of a rendered clip (call once the frame iterator is exhausted)."""
    vehicles = []
    for tr in tracks:
        car = tr.car
        number = car.number if isinstance(car, Car) else car.plate.replace("·", "")
        style = car.style if isinstance(car, Car) else ("green" if len(number) == 8 else "blue")
        halt = stop_window(car) if isinstance(car, Car) else None
        vehicles.append(
            {
                "plate": number,
                "plate_text": car.plate,
                "color": PLATE_STYLES[style][0],
                "plate_style": style,
                "body_rgb": list(car.body),
                "parked": isinstance(car, Parked),
                "enter_s": tr.frames[0] / fps if tr.frames else None,
                "exit_s": tr.frames[-1] / fps if tr.frames else None,
                "first_legible_frame": tr.legible[0][0] if tr.legible else None,
                "last_legible_frame": tr.legible[-1][0] if tr.legible else None,
                "stop_s": list(halt) if halt else None,
                "best_frame": _best(tr, fps),
                "plate_rects": tr.legible,
            }
        )
    segments: list[dict[str, Any]] = []
    for w in scn.walkers:
        segments.append({"kind": w.kind, "start_s": w.enter_s})
    for s in scn.ir_switch_s:
        segments.append({"kind": "ir_switch", "start_s": s, "to_ir": ir_mode(scn, s)})
    if scn.shake_px > 0:
        segments.append({"kind": "shake", "start_s": 0.0, "amplitude_px": scn.shake_px})
    return {
        "scenario": scn.name,
        "seed": seed,
        "fps": fps,
        "width": size[0],
        "height": size[1],
        "frames": n_frames,
        "duration_s": n_frames / fps,
        "cars": [asdict(c) for c in scn.cars],
        "vehicles": vehicles,
        "segments": segments,
        "overlay": scn.overlay,
    }


def make_clip(
    scenario: str | Scenario,
    out: Path | str,
    size: tuple[int, int] = (1280, 720),
    fps: int = 25,
    seed: int = 1,
) -> dict[str, Any]:
    """Render a scenario to ``out`` (H.264 MP4) and ``<out>.json``; return the ground truth."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scn, tracks, it, n_frames = render(scenario, size, fps, seed)
    width, height = size
    if "libx264" in av.codecs_available:
        _encode_pyav(it, out, width, height, fps)
    else:
        _encode_ffmpeg(it, out, width, height, fps)
    truth = truth_of(scn, tracks, size, fps, seed, n_frames)
    out.with_suffix(".json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), "utf-8")
    return truth
