"""Logging setup: journald-friendly text or JSON lines on stderr, with secrets redacted.

Under systemd journald stamps each line itself, so the text format drops its own
timestamp and prefixes the syslog priority (``<3>``) so ``journalctl -p err`` works.
"Under systemd" means stderr *is* the stream named by ``$JOURNAL_STREAM`` (device:inode,
as ``systemd.exec(5)`` advises): a child that inherited the variable but writes to a file
or a terminal keeps ordinary timestamped lines. Every record passes a
:class:`RedactFilter`: URL passwords (``rtsp://user:secret@cam``, also holding ``@`` or ``/``)
become ``***``, and any known secret string is replaced wherever it appears: those
given to :func:`setup_logging` and every one read since
(:func:`daemon.config.secrets.known_secrets`: the Tencent keys, rotated ones included,
the MQTT password, camera passwords with spaces). Libraries' records below WARNING (httpx
logs a line per OCR call) pass only with ``verbose`` (:class:`OwnLoggersFilter`);
:func:`passage_line` is the one INFO line each passage gets.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from daemon.domain import Passage

from daemon.config.secrets import redact_text

_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL passwords, each of ``secrets`` and every known secret as ``***``."""
    return redact_text(text, secrets)


class RedactFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with :func:`redact`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; make its text safe first."""
        message = record.getMessage()
        safe = redact(message, self.secrets)
        if safe != message or record.args:
            record.msg, record.args = safe, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


class JournalFormatter(logging.Formatter):
    """Text without a timestamp, prefixed with ``<priority>`` for journald's stdout stream."""

    def format(self, record: logging.LogRecord) -> str:
        """One line (continuation lines of a traceback carry the same priority)."""
        prio = _SYSLOG_PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines())


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, thread, msg (+ exc)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single JSON line."""
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def is_journal_stream(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """True when ``stream`` is journald's (``$JOURNAL_STREAM``); trusted as-is without a fd."""
    value = environ.get("JOURNAL_STREAM")
    if not value:
        return False
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: an in-memory stream
        return True
    try:
        dev, ino = (int(part) for part in value.split(":", 1))
        st = os.fstat(fd)
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def setup_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    secrets: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    verbose: bool = False,
) -> logging.Handler:
    """Replace the root logger's handlers with one stderr handler; return it. Without
    ``verbose`` other libraries' records below WARNING are dropped."""
    env = os.environ if environ is None else environ
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    base = "%(levelname)s %(threadName)s %(name)s: %(message)s"
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter()
    elif is_journal_stream(stream, env):
        formatter = JournalFormatter(base)
    else:
        formatter = logging.Formatter("%(asctime)s " + base)
    handler.setFormatter(formatter)
    handler.addFilter(RedactFilter(secrets))
    if not verbose:
        handler.addFilter(OwnLoggersFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler


class OwnLoggersFilter(logging.Filter):
    """Pass gatecam's own records, and other libraries' at WARNING and above only: an httpx
    INFO line per OCR call would be most of the journal."""

    def filter(self, record: logging.LogRecord) -> bool:
        """True to keep ``record``."""
        name = record.name
        return record.levelno >= logging.WARNING or name == "daemon" or name.startswith(
            "daemon.")


def passage_line(p: Passage) -> str:
    """The one INFO line of a committed passage: where, what was read, what was decided."""
    plate = f"{p.plate} ({p.color or '?'}, confidence {p.confidence})" if p.plate else "no plate"
    late = ", late" if p.late else ""
    return (f"passage {p.event_id} {p.camera} {p.direction}: {plate}, {p.access} "
            f"({p.access_reason}), {p.ocr_calls} call(s) {p.latency_ms:.0f} ms{late}")
