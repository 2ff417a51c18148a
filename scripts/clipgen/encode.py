"""Encode generated frames to H.264 MP4 (PyAV, or ffmpeg as a fallback) and write the ground truth.

``make_clip`` is the entry point: scenario in, ``<clip>.mp4`` and ``<clip>.json`` out
(the truth is built by ``truth.py``). The scenario's ``crf`` sets the compression.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

from clipgen.motion import clip_duration
from clipgen.render import Track, frames, make_track
from clipgen.scenarios import SCENARIOS
from clipgen.scene import Scenario
from clipgen.truth import truth_of


def _encode_pyav(  # noqa: PLR0917 - the encoder's knobs
    frames: Iterator[np.ndarray], out: Path, width: int, height: int, fps: int, crf: int = 23
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
            "crf": str(crf),
            "threads": "2",
            "x264-params": f"keyint={2 * fps}:min-keyint={2 * fps}:scenecut=0:slices=1",
        }
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _encode_ffmpeg(  # noqa: PLR0917 - the encoder's knobs
    frames: Iterator[np.ndarray], out: Path, width: int, height: int, fps: int, crf: int = 23
) -> None:
    gop = 2 * fps
    args = (
        f"-v error -y -f rawvideo -pix_fmt bgr24 -s {width}x{height} -r {fps} -i - "
        f"-c:v libx264 -preset veryfast -tune grain -crf {crf} -threads 2 -g {gop} -bf 0 "
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


def render(
    scenario: str | Scenario, size: tuple[int, int] = (1280, 720), fps: int = 25, seed: int = 1
) -> tuple[Scenario, list[Track], Iterator[np.ndarray], int]:
    """Scenario, tracks, a lazy frame iterator and the frame count, without encoding (tests).

    A scenario that fixes its camera's frame (``Scenario.size``) is rendered at that size;
    ``size`` is the default for the others.
    """
    scn = SCENARIOS[scenario]() if isinstance(scenario, str) else scenario
    width, height = scn.size or size
    # sprites at least as fine as the frame needs: a 1920-wide camera sees sharper plates
    scale = scn.camera.s_cap * max(1.0, width / 1280.0)
    tracks = [make_track(c, scale) for c in scn.cars] + [make_track(p, scale) for p in scn.parked]
    n_frames = round(clip_duration(scn, width, height, fps) * fps)
    it = frames(
        scn, width=width, height=height, fps=fps, seed=seed, tracks=tracks, n_frames=n_frames
    )
    return scn, tracks, it, n_frames


def make_clip(
    scenario: str | Scenario,
    out: Path | str,
    size: tuple[int, int] = (1280, 720),
    fps: int = 25,
    seed: int = 1,
) -> dict[str, Any]:
    """Render a scenario to ``out`` (H.264 MP4) and ``<out>.json``; return the ground truth.

    The clip's size is ``Scenario.size`` when the scenario fixes it, else ``size``; the
    truth's ``width`` / ``height`` say which.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scn, tracks, it, n_frames = render(scenario, size, fps, seed)
    size = scn.size or size
    width, height = size
    if "libx264" in av.codecs_available:
        _encode_pyav(it, out, width, height, fps, scn.crf)
    else:
        _encode_ffmpeg(it, out, width, height, fps, scn.crf)
    truth = truth_of(scn, tracks, size, fps, seed, n_frames)
    out.with_suffix(".json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), "utf-8")
    return truth
