#!/usr/bin/env python3
"""Idle-decoding bench: is a vehicle missed or read late when an empty lane decodes key frames?

The labelled scenario set (``scripts/clipgen``) is rendered with a 1 s and a 2 s GOP (key
frame every 25 or 50 frames at 25 fps, as an installer may set the camera). Each clip is
played after a still lead-in (``--lead-s``, so the camera is already idle when the action
starts) of ``--phases`` lengths, so a vehicle meets the key frames at every phase (just
after a key frame is the worst case: it is seen up to one GOP later). Each clip
runs through the real pipeline (``daemon.app.App``, fast replay, the Tencent emulator on
loopback) twice: ``idle_decode: off`` (every frame decoded) and ``idle_decode:
keyframes`` (key frames only while the lane is empty, full rate from the key frame that
shows motion). The run itself is ``scripts/bench_selection.py``'s ``run_one`` (imported,
its oracle reads a plate when it is >= 120 px wide inside the uploaded crop;
``--reader rapidocr`` reads the JPEG pixels instead).

Per GOP and mode: recall, the vehicles missed, calls per vehicle and the delay from the
plate's first legible frame to the call that read it. The last line is one JSON object:
``{"gop_1s": {"full": {...}, "idle": {...}, "lost": [...], "recall_unchanged": bool,
"read_delay_added_ms": {...}}, "gop_2s": {...}}``.

``python scripts/bench_idle.py [--size 1280x720] [--gops 1,2] [--scenarios a,b]``
``[--reader oracle|rapidocr]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_selection
from selection_score import totals

import daemon.capture.thread as capture_thread
from daemon.capture.slot import frame_from_av
from daemon.config.models import Config
from daemon.ocr.emulator.readers import OracleReader, PlateFound, RapidOcrReader
from daemon.ocr.emulator.server import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
MODES = {"full": {"idle_decode": "off"}, "idle": {"idle_decode": "keyframes"}}
"""Camera settings of the two runs compared (everything else is the default)."""
ENCODING = "veryfast grain crf23 bf0 slices1 v1"
"""Part of the clip cache key: change it when :func:`encode_gop` changes."""


def encode_gop(frames: Any, out: Path, size: tuple[int, int], fps: int, gop: int) -> None:
    """H.264 as ``clipgen.encode`` makes it (veryfast, grain, crf 23, no B-frames, one
    slice), with a key frame every ``gop`` frames."""
    import av

    with av.open(str(out), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = 0
        stream.codec_context.thread_type = "FRAME"
        stream.options = {
            "preset": "veryfast", "tune": "grain", "crf": "23", "threads": "2",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:slices=1",
        }
        for img in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        container.mux(stream.encode(None))


def _render(job: tuple[str, str, tuple[int, int], int]) -> str:
    from clipgen.encode import render, truth_of

    name, out, size, gop_s = job
    fps = 25
    scn, tracks, frames, n = render(name, size, fps)
    encode_gop(frames, Path(out), size, fps, gop_s * fps)
    truth = truth_of(scn, tracks, size, fps, 1, n)
    Path(out).with_suffix(".json").write_text(json.dumps(truth, ensure_ascii=False), "utf-8")
    return out


def ensure_clips(names: list[str], size: tuple[int, int], gops: list[int],
                 folder: Path) -> dict[tuple[int, str], Path]:
    """Render missing clips (2 processes), cached by the generator's source hash."""
    h = hashlib.sha256(bench_selection._source_hash().encode())
    h.update(ENCODING.encode())
    tag = f"{size[0]}x{size[1]}-{h.hexdigest()[:10]}"
    paths = {(g, n): folder / f"gop{g}s" / f"{n}-{tag}.mp4" for g in gops for n in names}
    todo = [(n, str(p), size, g) for (g, n), p in paths.items()
            if not p.with_suffix(".json").is_file()]
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    if todo:
        print(f"rendering {len(todo)} clip(s) into {folder} ...", flush=True)
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_render, todo))
    return paths


