"""Publisher over TLS with username/password and an optional client certificate, against a
mosquitto started with a CA and server certificate generated here (openssl CLI) and a
password file (mosquitto_passwd)."""

from __future__ import annotations

import json
import logging
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.config.models import MqttConfig, MqttTlsConfig
from daemon.domain import Passage
from daemon.mqtt.publisher import Publisher
from daemon.store.db import Store
from daemon.store.recorder import Recorder
from scripts.rig.broker import Mosquitto, Subscriber
from tests.support.daemon import TOPICS, site_topics

USER, PASSWORD = "gate", "s3cret-tls-pw"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server: tuple[Path, Path]
    client: tuple[Path, Path]
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "1",
             "-subj", f"/CN={name}", cwd=d)


def _leaf(d: Path, name: str, ca: str, ext: str) -> tuple[Path, Path]:
    (d / f"{name}.ext").write_text(ext + "\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "1", "-extfile", f"{name}.ext",
             cwd=d)
    return d / f"{name}.crt", d / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "ca")
    _ca(d, "other-ca")
    server = _leaf(d, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    client = _leaf(d, "client", "ca", "extendedKeyUsage=clientAuth")
    return Pki(d / "ca.crt", server, client, d / "other-ca.crt")


def _broker(pki: Pki, tmp: Path, *, require_cert: bool) -> Mosquitto:
    pw = tmp / f"passwd-{uuid.uuid4().hex[:6]}"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), USER, PASSWORD], check=True,
                   capture_output=True, timeout=30)
    pw.chmod(0o600)
    conf = "\n".join([
        f"cafile {pki.ca}", f"certfile {pki.server[0]}", f"keyfile {pki.server[1]}",
        f"require_certificate {'true' if require_cert else 'false'}", f"password_file {pw}",
    ])
    return Mosquitto(conf_extra=conf, anonymous=False)


@pytest.fixture
def tls_broker(pki: Pki, tmp_path: Path) -> Iterator[Mosquitto]:
    with _broker(pki, tmp_path, require_cert=False) as b:
        yield b


def _publisher(broker: Mosquitto, tmp: Path, tls: MqttTlsConfig, password: str) -> Publisher:
    store = Store(f"sqlite:///{tmp}/g-{uuid.uuid4().hex[:6]}.db")
    holder: list[Publisher] = []
    rec = Recorder(store, None, TOPICS, lambda _p: holder[0].wake() if holder else None)
    cfg = MqttConfig(port=broker.port, client_id=f"tls-{uuid.uuid4().hex[:6]}", username=USER,
                     tls=tls)
    pub = Publisher(cfg, site_topics("lot-tls"), store, rec, password, reconnect_max_s=1)
    holder.append(pub)
    rec.start()
    pub.start()
    return pub


def _close(pub: Publisher) -> None:
    pub.stop(3)
    pub._recorder.stop(3)
    pub._store.close()


def _passage() -> Passage:
    t = datetime.now(UTC)
    return Passage(event_id=str(uuid.uuid4()), site="lot-tls", camera="entry-1",
                   direction="entry", captured_at=t, decided_at=t, plate="京A12345")


def test_tls_with_password_delivers(tls_broker: Mosquitto, pki: Pki, tmp_path: Path) -> None:
    sub = Subscriber(tls_broker.port, ("gatecam/lot-tls/#",), ca_file=pki.ca, username=USER,
                     password=PASSWORD)
    pub = _publisher(tls_broker, tmp_path, MqttTlsConfig(ca_file=pki.ca), PASSWORD)
    try:
        assert sub.wait_connected(10)
        assert pub.wait_connected(10)
        p = _passage()
        pub._recorder.submit_passage(p, [])
        [msg] = sub.wait_for("gatecam/lot-tls/entry-1/passage", 1, 10)
        assert json.loads(msg.payload)["event_id"] == p.event_id
        assert pub.wait_idle(5)
    finally:
        sub.close()
        _close(pub)


def test_wrong_password_and_wrong_ca_are_logged_and_retried(
    tls_broker: Mosquitto, pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="daemon.mqtt.publisher"):
        bad_pw = _publisher(tls_broker, tmp_path, MqttTlsConfig(ca_file=pki.ca), "bad-pw-7x")
        bad_ca = _publisher(tls_broker, tmp_path, MqttTlsConfig(ca_file=pki.other_ca), PASSWORD)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (
                "Not authorized" in caplog.text and "certificate verify failed" in caplog.text
            ):
                time.sleep(0.1)
            assert "refused the connection: Not authorized" in caplog.text
            assert "TLS failure" in caplog.text and "check mqtt.tls" in caplog.text
            assert not bad_pw.connected and not bad_ca.connected
            assert bad_pw._thread.is_alive() and bad_ca._thread.is_alive()  # still retrying
            p = _passage()
            bad_pw._recorder.submit_passage(p, [])
            assert bad_pw._recorder.flush(5)
            assert len(bad_pw._store.pending_outbox()) == 2  # kept for when it can connect
        finally:
            _close(bad_pw)
            _close(bad_ca)
    assert "bad-pw-7x" not in caplog.text and PASSWORD not in caplog.text


def test_client_certificate_required(pki: Pki, tmp_path: Path) -> None:
    with _broker(pki, tmp_path, require_cert=True) as broker:
        without = _publisher(broker, tmp_path, MqttTlsConfig(ca_file=pki.ca), PASSWORD)
        with_cert = _publisher(
            broker, tmp_path,
            MqttTlsConfig(ca_file=pki.ca, cert_file=pki.client[0], key_file=pki.client[1]),
            PASSWORD,
        )
        try:
            assert with_cert.wait_connected(10)
            assert not without.wait_connected(1)
        finally:
            _close(without)
            _close(with_cert)


def test_tls_config_needs_cert_and_key_together(pki: Pki) -> None:
    with pytest.raises(ValueError, match="go together"):
        MqttTlsConfig(ca_file=pki.ca, cert_file=pki.client[0])
