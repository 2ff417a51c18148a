"""Benchmark of delivery: passages through commit (recorder) and publish (outbox -> PUBACK).

Runs against a private mosquitto on loopback and a SQLite file in a temporary folder:

1. baseline: bare paho QoS 1 publishes of the same payloads, same in-flight window
   (no database) — what the broker and paho alone can do on this machine;
2. sustained: N passages submitted to the Recorder as fast as it takes them, each
   committed with its outbox rows and published QoS 1 -> passages/s until all are
   acknowledged (the capacity);
3. paced: N passages at a steady ``--rate`` (200/s) -> time from each commit to its
   event's PUBACK (p50/p95): latency, not queueing behind a burst;
4. replay: the broker is down while N passages are committed; then it starts and
   the outbox drains -> rows/s and passages/s of the replay.

Targets (issue 5): >= 200 passages/s, commit-to-PUBACK p95 <= 20 ms on loopback.
``--webhook healthy|dead`` adds one webhook target to the paced phase (issue 15): a local
HTTP receiver answering 204 (then ``webhook_commit_to_delivered_p95_ms``: commit to the
receiver's answer), or a port nobody listens on (MQTT's figures must not move).
The last line is one JSON object with passages_per_s, commit_to_puback_p95_ms and
replay_per_s (plus the rest). Usage: .venv/bin/python scripts/bench_delivery.py [-n 1000]

``--webhook-compare`` runs only the paced phase, three times: without a webhook, with a
healthy target (``--concurrency`` requests in flight, a receiver taking ``--hook-delay-ms``
per request) and with a dead one; it prints webhook_added_p95_ms (the target's
commit-to-delivered p95 minus MQTT's commit-to-PUBACK p95 without a webhook) and
mqtt_p95_dead_to_none (MQTT's p95 with the dead target over its p95 without).

``--compare-sync`` runs the commit-only, sustained and paced phases with SQLite
``synchronous=NORMAL`` and then ``FULL`` (the Store's default: passages survive a power
cut) and prints both and their ratio; ``--dir`` puts the databases on the disk to measure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from daemon import contract  # noqa: E402
from daemon.config.models import MqttConfig  # noqa: E402
from daemon.contract import Topics  # noqa: E402
from daemon.domain import Passage  # noqa: E402
from daemon.mqtt.publisher import Publisher  # noqa: E402
from daemon.store.db import Store  # noqa: E402
from daemon.store.recorder import Recorder  # noqa: E402
from daemon.webhook.sender import WebhookSender  # noqa: E402
from daemon.webhook.target import WebhookTarget  # noqa: E402
from scripts.rig.broker import Mosquitto, free_port  # noqa: E402
from scripts.rig.hookserver import HookReceiver  # noqa: E402

SITE = "bench"


def make(n: int) -> Passage:
    """A realistic passage (plate, colour, rect, request id)."""
    t = datetime.now(UTC)
    return Passage(
        event_id=str(uuid.uuid4()), site=SITE, camera=f"cam-{n % 2}", direction="entry",
        captured_at=t, decided_at=t, plate=f"京A{n % 100000:05d}", color="蓝", confidence=99,
        category="实体车牌", ocr_calls=1, request_ids=(str(uuid.uuid4()),), latency_ms=180.0,
    )


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def baseline(port: int, n: int, window: int) -> dict[str, float]:
    """Bare paho: n QoS 1 publishes with at most ``window`` awaiting PUBACK."""
    payloads = [contract.encode(make(i).as_event()) for i in range(n)]
    sent_at: dict[int, float] = {}
    acked_at: dict[int, float] = {}
    cond = threading.Condition()

    def on_publish(_c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        with cond:  # never call paho while holding cond: paho holds its own lock here
            acked_at[mid] = time.perf_counter()
            cond.notify_all()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-base-{uuid.uuid4().hex[:6]}")
    c.max_inflight_messages_set(window + 16)
    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    t0 = time.perf_counter()
    for i, payload in enumerate(payloads):
        with cond:
            while i - len(acked_at) >= window:
                cond.wait(1)
        t = time.perf_counter()
        info = c.publish(f"gatecam/{SITE}/base/passage", payload, qos=1)
        sent_at[info.mid] = t
    with cond:
        while len(acked_at) < n:
            cond.wait(1)
    elapsed = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    lat = [(acked_at[m] - t) * 1000 for m, t in sent_at.items() if m in acked_at]
    return {"msgs_per_s": n / elapsed, "puback_p95_ms": pct(lat, 0.95)}


class Rig:
    """Store + Recorder + Publisher with commit and PUBACK timestamps (+ a webhook target)."""

    def __init__(self, port: int, db: Path, window: int, hook_url: str | None = None, *,
                 synchronous: str | None = None, concurrency: int = 4) -> None:
        self.store = (Store(f"sqlite:///{db}") if synchronous is None
                      else Store(f"sqlite:///{db}", synchronous=synchronous))
        self.committed_at: dict[str, float] = {}
        self.acked_at: dict[int, float] = {}
        self.pub: Publisher | None = None
        target = (WebhookTarget("bench", hook_url, timeout_s=2.0, concurrency=concurrency)
                  if hook_url else None)
        self.rec = Recorder(self.store, None, Topics("gatecam", "lot-a"), self._committed,
                            webhook_targets=[target.outbox_target] if target else [])
        self._stop = threading.Event()
        self.hook = (WebhookSender(target, self.store, self.rec, self._stop).started()
                     if target else None)
        cfg = MqttConfig(port=port, client_id=f"bench-{uuid.uuid4().hex[:6]}",
                         max_inflight=window, late_after_s=3600)
        self.pub = Publisher(cfg, Topics(cfg.topic_prefix, SITE),
                             self.store, self.rec, None, reconnect_min_s=1,
                             reconnect_max_s=1, on_acked=self._acked)
        self.rec.start()
        self.pub.start()

    def _committed(self, p: Passage) -> None:
        self.committed_at[p.event_id] = time.monotonic()
        if self.pub is not None:
            self.pub.wake()
        if self.hook is not None:
            self.hook.wake()

    def _acked(self, outbox_id: int, at: float) -> None:
        self.acked_at[outbox_id] = at

    def event_latencies_ms(self) -> list[float]:
        """Commit -> PUBACK of each passage's live event row."""
        from sqlalchemy import select

        from daemon.store.tables import outbox

        with self.store.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.id, outbox.c.event_id, outbox.c.topic))
            return [(self.acked_at[i] - self.committed_at[e]) * 1000 for i, e, t in rows
                    if t.endswith("/passage") and i in self.acked_at and e in self.committed_at]

    def close(self) -> None:
        self._stop.set()
        if self.hook is not None:
            self.hook.close(5)
        if self.pub is not None:
            self.pub.stop(5)
        self.rec.stop(5)
        self.store.close()


