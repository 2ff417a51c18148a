"""Fixtures shared by the end-to-end tests: a private broker, the OCR emulator, daemon processes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.ocr.emulator.server import EmulatorServer
from scripts.rig.broker import Mosquitto
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, DaemonProcess


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    """A private mosquitto on a free loopback port, killed at the end of the test."""
    with Mosquitto() as b:
        yield b


@pytest.fixture(scope="session")
def ocr_emulator() -> Iterator[EmulatorServer]:
    """The Tencent emulator reading plates with RapidOCR, one per session (loads the model once)."""
    server = EmulatorServer(credentials={E2E_SECRET_ID: E2E_SECRET_KEY}, rate_limit=10.0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def daemon_runner(tmp_path: Path) -> Iterator[Any]:
    """Start daemon processes; any still running at the end are terminated."""
    started: list[DaemonProcess] = []

    def start(*args: str) -> DaemonProcess:
        d = DaemonProcess(list(args), tmp_path / f"daemon-{len(started)}.log")
        started.append(d)
        return d

    yield start
    for d in started:
        d.terminate()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test that runs ``main()`` in-process points the root logger at its captured stderr:
    undo it afterwards, whatever the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
