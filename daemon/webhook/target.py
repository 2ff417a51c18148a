"""One webhook target: its settings with the secret read from its credential file, and the
start-up probe that says whether its host can be reached at all.

The probe is a TCP connection to the URL's host and port, nothing sent (a POST of a made-up
event would be an event to the receiver): it runs on the sender's own thread, so a target
that does not answer delays neither the daemon's start nor the other targets; it only
makes the target's status say ``reachable: false`` (a warning on /healthz, the
``gatecam_webhook_reachable`` gauge at 0) until a request gets an answer.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from daemon.config.integrations import WebhookConfig
from daemon.config.secrets import read_credential, remember
from daemon.errors import CredentialsError

DEFAULT_CONCURRENCY = 4
"""Requests in flight per target unless configured (``webhooks[].concurrency``)."""


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """One configured target, its secret resolved (from a credential file)."""

    name: str
    url: str
    secret: str | None = None
    image: bool = False
    timeout_s: float = 5.0
    retry_min_s: float = 1.0
    retry_max_s: float = 300.0
    concurrency: int = DEFAULT_CONCURRENCY

    @property
    def outbox_target(self) -> str:
        """The outbox ``target`` of this target's rows."""
        return f"webhook:{self.name}"

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the URL, the scheme's port when none is written."""
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.hostname or "", port


def probe(target: WebhookTarget, timeout_s: float) -> str | None:
    """None when a TCP connection to the target opens within ``timeout_s``; else why not."""
    host, port = target.address
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:  # refused, unreachable, no such host, timed out
        return f"cannot connect to {host}:{port}: {type(exc).__name__}: {exc}"


def resolve_targets(hooks: Sequence[WebhookConfig],
                    environ: Mapping[str, str] | None = None) -> list[WebhookTarget]:
    """The configured targets with their secrets read from credential files.

    CredentialsError (exit 78) names the target whose ``secret_credential`` file is missing;
    every secret joins the set the log filter scrubs."""
    out = []
    for h in hooks:
        secret = None
        if h.secret_credential is not None:
            name = f"webhook_{h.secret_credential}"
            secret = read_credential((name, name.upper()), environ)
            if secret is None:
                raise CredentialsError(
                    f"webhooks: {h.name}: no secret in credential file {name} "
                    "($CREDENTIALS_DIRECTORY; LoadCredential= in the unit)")
            remember(secret)
        out.append(WebhookTarget(h.name, h.url, secret, h.image, h.timeout_s, h.retry_min_s,
                                 h.retry_max_s, h.concurrency))
    return out