def run_rig(
    port: int, db: Path, window: int, n: int, rate: float | None, *,
    hook: HookReceiver | str | None = None, hook_lat: list[float] | None = None,
    synchronous: str | None = None, concurrency: int = 4,
) -> tuple[float, list[float]]:
    """Submit n passages (flat out, or paced at ``rate``/s); (seconds to all PUBACKs, latencies).

    With ``hook`` (a receiver or a dead URL) a webhook target gets every passage too; for a
    receiver, commit-to-arrival latencies are appended to ``hook_lat``."""
    url = hook.url if isinstance(hook, HookReceiver) else hook
    rig = Rig(port, db, window, url, synchronous=synchronous, concurrency=concurrency)
    if not rig.pub or not rig.pub.wait_connected(10):
        raise SystemExit("publisher did not connect")
    t0 = time.perf_counter()
    for i in range(n):
        if rate:
            time.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        rig.rec.submit_passage(make(i), [])
    # The queue is bounded in bytes, not items: submits no longer wait for the writer, so
    # wait for the commits first (an idle outbox before them means nothing).
    if not rig.rec.flush(120) or not rig.pub.wait_idle(120):
        raise SystemExit("phase did not drain")
    elapsed = time.perf_counter() - t0
    lat = rig.event_latencies_ms()
    if isinstance(hook, HookReceiver) and hook_lat is not None:
        deadline = time.monotonic() + 60
        while len(hook.seen) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        hook_lat += [(hook.seen[e] - t) * 1000 for e, t in rig.committed_at.items()
                     if e in hook.seen]
    rig.close()
    return elapsed, lat


