"""``gatecam emulate-tencent``: run the Tencent emulator alone until SIGTERM/SIGINT.

Credentials from ``TENCENTCLOUD_SECRET_ID`` / ``TENCENTCLOUD_SECRET_KEY`` (else the
public emulator defaults); ``--fault-plan`` (JSON or ``@FILE``), ``--oracle PLATE``
and ``--call-log FILE`` set the fault plan, an oracle reader and a JSON-lines call log.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from daemon.ocr.emulator.faults import FaultPlan, parse_plan
from daemon.ocr.emulator.readers import OracleReader
from daemon.ocr.emulator.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, EmulatorServer


def main(argv: Sequence[str] | None = None) -> int:
    """``gatecam emulate-tencent``: serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="gatecam emulate-tencent")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", type=float, default=10.0)
    parser.add_argument("--fault-plan", help="fault rules as JSON, or @FILE holding them")
    parser.add_argument("--oracle", metavar="PLATE", help="answer every image with this plate")
    parser.add_argument("--call-log", type=Path, help="append every call as a JSON line here")
    args = parser.parse_args(argv)
    plan = args.fault_plan
    if plan is not None and plan.startswith("@"):
        plan = Path(plan[1:]).read_text(encoding="utf-8")
    faults = FaultPlan(parse_plan(json.loads(plan)) if plan else None)
    reader = OracleReader({}, default=args.oracle) if args.oracle else None
    secret_id = os.environ.get("TENCENTCLOUD_SECRET_ID") or DEFAULT_SECRET_ID
    secret_key = os.environ.get("TENCENTCLOUD_SECRET_KEY") or DEFAULT_SECRET_KEY
    done = threading.Event()

    def _stop(_sig: int, _frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server = EmulatorServer(
        args.host, args.port, {secret_id: secret_key}, rate_limit=args.rate_limit,
        reader=reader, faults=faults, call_log=args.call_log,
    ).start()
    print(f"listening on http://{args.host}:{server.port}", flush=True)
    try:
        done.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
