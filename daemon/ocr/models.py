"""Loading the local reader's ONNX models: where the model wheel keeps them, and the
onnxruntime sessions (one thread each, recognition runs giving their CPU arena back).

A missing or broken model raises :class:`daemon.errors.ReaderError` (exit 78 at start).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import onnxruntime as ort

from daemon.errors import ReaderError

MODEL_PACKAGE = "rapidocr_onnxruntime"
"""The installed wheel whose ``models/`` folder carries the ONNX files (never imported)."""
DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"


def model_dir() -> Path:
    """The ``models/`` folder of the installed model wheel (found without importing it)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ReaderError(
            f"local reader: package {MODEL_PACKAGE!r} is not installed "
            "(pip install --no-deps rapidocr-onnxruntime==1.4.4) and ocr.local.model_dir is unset"
        )
    return Path(spec.origin).parent / "models"


def model_path(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise ReaderError(f"local reader: model {path} is missing")
    return path


ARENA_SHRINKAGE = "memory.enable_memory_arena_shrinkage"  # the arena gives back free chunks
_SHRINK = ort.RunOptions()
_SHRINK.add_run_config_entry(ARENA_SHRINKAGE, "cpu:0")


class _Session(ort.InferenceSession):  # type: ignore[misc]  # onnxruntime has no stubs
    """Runs shrink the CPU arena when they end (rec: 2 MB less, no CPU cost measured; not
    the detector's: same peak, +13 % CPU per crop; README "Local plate reader")."""

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        """``InferenceSession.run`` with arena shrinkage unless ``run_options`` are given."""
        return super().run(output_names, input_feed, run_options or _SHRINK)


def open_session(path: Path, *, shrink_arena: bool = True) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # A memory pattern is planned and kept per input shape, and every plate strip has its
    # own width: 300 strips of 40-320 px left the arena 16 MB larger with it, 12 MB without,
    # at the same speed. The arena itself stays: without it every tensor is a fresh mmap
    # (ops/tuning.py caps glibc's mmap threshold) and a read took 5x longer.
    opts.enable_mem_pattern = False
    opts.log_severity_level = 3
    try:
        kind = _Session if shrink_arena else ort.InferenceSession
        return kind(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several types
        raise ReaderError(f"local reader: cannot load {path.name}: {exc}") from exc