def shift_truth(truth: dict[str, Any], lead: int) -> dict[str, Any]:
    """The ground truth of a clip with ``lead`` frames put before it."""
    dt = lead / truth["fps"]
    out = {**truth, "frames": truth["frames"] + lead, "duration_s": truth["duration_s"] + dt}
    vehicles = []
    for original in truth["vehicles"]:
        v = dict(original)
        for k in ("enter_s", "exit_s"):
            v[k] = None if v[k] is None else v[k] + dt
        for k in ("first_legible_frame", "last_legible_frame", "best_frame"):
            v[k] = None if v[k] is None else v[k] + lead
        v["stop_s"] = None if v["stop_s"] is None else [x + dt for x in v["stop_s"]]
        v["plate_rects"] = [[n + lead, *rest] for n, *rest in v["plate_rects"]]
        vehicles.append(v)
    out["vehicles"] = vehicles
    out["segments"] = [{**s, "start_s": s["start_s"] + dt} for s in truth["segments"]]
    return out


def _phase(job: tuple[str, str, int, int]) -> str:
    """Re-encode ``src`` (same GOP) after ``lead`` copies of its first frame."""
    import av

    src, out, gop, lead = job
    with av.open(src) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]
    size = (frames[0].shape[1], frames[0].shape[0])
    encode_gop(iter([frames[0]] * lead + frames), Path(out), size, 25, gop)
    truth = json.loads(Path(src).with_suffix(".json").read_text("utf-8"))
    Path(out).with_suffix(".json").write_text(
        json.dumps(shift_truth(truth, lead), ensure_ascii=False), "utf-8")
    return out


def phase_clips(base: dict[tuple[int, str], Path], phases: int,
                lead_s: float) -> dict[tuple[int, str], Path]:
    """Per GOP and scenario, ``phases`` clips whose action starts at ``lead_s`` plus
    0, 1/phases, ... of a GOP: the car meets the key frames at every phase, and the camera
    has been idle (asleep) before it comes."""
    out: dict[tuple[int, str], Path] = {}
    todo = []
    for (g, name), src in base.items():
        for k in range(phases):
            lead = round(lead_s * 25) + round(k * g * 25 / phases)
            path = src.with_name(f"{src.stem}-lead{lead}.mp4")
            out[(g, f"{name}@{k}")] = path
            if not path.with_suffix(".json").is_file():
                todo.append((str(src), str(path), g * 25, lead))
    if todo:
        print(f"encoding {len(todo)} phase clip(s) ...", flush=True)
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_phase, todo))
    return out


class _CameraOptions:
    """Stands in for ``Config`` inside bench_selection: adds camera settings to its config."""

    options: ClassVar[dict[str, Any]] = {}

    @classmethod
    def model_validate(cls, data: dict[str, Any]) -> Config:
        data = {**data, "cameras": [{**c, **cls.options} for c in data["cameras"]]}
        return Config.model_validate(data)


