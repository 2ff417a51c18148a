"""contrib/prometheus alert rules and contrib/grafana dashboard: valid, firing, and in step
with the series daemon/ops/metrics.py exports (a renamed metric breaks this test, not a graph)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.support.metrics import busy_metrics
from tests.support.promtool import check_rules, run_rule_tests

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "gatecam.rules.yml"
RULE_TESTS = ROOT / "contrib" / "prometheus" / "gatecam.rules.test.yml"
DASHBOARD = ROOT / "contrib" / "grafana" / "gatecam.json"
_NAME = re.compile(r"\b((?:gatecam|process|python)_[a-z0-9_]+)")


def _exported() -> set[str]:
    """Every series name a busy App exports (histogram _bucket/_sum/_count included)."""
    text = busy_metrics().render().decode()
    return {m.group(1) for m in re.finditer(r"^([a-z_:][a-z0-9_:]*)", text, re.MULTILINE)}


def _dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    return exprs


def _rule_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def test_alert_rules_pass_promtool_check_and_fire_on_their_series() -> None:
    checked = check_rules(RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert {"GatecamCameraOffline", "GatecamOcrCircuitOpen", "GatecamOutboxBacklogGrowing",
            "GatecamOcrCallsPerVehicleAboveBudget"} <= alerts
    tested = run_rule_tests(RULE_TESTS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    for alert in alerts:  # every alert has a firing case in the unit tests
        assert f"alertname: {alert}" in RULE_TESTS.read_text(), alert


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """promtool parses each panel's PromQL (as recording rules, Grafana's variables filled)."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"gatecam:panel_{i}",
         "expr": e.replace("$__rate_interval", "5m").replace("$instance", ".*")}
        for i, e in enumerate(_dashboard_exprs())]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    checked = check_rules(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_and_rules_use_only_exported_series() -> None:
    exported = _exported()
    used = {m for e in _dashboard_exprs() + _rule_exprs() for m in _NAME.findall(e)}
    assert used, "no series found in the queries"
    assert used - exported == set()
    # the check can fail: an old name is not exported any more
    assert "gatecam_ocr_pool_total" not in exported
