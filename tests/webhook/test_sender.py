"""Webhook delivery from the outbox against a local HTTP receiver that fails, hangs, refuses,
restarts, answers slowly to several requests at once. Real SQLite, real HTTP on loopback
(a SIGKILLed daemon: test_crash.py)."""

from __future__ import annotations

import socket
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
from daemon.webhook.sender import WebhookSender
from daemon.webhook.target import WebhookTarget, resolve_targets
from tests.support.daemon import TOPICS
from tests.support.receiver import Answer, Receiver


def passage(n: int, at: datetime | None = None) -> Passage:
    t = at or datetime.now(UTC)
    return Passage(event_id=str(uuid.uuid4()), site="lot-a", camera="entry-1",
                   direction="entry", captured_at=t, decided_at=t, plate=f"京A{n:05d}",
                   confidence=99, ocr_calls=1)


@contextmanager
def rig(tmp_path: Path,
        target: WebhookTarget) -> Iterator[tuple[Store, Recorder, WebhookSender]]:
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
        yield store, recorder, sender
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


@pytest.mark.timeout(60)
@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrency_bounds_requests_in_flight(tmp_path: Path, concurrency: int) -> None:
    """A slow receiver gets up to ``concurrency`` requests at once, never more; each event
    once (healthy: no repeats); with 1, in commit order."""
    rx = Receiver(lambda _n: (200, 0.4, 2))
    target = WebhookTarget("slow", rx.url, timeout_s=5.0, concurrency=concurrency)
    with rig(tmp_path, target) as (store, recorder, _):
        rx.start()
        sent = [passage(n) for n in range(10)]
        for p in sent:
            recorder.submit_passage(p, [])
        got = rx.wait_for(lambda g: len(g) >= 10, 30)
        assert wait(lambda: _pending(store, target) == 0, 10)
        ids = [g.event["event_id"] for g in got]
        assert sorted(ids) == sorted(p.event_id for p in sent)  # each once
        most = max(g.concurrent for g in got)
        assert most <= concurrency
        if concurrency == 1:
            assert ids == [p.event_id for p in sent]
        else:
            assert most >= 2, [g.concurrent for g in got]
        rx.stop()


@pytest.mark.timeout(60)
def test_a_failing_target_is_retried_one_request_at_a_time(tmp_path: Path) -> None:
    """Four workers, the receiver answers 503 eight times: after the first burst only one
    request is in flight until one succeeds; then all arrive."""
    rx = Receiver(lambda n: (503, 0.1, 2) if n <= 8 else (200, 0.1, 2))
    target = WebhookTarget("flaky", rx.url, retry_min_s=0.05, retry_max_s=0.1, concurrency=4)
    with rig(tmp_path, target) as (store, recorder, _):
        rx.start()
        sent = [passage(n) for n in range(6)]
        for p in sent:
            recorder.submit_passage(p, [])
        assert recorder.flush(5)
        assert wait(lambda: _pending(store, target) == 0, 30)
        got = list(rx.got)
        assert [g.concurrent for g in got[4:8]] == [1, 1, 1, 1]  # probes, one at a time
        assert {p.event_id for p in sent} <= rx.delivered_ids()
        assert got[4].event["event_id"] == sent[0].event_id  # the oldest is retried first
        rx.stop()


@pytest.mark.timeout(60)
def test_unreachable_at_start_is_reported_then_cleared(tmp_path: Path) -> None:
    """Nothing pending, the receiver down: the start-up probe says unreachable (start does
    not wait for it); once it is up, the next event goes out and the status clears."""
    rx = Receiver()
    target = WebhookTarget("later", rx.url, retry_min_s=0.05, retry_max_s=0.1)
    with rig(tmp_path, target) as (store, recorder, sender):
        sender_status = sender.status
        assert wait(lambda: sender_status()["reachable"] is False, 10)
        assert f"127.0.0.1:{rx.port}" in str(sender_status()["unreachable_error"])
        assert sender_status()["failing"] == 0  # nothing was pending: not failing
        rx.start()
        p = passage(1)
        recorder.submit_passage(p, [])
        rx.wait_for(lambda g: p.event_id in {x.event["event_id"] for x in g}, 10)
        assert wait(lambda: sender_status()["reachable"] is True, 5)
        assert sender_status()["unreachable_error"] is None
        assert wait(lambda: _pending(store, target) == 0, 10)
        rx.stop()


@pytest.mark.timeout(60)
def test_the_start_up_probe_of_a_silent_target_never_delays_start(tmp_path: Path) -> None:
    """A host that never completes the handshake (a listener with a full backlog: SYNs
    dropped): start() returns at once, the probe times out on its own thread."""
    hole = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = hole.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue: later connects hang
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.2)
    target = WebhookTarget("hole", f"http://127.0.0.1:{port}/h", timeout_s=1.5)
    store = Store(f"sqlite:///{tmp_path}/p.db")
    stop = threading.Event()
    recorder = Recorder(store, None, TOPICS, lambda _p: None)
    sender = WebhookSender(target, store, recorder, stop)
    try:
        began = time.monotonic()
        sender.start()
        assert time.monotonic() - began < 0.5
        assert sender.status()["reachable"] is None  # still probing
        assert wait(lambda: sender.status()["reachable"] is False, 10)
        assert "timed out" in str(sender.status()["unreachable_error"])
    finally:
        stop.set()
        sender.close(5)
        store.close()
        for c in fillers:
            c.close()
        hole.close()
