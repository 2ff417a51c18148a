"""Secrets: the Tencent keys, the MQTT password and the gate key, never from the YAML file.

They come from ``TENCENTCLOUD_SECRET_ID`` / ``TENCENTCLOUD_SECRET_KEY`` /
``GATECAM_MQTT_PASSWORD`` / ``GATECAM_GATE_KEY`` (HMAC key of gate commands) or from
files of the same names (any case) in
``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``). :func:`reload_keys` re-reads the
Tencent keys while running, so a rotated key is used without a restart (the OCR client
calls it after ``AuthFailure.TokenFailure``, ``SecretIdNotFound`` or ``SignatureFailure``).

Redaction lives here, below every stage, so what reads a secret can also hide it:
:func:`redact_url` hides a URL's password (one containing ``@``, ``/``, ``:`` or spaces
too), :func:`redact_text` hides URL passwords and known secrets in free text. Every
secret this module reads (:func:`load_secrets`, :func:`reload_keys` after a rotation)
and every URL password the configuration holds (:func:`remember_url`) joins a
process-wide set, :func:`known_secrets`, that the log filter (daemon/ops/logsetup.py)
scrubs from every line. Nothing here logs a secret.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

MIN_SECRET_LEN = 4
"""Shorter "secrets" are not scrubbed from free text: they would shred every line."""

class _SecretSet:
    """The process-wide redaction set: grows under a lock, read as an immutable tuple."""

    def __init__(self) -> None:
        self.items: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, fresh: set[str]) -> None:
        with self._lock:  # longest first: a secret containing another is replaced whole
            self.items = tuple(sorted(set(self.items) | fresh, key=lambda s: (-len(s), s)))


_KNOWN = _SecretSet()


def remember(*secrets: str | None) -> None:
    """Add ``secrets`` to the set every log line is scrubbed of (process-wide, never shrinks)."""
    fresh = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN}
    if fresh - set(_KNOWN.items):
        _KNOWN.add(fresh)


def known_secrets() -> tuple[str, ...]:
    """Every secret read so far, longest first (see :func:`remember`)."""
    return _KNOWN.items


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

    secrets = Secrets(
        secret_id=get("TENCENTCLOUD_SECRET_ID"),
        secret_key=get("TENCENTCLOUD_SECRET_KEY"),
        mqtt_password=get("GATECAM_MQTT_PASSWORD"),
        gate_key=(key.encode("utf-8") if (key := get("GATECAM_GATE_KEY")) else None),
    )
    # Every read joins the log redaction set, so keys picked up by reload_keys after a
    # rotation are scrubbed like the ones read at start.
    remember(secrets.secret_id, secrets.secret_key, secrets.mqtt_password)
    return secrets


def read_credential(names: tuple[str, ...], environ: Mapping[str, str] | None = None,
                    ) -> str | None:
    """The first of ``names`` found in ``$CREDENTIALS_DIRECTORY``, stripped; None if none."""
    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    for name in names if cred_dir else ():
        p = Path(cred_dir or ".") / name
        if p.is_file():
            return p.read_text(encoding="utf-8").strip() or None
    return None


def reload_keys(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(SecretId, SecretKey) as configured right now, or None when either is missing."""
    secrets = load_secrets(environ)
    if not (secrets.secret_id and secrets.secret_key):
        return None
    return secrets.secret_id, secrets.secret_key


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::\d*)?(?=[/?#]|$)")
"""``host[:port]`` ending the authority: what must follow the ``@`` that ends credentials."""
_TEXT_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)\S*@"
    r"(?=(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::\d+)?(?:[/?#\s,;:)\]'\"]|$))"
)
"""``scheme://user:password@host`` in free text; the password runs to the last ``@`` of the
word that is followed by a host, so one holding ``@``, ``/`` or ``:`` is caught whole. A
password with spaces cannot be told from the text around it: those come from
:func:`known_secrets`."""


def split_credentials(url: str) -> tuple[str, str, str, str] | None:
    """``(scheme://, user, password, host-and-rest)`` of a URL with a password, else None.

    The credentials end at the *last* ``@`` followed by ``host[:port]`` and then ``/``,
    ``?``, ``#`` or the end, so a password written raw with ``@``, ``/``, ``:`` or spaces
    is split as its owner meant it (FFmpeg too takes the last ``@``; a raw ``/`` must be
    written ``%2F`` for FFmpeg). A URL with ``@`` in its path and no credentials may be
    split wrongly: the error is on the safe side (too much hidden).
    """
    m = _SCHEME.match(url)
    if m is None:
        return None
    rest = url[m.end():]
    at = len(rest)
    while (at := rest.rfind("@", 0, at)) > 0:
        if _HOST.match(rest, at + 1):
            break
    else:  # no host after any "@": hide up to the last one if it looks like credentials
        at = rest.rfind("@")
        if at <= 0:
            return None
    user, sep, password = rest[:at].partition(":")
    if not sep:
        return None  # a user name alone is no secret
    return m.group(), user, password, rest[at + 1:]


def url_password(url: str) -> str | None:
    """The password in ``url`` as written (maybe percent-encoded), or None."""
    parts = split_credentials(url)
    return parts[2] if parts and parts[2] else None


def redact_url(url: str) -> str:
    """Replace the password of ``scheme://user:pass@host`` with ``***`` (for logs)."""
    parts = split_credentials(url)
    if parts is None or not parts[2]:
        return url
    scheme, user, _, rest = parts
    return f"{scheme}{user}:***@{rest}"


def remember_url(url: str | None) -> None:
    """Add the password of ``url`` (as written and percent-decoded) to :func:`known_secrets`."""
    password = url_password(url) if url else None
    if password:
        remember(password, unquote(password))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL passwords, :func:`known_secrets` and ``secrets`` replaced by ``***``."""
    text = _TEXT_URL_PASSWORD.sub(r"\g<head>***@", text)
    extra = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
    for secret in (*extra, *known_secrets()):
        text = text.replace(secret, "***")
    return text