def run_replay(broker: Mosquitto, db: Path, window: int, n: int) -> float:
    """Commit n passages with the broker down, start it; seconds from reconnect to drained."""
    broker.stop()
    rig = Rig(broker.port, db, window)
    for i in range(n):
        rig.rec.submit_passage(make(i), [])
    if not rig.rec.flush(120):
        raise SystemExit("replay phase: commits did not finish")
    broker.start()
    if not rig.pub or not rig.pub.wait_connected(30):
        raise SystemExit("replay phase: no reconnect")
    t1 = time.perf_counter()
    if not rig.pub.wait_idle(120):
        raise SystemExit("replay phase did not drain")
    replay_s = time.perf_counter() - t1
    rig.close()
    return replay_s


def commit_ms(db: Path, n: int, synchronous: str) -> list[float]:
    """Milliseconds of each of n single-passage transactions (passage + outbox rows): the
    writer alone, no broker, so the fsync FULL adds is what differs."""
    store = Store(f"sqlite:///{db}", synchronous=synchronous)
    out = []
    for i in range(n):
        p = make(i)
        messages = contract.passage_messages("gatecam", p, 5.0)
        t = time.perf_counter()
        store.record_passage(p, [], messages)
        out.append((time.perf_counter() - t) * 1000)
    store.close()
    return out


def compare_sync(port: int, tmp: Path, window: int, n: int, rate: float) -> dict[str, float]:
    """Sustained and paced phases with SQLite synchronous=NORMAL then FULL; both and the ratio.

    FULL fsyncs the WAL at every commit: what a power cut needs to keep the last passages.
    """
    out: dict[str, float] = {}
    for level in ("NORMAL", "FULL"):
        commit = commit_ms(tmp / f"commit-{level}.db", n, level)
        out[f"{level}_commit_p50_ms"] = round(pct(commit, 0.5), 3)
        out[f"{level}_commit_p95_ms"] = round(pct(commit, 0.95), 3)
        print(f"synchronous={level}: one passage + outbox per transaction, commit p50 "
              f"{pct(commit, 0.5):.3f} ms, p95 {pct(commit, 0.95):.3f} ms")
        elapsed, _ = run_rig(port, tmp / f"sustained-{level}.db", window, n, None,
                             synchronous=level)
        _, lat = run_rig(port, tmp / f"paced-{level}.db", window, n, rate, synchronous=level)
        out[f"{level}_passages_per_s"] = round(n / elapsed, 1)
        out[f"{level}_p50_ms"] = round(pct(lat, 0.5), 2)
        out[f"{level}_p95_ms"] = round(pct(lat, 0.95), 2)
        print(f"synchronous={level}: sustained {n / elapsed:.0f} passages/s; paced at "
              f"{rate:.0f}/s commit -> PUBACK p50 {pct(lat, 0.5):.2f} ms, "
              f"p95 {pct(lat, 0.95):.2f} ms")
    out["full_to_normal_commit_p50"] = round(
        out["FULL_commit_p50_ms"] / out["NORMAL_commit_p50_ms"], 2)
    out["full_to_normal_throughput"] = round(
        out["FULL_passages_per_s"] / out["NORMAL_passages_per_s"], 3)
    out["full_minus_normal_p95_ms"] = round(out["FULL_p95_ms"] - out["NORMAL_p95_ms"], 2)
    print(f"FULL / NORMAL: commit p50 {out['full_to_normal_commit_p50']:.2f}x, "
          f"throughput {out['full_to_normal_throughput']:.2f}x, "
          f"paced p95 {out['full_minus_normal_p95_ms']:+.2f} ms")
    return out


