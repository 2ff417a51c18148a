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


def test_a_webhook_target_failing_or_unreachable_is_one_warning_each() -> None:
    base = {"failing": 0, "last_error": None, "reachable": True, "unreachable_error": None}
    hooks = {
        "ok": base,
        "down": {**base, "reachable": False, "unreachable_error": "cannot connect to h:80"},
        "dying": {**base, "failing": 3, "last_error": "HTTP 503", "reachable": True},
        "both": {**base, "failing": 2, "last_error": "ConnectError", "reachable": False,
                 "unreachable_error": "ConnectError"},
    }
    view = PipelineView(PipelineSnapshot([], True, 0.0), [], 0, 0, 0, webhooks=hooks)
    assert view.warnings == [
        "webhook down unreachable: cannot connect to h:80",
        "webhook dying failing (3 attempts in a row): HTTP 503",
        "webhook both failing (2 attempts in a row): ConnectError",
    ]
