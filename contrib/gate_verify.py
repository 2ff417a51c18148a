#!/usr/bin/env python3
"""Reference verifier of gatecam's signed gate commands, for controller authors (stdlib only).

A gate command on ``<prefix>/<site>/<camera>/gate`` with ``mqtt.gate_signing: true`` is::

    {"action":"open","event_id":"...","expires_at":"2026-11-25T08:00:05.000Z","sig":"<hex>"}

``sig`` is the lower-case hex HMAC-SHA256, under the shared key (the bytes of the
``GATECAM_GATE_KEY`` credential, surrounding whitespace stripped), of six lines joined
by ``\\n`` in UTF-8 with no trailing newline::

    gatecam-gate-v1
    <site>            (topic level before <camera>)
    <camera>          (topic level before "gate")
    <action>
    <event_id>
    <expires_at>      (exactly as in the payload)

Accept a command only if the signature matches (constant-time compare), the action is
``open``, ``expires_at`` is in the future but not more than ``max_ttl_s`` ahead on the
controller's clock, and its ``event_id`` was not accepted before (a replay). Keep the
controller's clock on NTP: expiry is only as good as both clocks.

Use as a module (:class:`Verifier`) or from a shell, fed by mosquitto_sub::

    mosquitto_sub -v -t 'gatecam/+/+/gate' | python3 gate_verify.py --key-file /path/key

prints ``OK <event_id>`` or ``REJECT <reason>`` per line.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime

VERSION = "gatecam-gate-v1"


class Rejected(Exception):  # noqa: N818 - reads as "raise Rejected(reason)"
    """The command must not open the gate; ``str(exc)`` says why."""


def canonical(topic: str, command: dict[str, object]) -> bytes:
    """The signed bytes of ``command`` published on ``topic``."""
    levels = topic.split("/")
    if len(levels) < 4 or levels[-1] != "gate":
        raise Rejected(f"not a gate topic: {topic!r}")
    fields = [VERSION, levels[-3], levels[-2], str(command.get("action", "")),
              str(command.get("event_id", "")), str(command.get("expires_at", ""))]
    return "\n".join(fields).encode("utf-8")


def _parse_utc(text: object) -> float:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise Rejected("expires_at missing or not UTC")
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()
    except ValueError as exc:
        raise Rejected(f"expires_at unreadable: {text!r}") from exc


class Verifier:
    """Checks signature, expiry and replay of gate commands for one key."""

    def __init__(self, key: bytes, *, max_ttl_s: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        """``max_ttl_s``: refuse commands expiring further ahead (a clock far off)."""
        self._key = key
        self._max_ttl = max_ttl_s
        self._clock = clock
        self._seen: dict[str, float] = {}  # event_id -> expires_at (epoch s)

    def verify(self, topic: str, payload: bytes | str) -> dict[str, object]:
        """The accepted command; raises :class:`Rejected` with the reason otherwise."""
        try:
            command = json.loads(payload)
        except ValueError as exc:
            raise Rejected("payload is not JSON") from exc
        if not isinstance(command, dict):
            raise Rejected("payload is not a JSON object")
        sig = command.get("sig")
        if not isinstance(sig, str) or len(sig) != 64:
            raise Rejected("unsigned or malformed sig")
        expected = hmac.new(self._key, canonical(topic, command), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig):
            raise Rejected("bad signature (wrong key, altered command or another gate's topic)")
        if command.get("action") != "open":
            raise Rejected(f"unknown action {command.get('action')!r}")
        event_id = command.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise Rejected("no event_id")
        expires = _parse_utc(command.get("expires_at"))
        now = self._clock()
        if now >= expires:
            raise Rejected(f"expired {now - expires:.1f} s ago")
        if expires - now > self._max_ttl:
            raise Rejected(f"expires {expires - now:.0f} s ahead: a clock is off")
        self._seen = {e: t for e, t in self._seen.items() if t > now}  # expired ones fail anyway
        if event_id in self._seen:
            raise Rejected(f"replay of event {event_id}")
        self._seen[event_id] = expires
        return command


def main(argv: list[str] | None = None) -> int:
    """Verify ``topic payload`` lines from stdin (``mosquitto_sub -v``); 0 if all were OK."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--key-file", required=True, help="file holding the shared key")
    ap.add_argument("--max-ttl", type=float, default=60.0, help="seconds ahead accepted")
    args = ap.parse_args(argv)
    with open(args.key_file, encoding="utf-8") as fh:
        verifier = Verifier(fh.read().strip().encode("utf-8"), max_ttl_s=args.max_ttl)
    status = 0
    for line in sys.stdin:
        topic, _, payload = line.rstrip("\n").partition(" ")
        try:
            command = verifier.verify(topic, payload)
        except Rejected as exc:
            print(f"REJECT {exc}", flush=True)
            status = 1
        else:
            print(f"OK {command['event_id']}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
