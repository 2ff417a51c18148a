"""While the store cannot commit, webhook targets get the event from the recorder's
fallback (as MQTT does), then once more from the outbox when the commit succeeds.
Real SQLite made read-only (what a worn SD card does), real HTTP on loopback."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from daemon.domain import Passage
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from daemon.webhook.sender import DIRECT_MAX, WebhookSender, WebhookTarget
from tests.support.daemon import TOPICS, wait_until
from tests.support.receiver import Receiver


def passage(n: int) -> Passage:
    t = datetime.now(UTC)
    return Passage(event_id=str(uuid.uuid4()), site="lot-a", camera="exit-1",
                   direction="exit", captured_at=t, decided_at=t, plate=f"粤B{n:05d}")


@pytest.mark.timeout(60)
def test_store_failing_posts_the_event_at_once_then_the_outbox_copy(tmp_path: Path) -> None:
    rx = Receiver().start()
    target = WebhookTarget("erp", rx.url, retry_min_s=0.05, retry_max_s=0.1)
    store = Store(f"sqlite:///{tmp_path}/f.db")
    stop = threading.Event()
    holder: list[WebhookSender] = []
    recorder = Recorder(store, None, TOPICS, lambda _p: holder[0].wake(),
                        webhook_targets=[target.outbox_target],
                        fallback=lambda p, m: holder[0].send_direct(p, m))  # noqa: PLW0108
    sender = WebhookSender(target, store, recorder, stop, poll_s=0.2)
    holder.append(sender)
    failing = threading.Event()
    failing.set()

    def on_begin(conn: Any) -> None:
        conn.connection.dbapi_connection.execute(
            f"PRAGMA query_only = {1 if failing.is_set() else 0}")

    event.listen(store.engine, "begin", on_begin)
    recorder.start()
    sender.start()
    try:
        first, second = passage(1), passage(2)
        recorder.submit_passage(first, [])  # fails to commit: the fallback sends it
        rx.wait_for(lambda g: first.event_id in {x.event["event_id"] for x in g}, 10)
        recorder.submit_passage(second, [])  # while failing: sent at submit time
        rx.wait_for(lambda g: second.event_id in {x.event["event_id"] for x in g}, 10)
        assert store.passage_count() == 0
        assert wait_until(lambda: sender.status()["direct"] == 2, 5)

        failing.clear()  # writable again: both commit, their outbox rows go out too
        assert recorder.flush(10)
        assert store.passage_count() == 2
        assert wait_until(lambda: not store.pending_outbox(5, target.outbox_target), 10)
        ids = [g.event["event_id"] for g in rx.got]
        assert sorted(ids) == sorted([first.event_id, second.event_id] * 2), ids
        by_id: dict[str, set[str]] = {}
        for g in rx.got:  # the direct copy and the outbox copy are the same event
            by_id.setdefault(g.event["event_id"], set()).add(
                repr(sorted({**g.event, "late": None}.items())))
        assert all(len(v) == 1 for v in by_id.values()), by_id
    finally:
        failing.clear()
        stop.set()
        sender.close(5)
        recorder.stop(5)
        store.close()
        rx.stop()


def test_events_held_outside_the_outbox_are_bounded(tmp_path: Path) -> None:
    """A dead target while the store fails: memory stays bounded, the oldest are dropped
    (their outbox rows still deliver them once the store commits)."""
    store = Store(f"sqlite:///{tmp_path}/b.db")
    recorder = Recorder(store, None, TOPICS, lambda _p: None)
    sender = WebhookSender(WebhookTarget("dead", "http://127.0.0.1:9/h"), store, recorder,
                           threading.Event(), probe_at_start=False)  # never started
    try:
        for n in range(DIRECT_MAX + 3):
            p = passage(n)
            sender.send_direct(p, TOPICS.passage_messages(p))
        st = sender.status()
        assert (st["direct_dropped"], st["direct"]) == (3, 0)
    finally:
        store.close()
