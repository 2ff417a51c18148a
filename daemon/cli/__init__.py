"""The ``gatecam`` command line: one module per command group.

Receives: argv. Hands on: exit codes (0 ok, 78 bad configuration or credentials, 1 failure).

Modules: ``main`` (argument parsing, run/replay/ocr/check-config/demo/emulate), ``plates``
(recorded passages), ``allow`` (allow and deny lists), ``status`` (a running daemon's health).
"""
