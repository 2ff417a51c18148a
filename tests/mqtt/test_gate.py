"""Pure parts of daemon/mqtt/gate.py: the once-per-event ledger, the send decision, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daemon import contract
from daemon.domain import utc_iso
from daemon.mqtt.gate import GateLedger, check_gate, expiry_properties

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def cmd(left_s: float) -> str:
    return contract.encode({"action": "open", "event_id": "e",
                            "expires_at": utc_iso(T0 + timedelta(seconds=left_s))})


def test_ledger_claims_once_and_stays_bounded() -> None:
    now = [0.0]
    ledger = GateLedger(keep_s=100.0, max_events=3, monotonic=lambda: now[0])
    assert ledger.claim("a") and not ledger.claim("a")
    for e in "bcd":
        assert ledger.claim(e)
    assert "a" not in ledger and "d" in ledger  # the oldest went first
    now[0] = 200.0
    assert ledger.claim("e") and "b" not in ledger  # and old ones age out


def test_send_decision() -> None:
    def check(left: float, **kw: object) -> tuple[str, str] | None:
        args: dict[str, object] = {"connected": True, "ttl_s": 5.0, "mqtt5": True,
                                   "guard": None, **kw}
        return check_gate(cmd(left), T0, **args)  # type: ignore[arg-type]

    assert check(4.2) is None
    assert check(4.2, connected=False) == ("dropped", "not connected to the broker")
    assert check(0.0)[0] == "skipped"  # type: ignore[index]
    assert check(0.5)[0] == "skipped"  # type: ignore[index]
    assert check(0.5, mqtt5=False) is None
    refused = check(4.2, guard=lambda ttl: f"clock off, ttl {ttl}")
    assert refused == ("refused", "clock off, ttl 5.0")


def test_expiry_is_whole_seconds_left_rounded_down() -> None:
    props = expiry_properties(cmd(4.9), T0)
    assert props is not None and props.MessageExpiryInterval == 4
    assert expiry_properties(cmd(0.9), T0) is None
