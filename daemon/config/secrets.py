"""Secrets: the Tencent keys, the MQTT password and the gate key, never from the YAML file.

They come from ``TENCENTCLOUD_SECRET_ID`` / ``TENCENTCLOUD_SECRET_KEY`` /
``GATECAM_MQTT_PASSWORD`` / ``GATECAM_GATE_KEY`` (HMAC key of gate commands) or from
files of the same names (any case) in
``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``). :func:`reload_keys` re-reads the
Tencent keys while running, so a rotated key is used without a restart (the OCR client
calls it after ``AuthFailure.TokenFailure``, ``SecretIdNotFound`` or ``SignatureFailure``).
:func:`redact_url` hides a URL's password for logs. Nothing here logs a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class Secrets:
    """Credentials read from the environment or the systemd credentials directory."""

    secret_id: str | None
    secret_key: str | None
    mqtt_password: str | None
    gate_key: bytes | None = None
    """Key signing gate commands: the UTF-8 bytes of GATECAM_GATE_KEY, stripped."""

    def __repr__(self) -> str:  # never let a secret reach a log through repr
        return f"Secrets(secret_id={'set' if self.secret_id else None}, secret_key=<redacted>)"


def load_secrets(environ: Mapping[str, str] | None = None) -> Secrets:
    """Credentials from the environment, else from ``$CREDENTIALS_DIRECTORY`` files."""
    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")

    def get(name: str) -> str | None:
        value = env.get(name)
        if value:
            return value.strip()
        if cred_dir:
            for candidate in (name, name.lower()):
                p = Path(cred_dir) / candidate
                if p.is_file():
                    return p.read_text(encoding="utf-8").strip() or None
        return None

    return Secrets(
        secret_id=get("TENCENTCLOUD_SECRET_ID"),
        secret_key=get("TENCENTCLOUD_SECRET_KEY"),
        mqtt_password=get("GATECAM_MQTT_PASSWORD"),
        gate_key=(key.encode("utf-8") if (key := get("GATECAM_GATE_KEY")) else None),
    )


def reload_keys(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(SecretId, SecretKey) as configured right now, or None when either is missing."""
    secrets = load_secrets(environ)
    if not (secrets.secret_id and secrets.secret_key):
        return None
    return secrets.secret_id, secrets.secret_key


_USERINFO = re.compile(r"^(?P<user>[^:@]*)(:(?P<pw>[^@]*))?@")


def redact_url(url: str) -> str:
    """Replace the password of ``scheme://user:pass@host`` with ``***`` (for logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = _USERINFO.match(netloc[0] + "@")
    name = user.group("user") if user else ""
    return urlunsplit(parts._replace(netloc=f"{name}:***@{netloc[1]}"))