def webhook_compare(port: int, tmp: Path, window: int, n: int, rate: float, *,
                    concurrency: int, delay_s: float, repeat: int) -> dict[str, float]:
    """The paced phase without a webhook (the baseline), with a healthy target, with a dead
    one, ``repeat`` times interleaved and rotated (a busy machine's bursts, and whatever
    the phase before leaves behind, hit all three alike), the
    latencies of each kind pooled: what a webhook adds to commit-to-delivered, and whether
    a dead target moves MQTT."""
    lats: dict[str, list[float]] = {"none": [], "healthy": [], "dead": []}
    cpu = dict.fromkeys(lats, 0.0)
    hook_lat: list[float] = []
    names = list(lats)
    for r in range(repeat):
        for name in names[r % 3:] + names[:r % 3]:  # each round in another order
            rx = HookReceiver(delay_s) if name == "healthy" else None
            hook = rx or (f"http://127.0.0.1:{free_port()}/hook" if name == "dead" else None)
            t = time.process_time()  # this process only: the receiver is another one
            lats[name] += run_rig(port, tmp / f"cmp-{name}-{r}.db", window, n, rate,
                                  hook=hook, hook_lat=hook_lat, concurrency=concurrency)[1]
            cpu[name] += time.process_time() - t
            if rx is not None:
                rx.close()
    out: dict[str, float] = {}
    for name, lat in lats.items():
        out[f"mqtt_p50_ms_{name}"] = round(pct(lat, 0.5), 2)
        out[f"mqtt_p95_ms_{name}"] = round(pct(lat, 0.95), 2)
        out[f"cpu_ms_per_passage_{name}"] = round(cpu[name] * 1000 / (n * repeat), 3)
        print(f"webhook {name}: MQTT commit -> PUBACK p50 {pct(lat, 0.5):.2f} ms, "
              f"p95 {pct(lat, 0.95):.2f} ms; daemon side CPU "
              f"{out[f'cpu_ms_per_passage_{name}']:.3f} ms per passage")
    out["webhook_delivered"] = len(hook_lat)
    out["webhook_p50_ms"] = round(pct(hook_lat, 0.5), 2)
    out["webhook_p95_ms"] = round(pct(hook_lat, 0.95), 2)
    out["webhook_added_p95_ms"] = round(out["webhook_p95_ms"] - out["mqtt_p95_ms_none"], 2)
    out["mqtt_p95_dead_to_none"] = round(out["mqtt_p95_ms_dead"] / out["mqtt_p95_ms_none"], 2)
    print(f"healthy target ({len(hook_lat)} of {n * repeat} events): commit -> delivered p50 "
          f"{out['webhook_p50_ms']:.2f} ms, p95 {out['webhook_p95_ms']:.2f} ms "
          f"({out['webhook_added_p95_ms']:+.2f} ms over MQTT's p95 without a webhook)")
    print(f"dead target: MQTT p95 {out['mqtt_p95_dead_to_none']:.2f}x the p95 without one")
    return out


