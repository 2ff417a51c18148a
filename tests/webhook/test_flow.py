"""webhook/flow.py: which rows start, how many at once, the backoff (pure, fake clock)."""

from __future__ import annotations

from dataclasses import dataclass

from daemon.webhook.flow import BATCH, Flow
from daemon.webhook.request import Verdict


@dataclass(frozen=True)
class R:
    id: int


def rows(*ids: int) -> list[R]:
    return [R(i) for i in ids]


def fed(flow: Flow[R], *ids: int) -> Flow[R]:
    asked = flow.needs_rows()
    flow.offer(rows(*ids), asked)
    return flow


def test_oldest_first_at_most_concurrency_in_flight() -> None:
    flow = fed(Flow[R](concurrency=3), 1, 2, 3, 4, 5)
    started = [flow.take() for _ in range(3)]
    assert [r.id for r in started if r] == [1, 2, 3]
    assert flow.wait_s(0.0) == float("inf")  # three in flight: the fourth waits
    assert flow.finish(R(2), Verdict.DELIVERED, 0.0) is None  # answered out of order
    assert flow.wait_s(0.0) == 0.0
    assert (flow.take() or R(0)).id == 4
    assert flow.busy == {1, 3, 4} and flow.done == {2}


def test_a_failure_pauses_then_one_at_a_time_oldest_first_until_a_success() -> None:
    flow = fed(Flow[R](concurrency=4, retry_min_s=1.0, retry_max_s=8.0), 1, 2, 3, 4, 5, 6)
    for _ in range(4):
        flow.take()
    assert flow.finish(R(1), Verdict.RETRY, 10.0) == 1.0
    assert flow.wait_s(10.5) == 0.5  # the backoff
    flow.finish(R(2), Verdict.RETRY, 10.2)  # a second failure doubles it
    assert flow.streak == 2 and flow.resume_at == 12.2
    flow.finish(R(3), Verdict.DELIVERED, 10.3)  # answered before the failures were known
    flow.finish(R(4), Verdict.RETRY, 10.4)
    assert flow.limit == 1 and flow.needs_rows() > 0  # read again: 1 comes first
    fed(flow, 1, 2, 3, 4, 5, 6)  # 3 is done but its mark not yet written: skipped
    assert flow.wait_s(12.0) > 0
    assert flow.wait_s(14.5) == 0.0
    assert (flow.take() or R(0)).id == 1
    assert flow.wait_s(14.5) == float("inf")  # the probe is alone in flight
    flow.finish(R(1), Verdict.DELIVERED, 14.6)
    assert flow.streak == 0 and flow.limit == 4
    assert [(flow.take() or R(0)).id for _ in range(3)] == [2, 4, 5]


def test_rejected_is_final_and_resets_the_streak() -> None:
    flow = fed(Flow[R](concurrency=1), 1, 2)
    flow.take()
    flow.finish(R(1), Verdict.RETRY, 0.0)
    fed(flow, 1, 2)
    row = flow.take()
    assert row is not None and row.id == 1
    assert flow.finish(row, Verdict.REJECTED, 5.0) is None
    assert flow.streak == 0 and 1 in flow.done


def test_done_rows_are_forgotten_once_their_mark_is_written() -> None:
    flow = fed(Flow[R](concurrency=2), 1, 2)
    for _ in range(2):
        row = flow.take()
        assert row is not None
        flow.finish(row, Verdict.DELIVERED, 0.0)
    asked = flow.needs_rows()
    assert asked == 2 + BATCH
    flow.offer(rows(2, 3), asked)  # 1's mark was written, 2's not yet
    assert flow.done == {2} and [r.id for r in flow.ready] == [3]
    flow.ready.clear()
    flow.offer(rows(*range(2, 2 + asked)), asked)  # a full read: rows past it not looked at
    assert flow.done == {2}


def test_a_full_read_keeps_done_rows_it_did_not_reach() -> None:
    flow = Flow[R](concurrency=1)
    flow.done = {500}
    asked = flow.needs_rows()
    flow.offer(rows(*range(1, asked + 1)), asked)
    assert flow.done == {500}
