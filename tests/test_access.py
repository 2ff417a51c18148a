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
from daemon.store.records import AccessEntry
from tests.support.daemon import TOPICS

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
HERE: dict[str, Any] = {"at": T0, "camera": "entry-1", "direction": "entry"}
"""A passage's time and place, for decisions on lists whose entries hold always."""
LISTS = AccessLists.of(allow={"京AB1234", "粤B12345", "沪A8S888"}, deny={"苏E00001"})


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
    d = decide(plate, category, conf, LISTS, allow_confusables=1, min_confidence=80, **HERE)
    assert (d.access, d.reason, d.matched) == expected


def test_deny_wins_over_allow_and_confusable_allow() -> None:
    lists = AccessLists.of(allow={"京AB1234"}, deny={"京A81234"})
    assert decide("京AB1234", None, 99, lists, **HERE).access == "deny"  # confusable of deny
    assert decide("京A81234", None, 99, lists, **HERE).reason == "deny_list"


def test_confusables_only_where_the_grammar_allows_both() -> None:
    assert confusable_swaps("京A81234", "京AB1234") == 1
    assert confusable_swaps("京AB1234", "京AB1234") == 0
    assert confusable_swaps("京AC1234", "京AB1234") is None  # C/B not confusable
    assert confusable_swaps("京A8123", "京AB1234") is None  # length
    assert confusable_swaps("8AB1234", "京AB1234") is None  # not a plate
    # position 2 is the authority letter: 8 cannot be there, so no tolerance is needed
    assert confusable_swaps("京8B1234", "京BB1234") is None


def test_zero_tolerance_means_exact() -> None:
    assert decide("京A81234", None, 99, LISTS, allow_confusables=0, **HERE).reason == "not_listed"


def _lists(*entries: AccessEntry) -> AccessLists:
    return AccessLists.from_entries(entries)


NOV30_END = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Beijing


def test_an_allow_entry_holds_inside_its_window_only_to_the_second() -> None:
    lists = _lists(AccessEntry("京AB1234", "allow", valid_from=datetime(2026, 11, 1, tzinfo=UTC),
                               valid_until=NOV30_END))
    here = {"camera": "entry-1", "direction": "entry"}
    for at, expected in [
        (datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), ("unknown", "allow_not_yet_valid")),
        (datetime(2026, 11, 1, tzinfo=UTC), ("allow", "allow_list")),  # first bound inclusive
        (NOV30_END.replace(microsecond=999_999), ("allow", "allow_list")),  # its last second
        (datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC), ("unknown", "allow_expired")),
    ]:
        d = decide("京AB1234", "实体车牌", 99, lists, at=at, **here)
        assert (d.access, d.reason) == expected, at
    d = decide("京AB1234", None, 99, lists, at=datetime(2026, 12, 5, tzinfo=UTC), **here)
    assert d.matched == "京AB1234"
    assert d.detail == "allow entry 京AB1234 expired 2026-11-30T15:59:59.000Z"


def test_scope_by_camera_and_by_the_cameras_direction() -> None:
    lists = _lists(AccessEntry("京AB1234", "allow", cameras=("entry-1", "entry-2")),
                   AccessEntry("粤B12345", "allow", direction="exit"))
    cases = [
        ("京AB1234", "entry-1", "entry", ("allow", "allow_list")),
        ("京AB1234", "entry-2", "entry", ("allow", "allow_list")),
        ("京AB1234", "exit-1", "exit", ("unknown", "allow_other_camera")),
        ("粤B12345", "exit-1", "exit", ("allow", "allow_list")),
        ("粤B12345", "entry-1", "entry", ("unknown", "allow_other_direction")),
    ]
    for plate, camera, direction, expected in cases:
        d = decide(plate, None, 99, lists, at=T0, camera=camera, direction=direction)
        assert (d.access, d.reason) == expected, (plate, camera)
    assert "entry-1, entry-2 only" in decide("京AB1234", None, 99, lists, at=T0,
                                            camera="exit-1", direction="exit").detail


