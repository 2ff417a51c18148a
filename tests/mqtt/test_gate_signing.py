"""Signed gate commands: the daemon's commands, as a real broker delivers them, verify with
the reference verifier (contrib/gate_verify.py); altered, expired, replayed, unsigned or
wrongly keyed ones do not. The key comes from the credentials, never from the YAML."""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest

from daemon import contract
from daemon.access import AccessControl
from daemon.config.models import AccessConfig, MqttConfig
from daemon.config.secrets import load_secrets
from daemon.domain import Passage
from daemon.errors import CredentialsError, exit_code
from daemon.mqtt.gate import signing_key
from daemon.mqtt.publisher import Publisher
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from scripts.rig.broker import Mosquitto, Subscriber
from tests.support.daemon import TOPICS, site_topics

ROOT = Path(__file__).resolve().parents[2]
KEY = b"0123456789abcdef0123456789abcdef"
ALLOWED = "粤B12345"


def verifier_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gate_verify", ROOT / "contrib/gate_verify.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_signed_commands_verify_and_tampered_ones_do_not(
    broker: Mosquitto, tmp_path: Path
) -> None:
    gv = verifier_module()
    site = f"lot-{uuid.uuid4().hex[:6]}"
    store = Store(f"sqlite:///{tmp_path}/g.db")
    store.access_add(ALLOWED, "allow")
    holder: list[Publisher] = []
    recorder = Recorder(store, None, TOPICS, lambda _p: holder[0].wake(),
                        decide=AccessControl(store, AccessConfig()).apply, gate_ttl_s=5.0)
    cfg = MqttConfig.model_validate({"port": broker.port, "client_id": f"pub-{site}",
                                     "gate_command": True, "gate_signing": True})
    publisher = Publisher(cfg, site_topics(site), store, recorder, None, gate_key=KEY)
    holder.append(publisher)
    recorder.start()
    publisher.start()
    topic = contract.gate_topic("gatecam", site, "entry-1")
    sub = Subscriber(broker.port, (topic,))
    try:
        assert publisher.wait_connected(5) and sub.wait_connected(5)
        events = []
        for n in range(3):
            t = datetime.now(UTC)
            p = Passage(event_id=str(uuid.uuid4()), site=site, camera="entry-1",
                        direction="entry", captured_at=t, decided_at=t, plate=ALLOWED,
                        color="蓝", confidence=99 - n, category="实体车牌", ocr_calls=1)
            events.append(p.event_id)
            recorder.submit_passage(p, [])
        got = sub.wait_for(topic, 3, 10)
    finally:
        sub.close()
        publisher.stop(5)
        recorder.stop(5)
        store.close()

    schema = json.loads(contract.GATE_SCHEMA_PATH.read_text(encoding="utf-8"))
    v = gv.Verifier(KEY)
    for m in got:
        jsonschema.validate(json.loads(m.payload), schema)
        assert v.verify(m.topic, m.payload)["event_id"] in events
    first = got[0]
    with pytest.raises(gv.Rejected, match="replay"):
        v.verify(first.topic, first.payload)

    def rejected(topic: str, payload: str, key: bytes = KEY, at: float | None = None) -> str:
        fresh = gv.Verifier(key, clock=(lambda: at) if at is not None else time.time)
        with pytest.raises(gv.Rejected) as exc:
            fresh.verify(topic, payload)
        return str(exc.value)

    cmd = json.loads(first.payload)
    for field, value in (("event_id", str(uuid.uuid4())), ("action", "close"),
                         ("expires_at", (datetime.now(UTC) + timedelta(seconds=50)).isoformat(
                             timespec="milliseconds").replace("+00:00", "Z"))):
        altered = contract.encode({**cmd, field: value})
        assert "bad signature" in rejected(first.topic, altered)
    other_gate = contract.gate_topic("gatecam", site, "exit-1")
    assert "bad signature" in rejected(other_gate, first.payload)
    wrong_key = b"another-key-of-32-bytes........."
    assert "bad signature" in rejected(first.topic, first.payload, key=wrong_key)
    unsigned = contract.encode({k: cmd[k] for k in ("action", "event_id", "expires_at")})
    assert "unsigned" in rejected(first.topic, unsigned)
    expires = datetime.fromisoformat(cmd["expires_at"]).timestamp()
    assert "expired" in rejected(first.topic, first.payload, at=expires + 0.001)
    assert "a clock is off" in rejected(first.topic, first.payload, at=expires - 3600)


def test_canonical_bytes_are_what_the_readme_says() -> None:
    cmd = {"action": "open", "event_id": "e-1", "expires_at": "2026-11-25T08:00:05.000Z"}
    assert contract.gate_canonical("acme/gc/lot-a/entry-1/gate", cmd) == (
        b"gatecam-gate-v1\nlot-a\nentry-1\nopen\ne-1\n2026-11-25T08:00:05.000Z")
    assert verifier_module().canonical("acme/gc/lot-a/entry-1/gate", cmd) == (
        contract.gate_canonical("acme/gc/lot-a/entry-1/gate", cmd))
    import hashlib
    import hmac
    sig = hmac.new(b"k" * 16, contract.gate_canonical("g/lot-a/entry-1/gate", cmd),
                   hashlib.sha256).hexdigest()
    assert contract.gate_signature(b"k" * 16, "g/lot-a/entry-1/gate", cmd) == sig


def test_gate_key_comes_from_credentials_and_is_required_when_signing(tmp_path: Path) -> None:
    cfg = MqttConfig.model_validate({"gate_command": True, "gate_signing": True})
    (tmp_path / "GATECAM_GATE_KEY").write_text(KEY.decode() + "\n", encoding="utf-8")
    secrets = load_secrets({"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert secrets.gate_key == KEY and KEY.decode() not in repr(secrets)
    assert signing_key(cfg, secrets.gate_key) == KEY
    with pytest.raises(CredentialsError, match="GATECAM_GATE_KEY") as exc:
        signing_key(cfg, None)
    assert exit_code(exc.value) == 78
    with pytest.raises(CredentialsError, match="at least 16"):
        signing_key(cfg, b"short")
    assert signing_key(cfg.model_copy(update={"gate_signing": False}), None) is None
    with pytest.raises(ValueError):
        MqttConfig.model_validate({"gate_key": "in-the-yaml"})  # never from the YAML