def main() -> int:
    """Run the phases and print the figures, JSON last."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="passages per phase")
    ap.add_argument("--window", type=int, default=20, help="mqtt.max_inflight")
    ap.add_argument("--rate", type=float, default=200.0, help="paced phase, passages/s")
    ap.add_argument("--compare-sync", action="store_true",
                    help="only the sustained and paced phases, with SQLite synchronous=NORMAL "
                         "and FULL, and their ratio")
    ap.add_argument("--dir", type=Path, default=None,
                    help="folder for the databases (a real disk: fsync is what is measured)")
    ap.add_argument("--webhook", choices=("none", "healthy", "dead"), default="none",
                    help="a webhook target in the paced phase: a local receiver or a dead port")
    ap.add_argument("--concurrency", type=int, default=4,
                    help="the webhook target's requests in flight (webhooks[].concurrency)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="--webhook-compare: rounds of the three phases, interleaved")
    ap.add_argument("--hook-delay-ms", type=float, default=0.0,
                    help="the healthy receiver takes this long per request")
    ap.add_argument("--webhook-compare", action="store_true",
                    help="only the paced phase, three times: no webhook, a healthy target, "
                         "a dead one (issue 15's targets, measured against the first)")
    args = ap.parse_args()
    n, w = args.n, args.window
    tmp = Path(tempfile.mkdtemp(prefix="gatecam-bench-", dir=args.dir))
    if args.compare_sync:
        with Mosquitto() as broker:
            sync = compare_sync(broker.port, tmp, w, n, args.rate)
        print(json.dumps({**sync, "paced_rate": args.rate, "n": n, "max_inflight": w}))
        return 0
    if args.webhook_compare:
        with Mosquitto() as broker:
            cmp = webhook_compare(broker.port, tmp, w, n, args.rate,
                                  concurrency=args.concurrency,
                                  delay_s=args.hook_delay_ms / 1000, repeat=args.repeat)
        print(json.dumps({**cmp, "paced_rate": args.rate, "n": n, "max_inflight": w,
                          "concurrency": args.concurrency, "hook_delay_ms": args.hook_delay_ms,
                          "repeat": args.repeat}))
        return 0
    with Mosquitto() as broker:
        base = baseline(broker.port, n, w)
        print(f"baseline paho QoS 1: {base['msgs_per_s']:.0f} msg/s, "
              f"PUBACK p95 {base['puback_p95_ms']:.2f} ms")

        elapsed, flood = run_rig(broker.port, tmp / "sustained.db", w, n, None)
        per_s, msgs_per_s = n / elapsed, 2 * n / elapsed
        print(f"sustained: {n} passages in {elapsed:.2f} s = {per_s:.0f} passages/s "
              f"({msgs_per_s:.0f} msg/s, {msgs_per_s / base['msgs_per_s']:.2f}x baseline)")
        print(f"  (flood: commit -> PUBACK p95 {pct(flood, 0.95):.0f} ms is queueing behind the "
              f"burst, not latency)")

        hook: HookReceiver | str | None = None
        if args.webhook == "healthy":
            hook = HookReceiver(args.hook_delay_ms / 1000)
        elif args.webhook == "dead":
            hook = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: refused
        hook_lat: list[float] = []
        _, lat = run_rig(broker.port, tmp / "paced.db", w, n, args.rate, hook=hook,
                         hook_lat=hook_lat, concurrency=args.concurrency)
        if isinstance(hook, HookReceiver):
            hook.close()
            print(f"  webhook ({len(hook_lat)} events): commit -> delivered p50 "
                  f"{pct(hook_lat, 0.5):.2f} ms, p95 {pct(hook_lat, 0.95):.2f} ms")
        print(f"paced at {args.rate:.0f} passages/s: commit -> PUBACK p50 {pct(lat, 0.5):.2f} ms, "
              f"p95 {pct(lat, 0.95):.2f} ms, max {max(lat):.2f} ms over {len(lat)} events "
              f"(mean {statistics.fmean(lat):.2f} ms; bare paho p95 {base['puback_p95_ms']:.2f})")

        replay_s = run_replay(broker, tmp / "replay.db", w, n)
        replay_per_s = n / replay_s
        print(f"replay after outage: {n} passages ({2 * n} rows) in {replay_s:.2f} s "
              f"after the reconnect = {replay_per_s:.0f} passages/s")
    result = {
        "passages_per_s": round(per_s, 1),
        "commit_to_puback_p50_ms": round(pct(lat, 0.5), 2),
        "commit_to_puback_p95_ms": round(pct(lat, 0.95), 2),
        "replay_per_s": round(replay_per_s, 1),
        "baseline_msgs_per_s": round(base["msgs_per_s"], 1),
        "baseline_puback_p95_ms": round(base["puback_p95_ms"], 2),
        "ratio_to_baseline": round(msgs_per_s / base["msgs_per_s"], 3),
        "paced_rate": args.rate,
        "webhook": args.webhook,
        **({"webhook_commit_to_delivered_p95_ms": round(pct(hook_lat, 0.95), 2)}
           if hook_lat else {}),
        "n": n,
        "max_inflight": w,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
