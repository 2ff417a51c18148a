"""Webhook delivery from the outbox against a local HTTP receiver that fails, hangs, refuses,
restarts; and a SIGKILLed writer that loses nothing. Real SQLite, real HTTP on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.config.integrations import WebhookConfig
from daemon.domain import Passage
from daemon.errors import CredentialsError
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from daemon.webhook.sender import WebhookSender, WebhookTarget, resolve_targets
from tests.support.daemon import ROOT, TOPICS
from tests.support.receiver import Answer, Receiver


def passage(n: int, at: datetime | None = None) -> Passage:
    t = at or datetime.now(UTC)
    return Passage(event_id=str(uuid.uuid4()), site="lot-a", camera="entry-1",
                   direction="entry", captured_at=t, decided_at=t, plate=f"京A{n:05d}",
                   confidence=99, ocr_calls=1)


@contextmanager
def rig(tmp_path: Path, target: WebhookTarget) -> Iterator[tuple[Store, Recorder, Receiver]]:
    store = Store(f"sqlite:///{tmp_path}/w.db")
    stop = threading.Event()
    holder: list[WebhookSender] = []
    recorder = Recorder(store, None, TOPICS, lambda _p: holder[0].wake(),
                        webhook_targets=[target.outbox_target])
    sender = WebhookSender(target, store, recorder, stop, late_after_s=10.0, poll_s=0.2)
    holder.append(sender)
    recorder.start()
    sender.start()
    try:
        yield store, recorder, Receiver()
    finally:
        stop.set()
        sender.close(5)
        recorder.stop(5)
        store.close()


def _pending(store: Store, target: WebhookTarget) -> int:
    return len(store.pending_outbox(100, target.outbox_target))


@pytest.mark.timeout(60)
def test_failures_timeouts_and_a_restart_retry_the_same_event_then_deliver(
    tmp_path: Path,
) -> None:
    """500, 503, a hang past timeout_s, then the receiver is down, then back: every event
    arrives, in order, each retry with the same event_id and body; MQTT rows untouched."""
    answers: dict[int, Answer] = {1: (500, 0, 2), 2: (503, 0, 2), 3: (200, 2.0, 2)}
    rx = Receiver(lambda n: answers.get(n, (200, 0.0, 2)))
    target = WebhookTarget("erp", rx.url, secret="k", timeout_s=0.5, retry_min_s=0.05,
                           retry_max_s=0.2)
    with rig(tmp_path, target) as (store, recorder, _):
        rx.start()
        first, second = passage(1), passage(2)
        recorder.submit_passage(first, [])
        got = rx.wait_for(lambda g: len(g) >= 4, 20)  # 500, 503, hang (cut off), 200
        assert [g.answered for g in got[:4]] == [500, 503, 200, 200]
        assert {g.event["event_id"] for g in got[:4]} == {first.event_id}
        assert len({g.body for g in got[:4]}) == 1  # the same body each time
        rx.stop()  # down: connection refused, retried with backoff
        recorder.submit_passage(second, [])
        time.sleep(1.0)
        assert _pending(store, target) == 1
        rx.start()  # back on the same port
        rx.wait_for(lambda g: second.event_id in {x.event["event_id"] for x in g}, 10)
        assert recorder.flush(5)
        assert wait(lambda: _pending(store, target) == 0)
        mqtt = store.pending_outbox(10)  # MQTT's rows (event + last) wait for their publisher
        assert [m.event_id for m in mqtt] == [first.event_id] * 2 + [second.event_id] * 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("status", "retried"), [(400, False), (404, False), (408, True),
                                                   (429, True)])
def test_4xx_is_final_except_408_and_429(tmp_path: Path, status: int, retried: bool) -> None:
    rx = Receiver(lambda n: (status, 0.0, 2) if n == 1 else (200, 0.0, 2))
    target = WebhookTarget("crm", rx.url, retry_min_s=0.05, retry_max_s=0.1)
    with rig(tmp_path, target) as (store, recorder, _):
        rx.start()
        p = passage(1)
        recorder.submit_passage(p, [])
        assert wait(lambda: _pending(store, target) == 0, 10)
        time.sleep(0.5)  # a wrong retry would come now
        assert [g.answered for g in rx.got] == ([status, 200] if retried else [status])
        rx.stop()


@pytest.mark.timeout(60)
def test_late_marked_huge_answer_cut_off_and_signed(tmp_path: Path) -> None:
    rx = Receiver(lambda _n: (200, 0.0, 5_000_000))  # a 5 MB answer: read 64 KiB, closed
    target = WebhookTarget("late", rx.url, secret="k3y", timeout_s=2.0)
    with rig(tmp_path, target) as (store, recorder, _):
        rx.start()
        old = passage(1, at=datetime.now(UTC) - timedelta(minutes=5))
        fresh = passage(2)
        recorder.submit_passage(old, [])
        recorder.submit_passage(fresh, [])
        got = rx.wait_for(lambda g: len(g) >= 2, 10)
        assert wait(lambda: _pending(store, target) == 0, 10)
        late = {g.event["event_id"]: g.event["late"] for g in got}
        assert late == {old.event_id: True, fresh.event_id: False}
        assert all(g.headers["X-Gatecam-Signature"].startswith("sha256=") for g in got)
        rx.stop()


@pytest.mark.timeout(30)
def test_a_receiver_dripping_its_answer_is_cut_off_by_the_total_deadline(
    tmp_path: Path,
) -> None:
    """Each byte of the status line comes within the per-read timeout; the request as a
    whole may still take no longer than timeout_s: it fails and is retried."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    served: list[float] = []

    def drip() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            start = time.monotonic()
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.3)
            served.append(time.monotonic() - start)

    threading.Thread(target=drip, daemon=True).start()
    target = WebhookTarget("drip", f"http://127.0.0.1:{port}/h", timeout_s=1.0,
                           retry_min_s=5, retry_max_s=5)
    with rig(tmp_path, target) as (store, recorder, _):
        recorder.submit_passage(passage(1), [])
        assert wait(lambda: bool(served), 15)
        assert served[0] < 3.0  # cut off near 1 s, not after the 12 s drip
        assert _pending(store, target) == 1  # not delivered: retried later
    server.close()


