
"""Shared fixtures for the OCR tests: rendered plate images and a loopback Tencent emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from daemon.ocr.emulator.server import EmulatorServer
from tests.support.ocr import SECRET_ID, SECRET_KEY, STUB_PLATE


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """An emulator with a stub reader that always finds STUB_PLATE (no OCR cost)."""
    server = EmulatorServer(
        credentials={SECRET_ID: SECRET_KEY}, rate_limit=100.0, reader=lambda _img: [STUB_PLATE]
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def rapid_emulator() -> Iterator[EmulatorServer]:
    """An emulator reading plates with the real RapidOCR engine."""
    server = EmulatorServer(credentials={SECRET_ID: SECRET_KEY}, rate_limit=100.0).start()
    try:
        yield server
    finally:
        server.stop()
