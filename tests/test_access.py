"""Access decisions: lists, confusable tolerance, deny wins, 非实体车牌 never allowed; the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from daemon import contract
from daemon.access import AccessControl, AccessLists, confusable_swaps, decide
from daemon.cli import main as cli
from daemon.config.models import AccessConfig
from daemon.domain import Passage
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from tests.support.daemon import TOPICS

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LISTS = AccessLists(allow=frozenset({"京AB1234", "粤B12345", "沪A8S888"}),
                    deny=frozenset({"苏E00001"}))


@pytest.mark.parametrize(
    ("plate", "category", "conf", "expected"),
    [
        (None, None, 0, ("unknown", "no_plate", None)),
        ("京AB1234", "实体车牌", 99, ("allow", "allow_list", "京AB1234")),
        ("京A·B1234", None, 99, ("allow", "allow_list", "京AB1234")),  # normalised first
        ("京A81234", "实体车牌", 99, ("allow", "allow_list_confusable", "京AB1234")),
        ("京A81Z34", "实体车牌", 99, ("unknown", "not_listed", None)),  # two swaps > 1
        ("京AB1234", "非实体车牌", 99, ("deny", "not_physical", None)),  # photo of a plate
        ("京AB1234", "实体车牌", 60, ("unknown", "low_confidence", "京AB1234")),
        ("苏E00001", "实体车牌", 99, ("deny", "deny_list", "苏E00001")),
        ("苏E0D0O1", "实体车牌", 99, ("unknown", "not_listed", None)),  # O not a serial char
        ("苏ED0001", "实体车牌", 99, ("deny", "deny_list", "苏E00001")),  # deny: any swaps
        ("苏ED0DD1", "实体车牌", 99, ("deny", "deny_list", "苏E00001")),
        ("浙C55555", "实体车牌", 99, ("unknown", "not_listed", None)),
    ],
)
def test_decide(plate: str | None, category: str | None, conf: int, expected: Any) -> None:
    d = decide(plate, category, conf, LISTS, allow_confusables=1, min_confidence=80)
    assert (d.access, d.reason, d.matched) == expected


def test_deny_wins_over_allow_and_confusable_allow() -> None:
    lists = AccessLists(allow=frozenset({"京AB1234"}), deny=frozenset({"京A81234"}))
    assert decide("京AB1234", None, 99, lists).access == "deny"  # confusable of a deny entry
    assert decide("京A81234", None, 99, lists).reason == "deny_list"


def test_confusables_only_where_the_grammar_allows_both() -> None:
    assert confusable_swaps("京A81234", "京AB1234") == 1
    assert confusable_swaps("京AB1234", "京AB1234") == 0
    assert confusable_swaps("京AC1234", "京AB1234") is None  # C/B not confusable
    assert confusable_swaps("京A8123", "京AB1234") is None  # length
    assert confusable_swaps("8AB1234", "京AB1234") is None  # not a plate
    # position 2 is the authority letter: 8 cannot be there, so no tolerance is needed
    assert confusable_swaps("京8B1234", "京BB1234") is None


def test_zero_tolerance_means_exact() -> None:
    assert decide("京A81234", None, 99, LISTS, allow_confusables=0).reason == "not_listed"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_access_control_refreshes_lists(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    clock = FakeClock()
    ac = AccessControl(store, AccessConfig(refresh_s=5), monotonic=clock)
    p = Passage(event_id="e1", site="s", camera="c", direction="entry", captured_at=T0,
                decided_at=T0, plate="粤B12345", confidence=95, category="实体车牌")
    assert ac.apply(p).access == "unknown"
    store.access_add("粤B12345", "allow")
    clock.t = 4.9
    assert ac.apply(p).access == "unknown"  # cached
    clock.t = 5.0
    assert (ac.apply(p).access, ac.apply(p).access_reason) == ("allow", "allow_list")
    store.close()


def test_decision_is_in_the_committed_event_and_gate_command(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    store.access_add("粤B12345", "allow")
    store.access_add("沪C00001", "deny")
    ac = AccessControl(store, AccessConfig())
    rec = Recorder(store, None, TOPICS, lambda _p: None, decide=ac.apply, gate_ttl_s=5.0)
    rec.start()
    for n, plate in enumerate(["粤B12345", "沪C00001", "浙A11111"]):
        rec.submit_passage(Passage(
            event_id=f"e{n}", site="lot-a", camera="c1", direction="entry", captured_at=T0,
            decided_at=T0, plate=plate, confidence=95, category="实体车牌"), [])
    assert rec.flush(10)
    rows = store.pending_outbox(100)
    events = {json.loads(r.payload)["event_id"]: json.loads(r.payload)
              for r in rows if r.topic.endswith("/passage")}
    assert {k: (v["access"], v["access_reason"]) for k, v in events.items()} == {
        "e0": ("allow", "allow_list"), "e1": ("deny", "deny_list"),
        "e2": ("unknown", "not_listed")}
    gates = [r for r in rows if r.topic.endswith("/gate")]
    assert [(g.event_id, g.topic, g.retain) for g in gates] == [
        ("e0", "gatecam/lot-a/c1/gate", False)]
    assert json.loads(gates[0].payload) == {
        "action": "open", "event_id": "e0", "expires_at": "2026-11-25T08:00:05.000Z"}
    gate_schema = json.loads(contract.GATE_SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(gates[0].payload), gate_schema,
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    # order: live event, gate command, retained copy
    assert [r.topic.rsplit("/", 1)[-1] for r in rows if r.event_id == "e0"] == [
        "passage", "gate", "last"]
    by_id = {p.event_id: p for p in store.recent_passage_objects()}
    assert by_id["e0"].access_reason == "allow_list"
    rec.stop(5)
    store.close()


def test_cli_allow_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"site: lot-a\ncameras: [{{id: e1, url: /dev/null}}]\n"
                   f"store: {{url: 'sqlite:///{tmp_path}/g.db'}}\n", encoding="utf-8")
    c = ["allow", "--config", str(cfg)]
    assert cli.main([*c, "add", "京a·12345", "--note", "boss"]) == 0
    assert cli.main([*c, "add", "XX12"]) == 1  # not a plate
    assert cli.main([*c, "add", "--deny", "沪C99999"]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("粤B12345,maybe\n", encoding="utf-8")
    assert cli.main([*c, "import", str(bad)]) == 1
    good = tmp_path / "l.csv"
    good.write_text("# staff\n粤B12345\n苏E00001,deny,stolen # reported\n\n", encoding="utf-8")
    assert cli.main([*c, "import", str(good)]) == 0
    assert cli.main([*c, "remove", "京A12345"]) == 0
    assert cli.main([*c, "remove", "京A12345"]) == 1
    capsys.readouterr()
    assert cli.main([*c, "list", "--json"]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(g["list"], g["plate"], g["note"]) for g in got] == [
        ("deny", "沪C99999", None), ("deny", "苏E00001", "stolen # reported"),
        ("allow", "粤B12345", None)]
    assert cli.main([*c, "import", "--replace", str(good)]) == 1  # would drop deny 沪C99999
    assert cli.main([*c, "import", "--replace", "--drop-deny", str(good)]) == 0
    store = Store(f"sqlite:///{tmp_path}/g.db")
    assert len(store.access_entries()) == 2
    store.close()


def test_local_reading_needs_the_local_minimum_confidence_to_allow() -> None:
    from daemon.access import AccessLists, decide

    lists = AccessLists(allow=frozenset({"京A12345"}), deny=frozenset({"粤B67890"}))
    assert decide("京A12345", None, 90, lists).access == "allow"
    low = decide("京A12345", None, 90, lists, local=True, local_min_confidence=95)
    assert (low.access, low.reason) == ("unknown", "low_confidence")
    sure = decide("京A12345", None, 96, lists, local=True, local_min_confidence=95)
    assert sure.access == "allow"
    assert decide("粤B67890", None, 99, lists, local=True).access == "deny"  # deny still wins
    screen = decide("京A12345", "非实体车牌", 99, lists, local=True)
    assert (screen.access, screen.reason) == ("deny", "not_physical")
