"""The paho client the publisher drives: MQTT 5 or 3.1.1, credentials, TLS; no callbacks.

MQTT 5 (the default) starts clean with a session expiry of 0, the v5 spelling of
``clean_session=True``: the durable queue is the SQLite outbox, not a broker session.
"""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from daemon.config.models import MqttConfig


def make_client(cfg: MqttConfig, client_id: str, password: str | None) -> mqtt.Client:
    """A paho client for ``cfg.protocol`` with credentials and TLS (no callbacks yet)."""
    if cfg.protocol == "5":  # clean start, session expiry 0: the v5 spelling of clean_session
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
    else:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=True, protocol=mqtt.MQTTv311)
    if cfg.username:
        client.username_pw_set(cfg.username, password)
    if cfg.tls is not None:
        client.tls_set(
            ca_certs=str(cfg.tls.ca_file) if cfg.tls.ca_file else None,
            certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
            keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        client.tls_insecure_set(cfg.tls.insecure)
    return client
