"""observe.py: what /healthz warns about from the storage status."""

from __future__ import annotations

from daemon.ops.health import PipelineSnapshot
from daemon.ops.observe import PipelineView


def _view(storage: dict[str, object]) -> PipelineView:
    return PipelineView(PipelineSnapshot([], True, 0.0), [], 0, 0, 0, storage=storage)


def test_a_recovered_database_is_a_warning_not_a_stall() -> None:
    ok = {"ok": True, "error": None, "recovered": None}
    assert _view(ok).warnings == []
    recovered = {**ok, "recovered": {"moved_to": "/var/lib/gatecam/gatecam.db.corrupt-X",
                                     "error": "file is not a database",
                                     "at": "2026-11-25T08:00:05Z"}}
    [warning] = _view(recovered).warnings
    assert warning.startswith("database was corrupt at start (file is not a database)")
    assert "gatecam.db.corrupt-X" in warning