def test_secret_comes_from_a_credential_file_never_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "webhook_erp").write_text("from-file\n", encoding="utf-8")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    hook = WebhookConfig(name="erp", url="https://erp.example/hook", secret_credential="erp")
    [target] = resolve_targets([hook], env)
    assert target.secret == "from-file" and target.outbox_target == "webhook:erp"
    missing = WebhookConfig(name="crm", url="http://crm.lan/h", secret_credential="crm")
    with pytest.raises(CredentialsError, match="webhooks: crm: no secret in credential file"):
        resolve_targets([missing], env)
    with pytest.raises(ValueError, match="keep the key out of the YAML"):
        WebhookConfig.model_validate({"name": "x", "url": "http://a/h", "secret": "s"})
    with pytest.raises(ValueError, match="http:// or https://"):
        WebhookConfig.model_validate({"name": "x", "url": "ftp://a/h"})


def wait(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(predicate())  # type: ignore[operator]


CRASH_SCRIPT = r"""
import sys, threading, uuid
from datetime import UTC, datetime
from daemon.domain import Passage
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from daemon.webhook.sender import WebhookSender, WebhookTarget
from daemon.contract import Topics
url, db = sys.argv[1], sys.argv[2]
store = Store(f"sqlite:///{db}")
target = WebhookTarget("erp", url, timeout_s=1.0, retry_min_s=0.05, retry_max_s=0.2)
rec = Recorder(store, None, Topics("gatecam", "lot-a"), lambda _p: None,
               webhook_targets=[target.outbox_target])
rec.start()
WebhookSender(target, store, rec, threading.Event(), poll_s=0.05).start()
for n in range(100000):
    t = datetime.now(UTC)
    rec.submit_passage(Passage(event_id=str(uuid.uuid4()), site="lot-a", camera="entry-1",
                               direction="entry", captured_at=t, decided_at=t,
                               plate=f"京A{n % 100000:05d}"), [])
    if n % 10 == 0:
        print(rec.passages_committed, flush=True)
"""


@pytest.mark.timeout(90)
def test_writer_sigkill_loses_no_webhook_event(tmp_path: Path) -> None:
    """Passages committed flat out, delivered to a slow receiver; SIGKILL; a restarted
    sender delivers every committed passage (same event_id, same body), nothing else."""
    rx = Receiver(lambda _n: (200, 0.02, 2)).start()
    db = tmp_path / "crash.db"
    proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, rx.url, str(db)], cwd=ROOT,
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while int(proc.stdout.readline() or -1) < 150:
            assert time.monotonic() < deadline and proc.poll() is None
        rx.wait_for(lambda g: len(g) >= 5, 10)  # some went out before the kill
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    conn = sqlite3.connect(db)
    committed = {r[0] for r in conn.execute("SELECT event_id FROM passages")}
    pending = conn.execute("SELECT count(*) FROM outbox WHERE target = 'webhook:erp' "
                           "AND delivered_at IS NULL").fetchone()[0]
    conn.close()
    assert len(committed) >= 100 and pending > 0, (len(committed), pending)
    target = WebhookTarget("erp", rx.url, retry_min_s=0.05, retry_max_s=0.2)
    store = Store(f"sqlite:///{db}")
    stop = threading.Event()
    rec = Recorder(store, None, TOPICS, lambda _p: None,
                   webhook_targets=[target.outbox_target])
    sender = WebhookSender(target, store, rec, stop, poll_s=0.05)
    rec.start()
    sender.start()
    try:
        assert wait(lambda: not store.pending_outbox(1, target.outbox_target), 60)
        got = rx.wait_for(lambda g: {x.event["event_id"] for x in g} >= committed, 10)
        assert {g.event["event_id"] for g in got} == committed  # all of them, nothing else
        bodies: dict[str, set[bytes]] = {}
        for g in got:  # a repeat is the same event (maybe marked late)
            bodies.setdefault(g.event["event_id"], set()).add(
                json.dumps({**g.event, "late": None}).encode())
        assert all(len(b) == 1 for b in bodies.values())
    finally:
        stop.set()
        sender.close(5)
        rec.stop(5)
        store.close()
        rx.stop()
