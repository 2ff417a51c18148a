"""Ops: keeps the running daemon observable and healthy under systemd.

Receives: a read-only view of the running stages (``daemon.app.AppView``).
Hands on: sd_notify READY/WATCHDOG, /metrics and /healthz, journald-friendly logs.

Modules: ``health`` (stall detection, watchdog), ``metrics`` (Prometheus and /healthz
server), ``observe`` (snapshots of the stages for both), ``logsetup`` (logging, redaction),
``tuning`` (process settings: malloc, OpenCV threads).
"""
