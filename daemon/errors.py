"""The error tree: every failure gatecam raises on purpose, and what the CLI does with it.

::

    GatecamError                 root; the CLI prints its lines and exits 1 (systemd restarts)
    ├── ConfigError              the YAML is missing, unreadable or invalid: exit 78 (EX_CONFIG,
    │   │                        systemd does not restart), one line per problem; never retried
    │   ├── CredentialsError     the OCR provider needs keys and none were found: exit 78
    │   └── ReaderError          the local plate reader's models are missing or do not load: 78
    ├── StorageError             the database cannot be opened at start, or its schema is
    │                            newer than the code: exit 1
    ├── InputError               a file named on the command line is missing, unreadable or
    │                            not what the command takes: exit 66 (EX_NOINPUT)
    └── OcrError                 (daemon.ocr.errors) one OCR call failed; its ``action`` says
        ├── OcrServiceError      whether the pool retries it, backs off or opens the circuit.
        ├── OcrTransportError    Inside the daemon it never leaves the OCR pool: it becomes a
        └── OcrBadResponseError  failed PlateRead. From ``gatecam ocr`` it exits 1.

:func:`exit_code` is the one place that maps a class to its exit status.
"""

from __future__ import annotations

EX_CONFIG = 78
"""Exit status for a bad configuration (sysexits.h); systemd must not restart on it."""

EX_NOINPUT = 66
"""Exit status for a missing or unusable input file (sysexits.h)."""


class GatecamError(Exception):
    """Root of gatecam's own errors; ``lines`` is what a person reads, one problem per line."""

    def __init__(self, lines: list[str] | str) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))


class ConfigError(GatecamError):
    """Raised when the configuration file is missing, not YAML, or invalid; never retried."""


class CredentialsError(ConfigError):
    """Raised at start when the OCR provider needs keys and none were found; never retried."""


class ReaderError(ConfigError):
    """Raised at start when a model of the local plate reader is missing or does not load."""


class StorageError(GatecamError):
    """Raised when the database cannot be opened at start; systemd restarts the service."""


class InputError(GatecamError):
    """Raised by a command when a file it was given is missing, unreadable or of the wrong
    kind, before anything is sent or written; never retried."""


def exit_code(error: GatecamError) -> int:
    """The process exit status for ``error``: 78 for configuration and credentials, 66 for a
    bad input file, else 1."""
    if isinstance(error, ConfigError):
        return EX_CONFIG
    return EX_NOINPUT if isinstance(error, InputError) else 1
