"""The emulator's fault plan: which calls fail, how, and how often, set at start or at run time.

A plan is an ordered list of :class:`FaultRule`. For each authenticated call
(after the emulator's own rate limit admitted it) the rules are tried in order;
a rule fires with its ``probability`` while it has ``times`` left (None: for
ever). ``latency`` rules add delay and let later rules fire too; the first rule
of any other kind decides the answer:

- ``error``: the documented error envelope with ``code`` (HTTP 200)
- ``timeout``: hold the request ``latency_s`` (default 30 s), then drop the connection
- ``malformed``: HTTP 200, ``Content-Type: application/json``, a body that is not JSON
- ``wrong_type``: HTTP 200, a valid JSON body under ``Content-Type: text/html``
- ``http5xx``: HTTP ``status`` (default 503) with an HTML body, as a gateway would send
- ``slow_drip``: the normal answer, status line and headers included, one byte every
  ``latency_s`` (default 0.5 s): each byte beats any read timeout, the whole never ends
- ``huge_body``: the normal answer padded (a ``Pad`` string) to ``size`` bytes (default
  1 MiB): valid JSON, only a size cap refuses it

Plans are plain JSON (a rule object or a list of them), e.g.
``[{"kind": "error", "code": "ResourceUnavailable.InArrears", "times": 5}]``; the
emulator takes one with ``--fault-plan`` and over ``POST /_control/faults``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("error", "latency", "timeout", "malformed", "wrong_type", "http5xx", "slow_drip",
         "huge_body")
MAX_SIZE = 64 << 20


@dataclass
class FaultRule:
    """One rule of a fault plan (see the module docstring for the kinds)."""

    kind: str
    code: str | None = None
    times: int | None = 1
    probability: float = 1.0
    latency_s: float = 0.0
    status: int = 503
    size: int = 1 << 20
    """Bytes of a ``huge_body`` answer."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "error" and not self.code:
            raise ValueError("an error fault needs a code")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or null")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be in [0, 1]")
        if not 0.0 <= self.latency_s <= 600.0:
            raise ValueError("latency_s must be in [0, 600]")
        if not 500 <= self.status <= 599:
            raise ValueError("status must be a 5xx code")
        if not 0 <= self.size <= MAX_SIZE:
            raise ValueError(f"size must be in [0, {MAX_SIZE}]")

    @classmethod
    def from_json(cls, obj: Any) -> FaultRule:
        """A rule from its JSON object; ValueError on unknown keys or bad values."""
        if not isinstance(obj, dict):
            raise ValueError("a fault rule is a JSON object")
        unknown = set(obj) - {"kind", "code", "times", "probability", "latency_s", "status",
                            "size"}
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        try:
            return cls(**obj)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do with one call: extra delay, and at most one deciding rule."""

    delay_s: float = 0.0
    rule: FaultRule | None = None


def parse_plan(obj: Any) -> list[FaultRule]:
    """Rules from a JSON rule object or list of them."""
    items = obj if isinstance(obj, list) else [obj]
    return [FaultRule.from_json(item) for item in items]


class FaultPlan:
    """Thread-safe, ordered fault rules; ``rng`` makes probabilistic plans reproducible."""

    def __init__(self, rules: list[FaultRule] | None = None, rng: random.Random | None = None):
        self._rules = list(rules or [])
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.fired = 0
        """Calls some deciding rule applied to."""

    def add(self, rules: list[FaultRule]) -> None:
        """Append rules (they apply after the ones already there)."""
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        """The rules still active, as JSON objects."""
        with self._lock:
            return [asdict(r) for r in self._rules]

    def draw(self) -> Fault:
        """Consume the rules that fire for one call."""
        delay = 0.0
        with self._lock:
            for rule in list(self._rules):
                if rule.times == 0 or self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                if rule.kind == "latency":
                    delay += rule.latency_s
                    continue
                self.fired += 1
                return Fault(delay, rule)
        return Fault(delay)