def test_deny_wins_when_it_holds_and_is_ignored_when_it_does_not() -> None:
    ban = AccessEntry("京AB1234", "deny", valid_until=NOV30_END, cameras=("entry-1",))
    lists = _lists(AccessEntry("京AB1234", "allow"), ban)
    nov = datetime(2026, 11, 20, tzinfo=UTC)
    assert decide("京AB1234", None, 99, lists, at=nov, camera="entry-1",
                  direction="entry").reason == "deny_list"
    assert decide("京A81234", None, 99, lists, at=nov, camera="entry-1",
                  direction="entry").reason == "deny_list"  # confusable of the ban
    dec = datetime(2026, 12, 1, tzinfo=UTC)  # the ban ended
    assert decide("京AB1234", None, 99, lists, at=dec, camera="entry-1",
                  direction="entry").access == "allow"
    assert decide("京AB1234", None, 99, lists, at=nov, camera="entry-2",  # another lane
                  direction="entry").access == "allow"


def test_a_holding_confusable_entry_beats_an_exact_one_that_does_not_hold() -> None:
    lists = _lists(AccessEntry("京AB1234", "allow", valid_until=NOV30_END),
                   AccessEntry("京A81234", "allow"))
    d = decide("京AB1234", None, 99, lists, at=datetime(2026, 12, 1, tzinfo=UTC),
               camera="c", direction="entry")
    assert (d.access, d.reason, d.matched) == ("allow", "allow_list_confusable", "京A81234")
    low = decide("京AB1234", None, 50, lists, at=T0, camera="c", direction="entry")
    assert (low.access, low.reason) == ("unknown", "low_confidence")


def test_two_stored_spellings_of_one_plate_both_count() -> None:
    """An older gatecam stored a BOM-prefixed copy: either entry holding is enough."""
    lists = _lists(AccessEntry("\ufeff京AB1234", "allow", valid_until=NOV30_END),
                   AccessEntry("京AB1234", "allow", cameras=("exit-1",)))
    dec = datetime(2026, 12, 1, tzinfo=UTC)
    assert decide("京AB1234", None, 99, lists, at=dec, camera="exit-1",
                  direction="exit").access == "allow"
    assert decide("京AB1234", None, 99, lists, at=dec, camera="entry-1",
                  direction="entry").access == "unknown"


def test_access_control_decides_at_the_passages_time_and_camera(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    store.access_put(AccessEntry("粤B12345", "allow", owner="visitor", valid_until=NOV30_END,
                                 cameras=("entry-1",)))
    ac = AccessControl(store, AccessConfig())

    def seen(at: datetime, camera: str) -> tuple[str, str]:
        p = ac.apply(Passage(event_id="e", site="s", camera=camera, direction="entry",
                             captured_at=at, decided_at=at, plate="粤B12345", confidence=99))
        return p.access, p.access_reason

    assert seen(T0, "entry-1") == ("allow", "allow_list")
    assert seen(T0, "entry-2") == ("unknown", "allow_other_camera")
    # decided_at is today, captured_at in November: the passage's own time counts
    assert seen(datetime(2026, 12, 1, tzinfo=UTC), "entry-1") == ("unknown", "allow_expired")
    store.close()


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

    lists = AccessLists.of(allow={"京A12345"}, deny={"粤B67890"})
    assert decide("京A12345", None, 90, lists, **HERE).access == "allow"
    low = decide("京A12345", None, 90, lists, local=True, local_min_confidence=95, **HERE)
    assert (low.access, low.reason) == ("unknown", "low_confidence")
    sure = decide("京A12345", None, 96, lists, local=True, local_min_confidence=95, **HERE)
    assert sure.access == "allow"
    assert decide("粤B67890", None, 99, lists, local=True, **HERE).access == "deny"  # deny wins
    screen = decide("京A12345", "非实体车牌", 99, lists, local=True, **HERE)
    assert (screen.access, screen.reason) == ("deny", "not_physical")
