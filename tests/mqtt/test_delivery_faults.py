"""Delivery under faults: broker SIGKILL mid-stream, daemon SIGKILL with pending rows, late
events, a failing store. Real mosquitto, real SQLite, every passage payload schema-checked."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
from sqlalchemy import event

from daemon import contract
from daemon.access import AccessControl
from daemon.config.models import AccessConfig, MqttConfig
from daemon.domain import Passage
from daemon.mqtt.publisher import Publisher
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from scripts.rig.broker import Mosquitto, Received
from tests.support.daemon import TOPICS, site_topics
from tests.support.mqtt import controller

ROOT = Path(__file__).resolve().parents[2]
CAMERAS = ("entry-1", "exit-1")
SCHEMA = jsonschema.Draft202012Validator(
    json.loads(contract.PASSAGE_SCHEMA_PATH.read_text(encoding="utf-8")),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)

GATE_SCHEMA = jsonschema.Draft202012Validator(
    json.loads(contract.GATE_SCHEMA_PATH.read_text(encoding="utf-8")),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)


def passage(n: int, site: str, camera: str = "entry-1", *, plate: str | None = None,
            at: datetime | None = None) -> Passage:
    t = at or datetime.now(UTC)
    return Passage(
        event_id=str(uuid.uuid4()), site=site, camera=camera, direction="entry",
        captured_at=t, decided_at=t + timedelta(milliseconds=300),
        plate=plate or f"京A{n % 100000:05d}", color="蓝", confidence=99, category="实体车牌",
        ocr_calls=1,
    )


def events(msgs: list[Received]) -> list[dict[str, Any]]:
    """Decoded passage events; every one must satisfy the schema."""
    out = []
    for m in msgs:
        e = json.loads(m.payload)
        SCHEMA.validate(e)
        assert not m.retain or m.topic.endswith("/last")
        out.append(e)
    return out


def gates(msgs: list[Received]) -> list[dict[str, Any]]:
    """Decoded gate commands; every one must satisfy the gate schema and be live (not retained)."""
    out = []
    for m in msgs:
        g = json.loads(m.payload)
        GATE_SCHEMA.validate(g)
        assert not m.retain, "a gate command must never be retained"
        out.append(g)
    return out


@dataclass
class Rig:
    store: Store
    recorder: Recorder
    publisher: Publisher
    site: str

    def close(self) -> None:
        self.publisher.stop(5)
        self.recorder.stop(5)
        self.store.close()


def build(broker: Mosquitto, db: Path, *, gate: bool = False, **mqtt: Any) -> Rig:
    site = f"lot-{uuid.uuid4().hex[:6]}"
    store = Store(f"sqlite:///{db}")
    holder: list[Publisher] = []
    recorder = Recorder(
        store, None, TOPICS, lambda _p: holder[0].wake() if holder else None,
        decide=AccessControl(store, AccessConfig()).apply, gate_ttl_s=5.0 if gate else None,
        fallback=lambda _p, msgs: holder[0].publish_direct(msgs),
        retry_min_s=0.02, retry_max_s=0.2,
    )
    cfg = MqttConfig.model_validate(
        {"port": broker.port, "client_id": f"pub-{site}", "keepalive_s": 5, **mqtt})
    publisher = Publisher(cfg, site_topics(site),
                          store, recorder, None, reconnect_max_s=1, poll_s=1.0)
    holder.append(publisher)
    recorder.start()
    publisher.start()
    return Rig(store, recorder, publisher, site)


def test_200_passages_survive_a_broker_sigkill(broker: Mosquitto, tmp_path: Path) -> None:
    rig = build(broker, tmp_path / "g.db")
    assert rig.publisher.wait_connected(5)
    sub = controller(broker, rig.site)
    sent: dict[str, list[str]] = {c: [] for c in CAMERAS}
    try:
        t0 = time.monotonic()
        restarted = killed = False
        for n in range(200):
            cam = CAMERAS[n % 2]
            p = passage(n, rig.site, cam)
            sent[cam].append(p.event_id)
            assert rig.recorder.submit_passage(p, [])
            elapsed = time.monotonic() - t0
            if not killed and elapsed > 1.5:
                broker.kill()
                killed, t_kill = True, time.monotonic()
            if killed and not restarted and time.monotonic() - t_kill >= 10:
                broker.start()
                restarted = True
            time.sleep(0.06)
        if not restarted:
            time.sleep(max(0.0, 10 - (time.monotonic() - t_kill)))
            broker.start()
        assert rig.publisher.wait_idle(30)
        for cam in CAMERAS:
            got = events(sub.wait_for(f"gatecam/{rig.site}/{cam}/passage", 100, 20))
            first = list(dict.fromkeys(e["event_id"] for e in got))
            assert first == sent[cam], f"{cam}: lost or out of order"
        assert rig.store.pending_outbox(1) == []
    finally:
        sub.close()
        rig.close()


CRASH_SCRIPT = """
import sys, time, uuid
from datetime import UTC, datetime
from daemon.config.models import MqttConfig
from daemon.domain import Passage
from daemon.mqtt.publisher import Publisher
from daemon.store.recorder import Recorder
from daemon.store.db import Store
from daemon.contract import Topics
port, db, site = int(sys.argv[1]), sys.argv[2], sys.argv[3]
store = Store("sqlite:///" + db)
holder = []
rec = Recorder(store, None, Topics("gatecam", "lot-a"), lambda _p: holder[0].wake())
pub = Publisher(MqttConfig(port=port, client_id="crash-" + site, max_inflight=5),
                Topics("gatecam", site),
                store,
                rec, None)
