"""Rotated keys are picked up without a restart: TokenFailure, SecretIdNotFound, SignatureFailure.

The client re-reads the keys with the same function the app wires in
(:func:`daemon.config.secrets.reload_keys`, i.e. ``daemon.config.secrets.load_secrets``) from
files in ``$CREDENTIALS_DIRECTORY``, against the emulator whose accepted keys change.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from daemon.config.secrets import reload_keys
from daemon.domain import Candidate, Frame, PlateRead
from daemon.ocr.circuit import CLOSED, OPEN, OcrCircuit
from daemon.ocr.emulator.server import EmulatorServer
from daemon.ocr.errors import Action, OcrError
from daemon.ocr.pool import OcrPool
from daemon.ocr.ratelimit import RateLimiter
from daemon.ocr.tencent import TencentOcrClient
from tests.support.ocr import SECRET_ID, SECRET_KEY, STUB_PLATE, tiny_jpeg

NEW_ID, NEW_KEY = "AKIDgatecamROTATED", "gatecam-rotated-key"


@pytest.fixture
def cred_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$CREDENTIALS_DIRECTORY holding the original keys; no keys in the environment."""
    monkeypatch.delenv("TENCENTCLOUD_SECRET_ID", raising=False)
    monkeypatch.delenv("TENCENTCLOUD_SECRET_KEY", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    _write_keys(tmp_path, SECRET_ID, SECRET_KEY)
    return tmp_path


def _write_keys(directory: Path, secret_id: str, secret_key: str) -> None:
    """Rotate the way systemd credentials or a secrets agent would: replace the files."""
    for name, value in (("TENCENTCLOUD_SECRET_ID", secret_id),
                        ("TENCENTCLOUD_SECRET_KEY", secret_key)):
        tmp = directory / f".{name}.new"
        tmp.write_text(value + "\n", encoding="utf-8")
        tmp.replace(directory / name)


def _client(emu: EmulatorServer) -> TencentOcrClient:
    return TencentOcrClient(emu.url, SECRET_ID, SECRET_KEY, None, 3.0, reload_keys=reload_keys)


def _pool_read(client: TencentOcrClient, circuit: OcrCircuit) -> tuple[PlateRead, OcrPool]:
    pool = OcrPool(client, RateLimiter(100), 1, 85, 1920, circuit=circuit)
    pool.start()
    got: list[PlateRead] = []
    done = threading.Event()

    def reply(read: PlateRead) -> None:
        got.append(read)
        done.set()

    image = np.random.default_rng(2).integers(0, 255, (360, 640, 3), np.uint8)
    frame = Frame("cam", 1, 0.0, datetime.now(UTC), image)
    pool.submit(Candidate("cam", "p", frame, 1.0, 1, time.monotonic() + 3.0),
                reply)
    assert done.wait(10)
    pool.stop()
    return got[0], pool


def test_reload_keys_reads_the_credentials_directory(cred_dir: Path) -> None:
    assert reload_keys() == (SECRET_ID, SECRET_KEY)
    _write_keys(cred_dir, NEW_ID, NEW_KEY)
    assert reload_keys() == (NEW_ID, NEW_KEY)
    (cred_dir / "TENCENTCLOUD_SECRET_KEY").unlink()
    assert reload_keys() is None
    env = {"TENCENTCLOUD_SECRET_ID": "a", "TENCENTCLOUD_SECRET_KEY": "b"}
    assert reload_keys(env) == ("a", "b")  # the environment wins over the files


def test_token_failure_rereads_keys_and_retries_once(
    emulator: EmulatorServer, cred_dir: Path
) -> None:
    emulator.credentials[NEW_ID] = NEW_KEY  # the account accepts both while rotating
    emulator.fail_next("AuthFailure.TokenFailure")
    _write_keys(cred_dir, NEW_ID, NEW_KEY)
    with _client(emulator) as client:
        assert client.recognize(tiny_jpeg()).plate == STUB_PLATE.number
        assert client.secret_id == NEW_ID
    assert [(c.secret_id, c.code) for c in emulator.calls] == [
        (SECRET_ID, "AuthFailure.TokenFailure"), (NEW_ID, "OK")]


def test_token_failure_twice_gives_up_after_one_retry(
    emulator: EmulatorServer, cred_dir: Path
) -> None:
    emulator.fail_next("AuthFailure.TokenFailure", times=3)
    with _client(emulator) as client, pytest.raises(OcrError) as info:
        client.recognize(tiny_jpeg())
    assert info.value.code == "AuthFailure.TokenFailure"
    assert len(emulator.calls) == 2


def test_token_failure_through_the_pool_takes_a_slot_for_the_retry(
    emulator: EmulatorServer, cred_dir: Path
) -> None:
    emulator.credentials[NEW_ID] = NEW_KEY
    emulator.fail_next("AuthFailure.TokenFailure")
    _write_keys(cred_dir, NEW_ID, NEW_KEY)
    with _client(emulator) as client:
        read, pool = _pool_read(client, OcrCircuit())
    assert read.ok and read.plate == STUB_PLATE.number
    assert pool.stats()["retries"] == 1
    assert [c.secret_id for c in emulator.calls] == [SECRET_ID, NEW_ID]


@pytest.mark.parametrize(
    ("new_id", "code"),
    [(NEW_ID, "AuthFailure.SecretIdNotFound"), (SECRET_ID, "AuthFailure.SignatureFailure")],
)
def test_rotated_key_is_used_before_opening_the_circuit(
    emulator: EmulatorServer, cred_dir: Path, caplog: pytest.LogCaptureFixture,
    new_id: str, code: str,
) -> None:
    """The account's key was rotated (a new SecretId, or a new SecretKey for the same id) and
    the file updated: the refused call re-reads it, the retry succeeds, the circuit stays
    closed, and no key reaches the log."""
    emulator.credentials = {new_id: NEW_KEY}
    _write_keys(cred_dir, new_id, NEW_KEY)
    circuit = OcrCircuit()
    with _client(emulator) as client:
        read, _ = _pool_read(client, circuit)
    assert read.ok and read.plate == STUB_PLATE.number
    assert [(c.secret_id, c.code) for c in emulator.calls] == [(SECRET_ID, code), (new_id, "OK")]
    assert circuit.status()["state"] == CLOSED
    assert "rotated" in caplog.text
    assert SECRET_KEY not in caplog.text and NEW_KEY not in caplog.text


def test_unchanged_keys_still_open_the_circuit(
    emulator: EmulatorServer, cred_dir: Path
) -> None:
    """The key was revoked but the file still holds it: one call, no retry, circuit open."""
    emulator.credentials = {NEW_ID: NEW_KEY}
    circuit = OcrCircuit()
    with _client(emulator) as client:
        read, _ = _pool_read(client, circuit)
        with pytest.raises(OcrError) as info:
            client.recognize(tiny_jpeg())  # a direct call: no retry either
    assert read.error_code == "AuthFailure.SecretIdNotFound"
    assert info.value.action is Action.STOP
    assert len(emulator.calls) == 2
    assert circuit.status()["state"] == OPEN
