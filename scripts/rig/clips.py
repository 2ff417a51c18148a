"""Test fixture helper: generate synthetic lane clips once and cache them between test runs.

Clips come from ``scripts/make_clip.py`` (imported by path). A clip is keyed by the
scenario, size, fps, seed and a hash of the generator's source, so editing the
generator invalidates the cache. The cache lives in pytest's cache directory
(``.pytest_cache/d/gatecam-clips``) when a pytest ``config`` is at hand, else in
``$GATECAM_CLIP_CACHE`` or the system temp directory. A file lock keeps parallel
workers from rendering the same clip twice.

In a test module or conftest::

    from scripts.rig.clips import clips  # the session fixture

    def test_x(clips: ClipStore) -> None:
        path, truth = clips.get("three_cars")
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE_CLIP = ROOT / "scripts" / "make_clip.py"


def load_make_clip() -> ModuleType:
    """The clip generator module (for ``Scenario``, ``Car``, ``SCENARIOS``, ``make_clip``)."""
    name = "gatecam_make_clip"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, MAKE_CLIP)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {MAKE_CLIP}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses need the module registered while executing
    spec.loader.exec_module(module)
    return module


class ClipStore:
    """Generates clips on demand and returns ``(mp4 path, ground truth dict)``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        sources = [MAKE_CLIP, *sorted((MAKE_CLIP.parent / "clipgen").glob("*.py"))]
        self._source_hash = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[
            :12
        ]

    def get(
        self,
        scenario: str | Any,
        size: tuple[int, int] = (1280, 720),
        fps: int = 25,
        seed: int = 1,
    ) -> tuple[Path, dict[str, Any]]:
        """The clip for a scenario name (or a ``Scenario`` object), rendering it if needed."""
        mod = load_make_clip()
        if isinstance(scenario, str):
            if scenario not in mod.SCENARIOS:
                raise KeyError(f"unknown scenario {scenario!r}; known: {sorted(mod.SCENARIOS)}")
            name, spec = scenario, scenario
        else:
            name, spec = scenario.name, repr(scenario)
        key = hashlib.sha256(
            f"{spec}|{size}|{fps}|{seed}|{self._source_hash}".encode()
        ).hexdigest()[:12]
        src = self._source_hash
        path = self.directory / f"{name}-{size[0]}x{size[1]}-{fps}-{seed}-{src}-{key}.mp4"
        truth_path = path.with_suffix(".json")
        with open(self.directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (path.is_file() and truth_path.is_file()):
                for old in self.directory.glob("*-*.*"):  # clips of an older generator
                    if src not in old.name and old.suffix in (".mp4", ".json"):
                        old.unlink(missing_ok=True)
                tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
                try:
                    mod.make_clip(scenario, tmp, size, fps, seed)
                    os.replace(tmp.with_suffix(".json"), truth_path)
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
                    tmp.with_suffix(".json").unlink(missing_ok=True)
        truth: dict[str, Any] = json.loads(truth_path.read_text("utf-8"))
        return path, truth

    def scaled(self, clip: Path, size: tuple[int, int]) -> Path:
        """``clip`` scaled to ``size`` with the same key frames (an IP camera's substream:
        the same picture, decoded and encoded again at low resolution), cached beside it."""
        out = clip.with_name(f"{clip.stem}-sub{size[0]}x{size[1]}.mp4")
        with open(self.directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not out.is_file():
                tmp = out.with_name(f".tmp-{os.getpid()}-{out.name}")
                try:
                    _transcode(clip, tmp, size)
                    os.replace(tmp, out)
                finally:
                    tmp.unlink(missing_ok=True)
        return out


def _transcode(src: Path, out: Path, size: tuple[int, int]) -> None:
    """Re-encode ``src`` at ``size`` with IDR frames where the source has them (its fixed
    GOP, as clipgen makes it; x264 veryfast, no B-frames, one slice)."""
    import av  # only the clip cache needs PyAV here

    with av.open(str(src)) as probe:
        vin = probe.streams.video[0]
        keys = [i for i, p in enumerate(probe.demux(vin)) if p.size and p.is_keyframe][:2]
    gop = keys[1] - keys[0] if len(keys) == 2 else 50
    with av.open(str(src)) as inp, av.open(str(out), "w", options={"movflags": "+faststart"}) as o:
        vin = inp.streams.video[0]
        stream = o.add_stream("libx264", rate=vin.average_rate or 25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.max_b_frames = 0
        stream.codec_context.gop_size = gop
        stream.codec_context.thread_type = "FRAME"  # one slice per picture (clipgen.encode)
        stream.options = {"preset": "veryfast", "crf": "23", "threads": "2",
                          "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:slices=1"}
        for frame in inp.decode(vin):
            small = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            small.pts, small.time_base = frame.pts, frame.time_base
            o.mux(stream.encode(small))
        o.mux(stream.encode(None))


def default_cache_dir() -> Path:
    """``$GATECAM_CLIP_CACHE`` or a per-user folder in the temp directory."""
    env = os.environ.get("GATECAM_CLIP_CACHE")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"gatecam-clips-{os.getuid()}"


@pytest.fixture(scope="session")
def clips(pytestconfig: pytest.Config) -> ClipStore:
    """Session-wide clip store, cached across runs in pytest's cache directory."""
    cache = getattr(pytestconfig, "cache", None)
    directory = cache.mkdir("gatecam-clips") if cache is not None else default_cache_dir()
    return ClipStore(Path(directory))