holder.append(pub)
rec.start(); pub.start(); pub.wait_connected(10)
for n in range(100000):
    t = datetime.now(UTC)
    rec.submit_passage(Passage(event_id=str(uuid.uuid4()), site=site, camera="entry-1",
                               direction="entry", captured_at=t, decided_at=t,
                               plate="京A%05d" % n), [])
    if n % 20 == 0:
        print(rec.passages_committed, flush=True)
"""


def test_daemon_sigkill_with_pending_rows_loses_nothing(broker: Mosquitto, tmp_path: Path) -> None:
    site = f"lot-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "crash.db"
    sub = controller(broker, site)
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(broker.port), str(db), site],
        cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while int(proc.stdout.readline() or -1) < 150:  # submitting flat out: the outbox lags
            assert time.monotonic() < deadline and proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    committed = [r[0] for r in conn.execute(
        "SELECT p.event_id FROM passages p ORDER BY (SELECT min(id) FROM outbox o "
        "WHERE o.event_id = p.event_id)")]
    pending = conn.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0]
    conn.close()
    assert len(committed) >= 100
    assert pending > 0, "nothing was pending at the kill: the test proves nothing"

    store = Store(f"sqlite:///{db}")  # the restarted daemon
    rec = Recorder(store, None, TOPICS, lambda _p: None)
    pub = Publisher(MqttConfig(port=broker.port, client_id="crash-" + site), site_topics(site),
                    store, rec,
                    None)
    try:
        rec.start()
        pub.start()
        assert pub.wait_idle(30)
        got = events(sub.wait_for(f"gatecam/{site}/entry-1/passage", len(committed), 20))
        ids = [e["event_id"] for e in got]
        assert set(ids) == set(committed)  # every committed passage, nothing else
        assert list(dict.fromkeys(ids)) == committed  # first copies in commit order
        by_id: dict[str, set[str]] = {}
        for e in got:  # a repeat is the same event (same id, same plate), maybe marked late
            by_id.setdefault(e["event_id"], set()).add(e["plate"])
        assert all(len(v) == 1 for v in by_id.values())
    finally:
        sub.close()
        pub.stop(5)
        rec.stop(5)
        store.close()


def test_late_event_has_flag_and_no_gate_command(broker: Mosquitto, tmp_path: Path) -> None:
    rig = build(broker, tmp_path / "g.db", gate=True, late_after_s=10)
    rig.store.access_add("粤B12345", "allow")
    assert rig.publisher.wait_connected(5)
    sub = controller(broker, rig.site)
    try:
        old = passage(1, rig.site, plate="粤B12345",
                      at=datetime.now(UTC) - timedelta(seconds=60))
        fresh = passage(2, rig.site, plate="粤B12345")
        rig.recorder.submit_passage(old, [])
        rig.recorder.submit_passage(fresh, [])
        got = events(sub.wait_for(f"gatecam/{rig.site}/entry-1/passage", 2, 10))
        assert [(e["event_id"], e["late"], e["access"]) for e in got] == [
            (old.event_id, True, "allow"), (fresh.event_id, False, "allow")]
        sub.wait_for(f"gatecam/{rig.site}/entry-1/gate", 1, 10)
        assert rig.publisher.wait_idle(10)
        time.sleep(0.3)
        cmds = gates(sub.matching(f"gatecam/{rig.site}/entry-1/gate"))
        assert [g["event_id"] for g in cmds] == [fresh.event_id]
        assert rig.publisher.gate_skipped == 1
        assert rig.store.pending_outbox(10) == []  # the stale command left the outbox unsent
    finally:
        sub.close()
        rig.close()


def test_store_failing_still_publishes_then_catches_up(broker: Mosquitto, tmp_path: Path) -> None:
    statuses: list[dict[str, object]] = []
    rig = build(broker, tmp_path / "g.db", gate=True)
    rig.recorder.health.on_status = statuses.append
    rig.store.access_add("粤B12345", "allow")
    assert rig.publisher.wait_connected(5)
    sub = controller(broker, rig.site)
    full = threading.Event()
    full.set()

    def on_begin(conn: Any) -> None:  # a card gone read-only (what a worn SD card does)
        raw = conn.connection.dbapi_connection
        raw.execute(f"PRAGMA query_only = {1 if full.is_set() else 0}")

    event.listen(rig.store.engine, "begin", on_begin)
    try:
        p1 = passage(1, rig.site, plate="粤B12345")
        p2 = passage(2, rig.site, plate="浙A11111")
        rig.recorder.submit_passage(p1, [])
        got = events(sub.wait_for(f"gatecam/{rig.site}/entry-1/passage", 1, 10))
        assert got[0]["event_id"] == p1.event_id and got[0]["access"] == "allow"
        cmds = gates(sub.wait_for(f"gatecam/{rig.site}/entry-1/gate", 1, 5))  # the gate opens
        assert cmds[0]["event_id"] == p1.event_id
        assert rig.recorder.storage_error is not None and "readonly" in rig.recorder.storage_error
        assert statuses and statuses[-1]["ok"] is False
        rig.recorder.submit_passage(p2, [])  # while failing: published at submit time
        got = events(sub.wait_for(f"gatecam/{rig.site}/entry-1/passage", 2, 10))
        assert got[1]["event_id"] == p2.event_id
        assert rig.store.passage_count() == 0

        full.clear()  # writable again: both commit, the outbox re-sends with the same ids
        assert rig.recorder.flush(10)
        assert rig.store.passage_count() == 2
        assert statuses[-1]["ok"] is True and rig.recorder.storage_error is None
        assert rig.publisher.wait_idle(10)
        ids = [e["event_id"] for e in events(sub.matching(f"gatecam/{rig.site}/entry-1/passage"))]
        gates(sub.matching(f"gatecam/{rig.site}/entry-1/gate"))  # the outbox copy too, if sent
        assert ids[:2] == [p1.event_id, p2.event_id] and set(ids) == {p1.event_id, p2.event_id}
    finally:
        full.clear()
        sub.close()
        rig.close()