def run_all(names: list[str], gops: list[int], paths: dict[tuple[int, str], Path],
            reader: str) -> dict[int, dict[str, dict[str, dict[str, Any]]]]:
    """Rows per GOP, mode and scenario (bench_selection's figures)."""
    current: dict[str, bench_selection.RunState] = {}
    rapid = RapidOcrReader() if reader == "rapidocr" else None

    def read(image: bytes) -> list[PlateFound]:
        if rapid is None:
            return OracleReader(current["s"].oracle)(image)
        found = rapid(image)
        current["s"].calls[-1].answer = found[0].number if found else None
        return found

    results: dict[int, dict[str, dict[str, dict[str, Any]]]] = {
        g: {m: {} for m in MODES} for g in gops}
    delivered = [0]

    def counting(*a: Any, **kw: Any) -> Any:  # the frames capture hands to the lane
        delivered[0] += 1
        return frame_from_av(*a, **kw)

    emulator = EmulatorServer(rate_limit=1000.0, reader=read).start()
    # patched for the runs: bench_selection builds its config with this Config, and
    # capture wraps each decoded frame with this frame_from_av
    setattr(bench_selection, "Config", _CameraOptions)  # noqa: B010
    setattr(capture_thread, "frame_from_av", counting)  # noqa: B010
    try:
        for g in gops:
            for name in names:
                path = paths[(g, name)]
                truth = json.loads(path.with_suffix(".json").read_text("utf-8"))
                for mode, options in MODES.items():
                    _CameraOptions.options = options
                    current["s"] = bench_selection.RunState(truth)
                    t0 = time.monotonic()
                    delivered[0] = 0
                    row = bench_selection.run_one(path, truth, "gatecam", emulator, current["s"])
                    row["frames_decoded"] = delivered[0]
                    row["frames"] = truth["frames"]
                    results[g][mode][name] = row
                    print(f"  gop {g} s  {mode:<5} {name:<14} {row['hits']}/{row['legible']} "
                          f"read, {delivered[0]}/{truth['frames']} frames decoded  "
                          f"{time.monotonic() - t0:5.1f} s", flush=True)
    finally:
        setattr(bench_selection, "Config", Config)  # noqa: B010
        setattr(capture_thread, "frame_from_av", frame_from_av)  # noqa: B010
        emulator.stop()
    return results


def compare(rows: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Full against idle for one GOP: totals, vehicles lost, read delay added per vehicle."""
    out: dict[str, Any] = {m: totals(rows[m]) for m in MODES}
    lost, added = [], []
    for name, full in rows["full"].items():
        idle = rows["idle"][name]
        lost += [f"{name}:{p}" for p in idle["missed"] if p not in full["missed"]]
        added += [b - a for a, b in zip(full["delays"], idle["delays"], strict=False)]
    for m in MODES:
        out[m]["decoded_share"] = round(
            sum(r["frames_decoded"] for r in rows[m].values())
            / max(1, sum(r["frames"] for r in rows[m].values())), 3)
    out["lost"] = lost
    out["recall_unchanged"] = out["idle"]["recall"] >= out["full"]["recall"] and not lost
    out["read_delay_added_ms"] = {
        "median": round(statistics.median(added)) if added else None,
        "max": round(max(added)) if added else None,
        "vehicles": len(added),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    from clipgen.scenarios import BENCH

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--gops", default="1,2", help="GOP lengths in seconds (25 fps clips)")
    ap.add_argument("--scenarios", default=",".join(BENCH))
    ap.add_argument("--reader", choices=["oracle", "rapidocr"], default="oracle")
    ap.add_argument("--phases", type=int, default=4,
                    help="run each clip after a still lead-in, at this many phases of the GOP "
                    "(0: the clips as rendered)")
    ap.add_argument("--lead-s", type=float, default=4.0,
                    help="still lead-in before the action: the camera is asleep when it starts")
    ap.add_argument("--clips", type=Path, default=Path(tempfile.gettempdir()) / "gatecam-idle")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    w, h = (int(v) for v in args.size.lower().split("x"))
    names = [n for n in args.scenarios.split(",") if n]
    gops = [int(g) for g in args.gops.split(",")]
    paths = ensure_clips(names, (w, h), gops, args.clips)
    if args.phases:
        paths = phase_clips(paths, args.phases, args.lead_s)
        names = [f"{n}@{k}" for n in names for k in range(args.phases)]
    results = run_all(names, gops, paths, args.reader)
    out: dict[str, Any] = {"reader": args.reader, "size": args.size}
    for g in gops:
        cmp = compare(results[g])
        out[f"gop_{g}s"] = cmp
        print(f"GOP {g} s: recall full {cmp['full']['recall']} idle {cmp['idle']['recall']}; "
              f"lost {cmp['lost'] or 'none'}; read delay added "
              f"{cmp['read_delay_added_ms']}")
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
