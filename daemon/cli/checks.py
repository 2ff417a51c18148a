"""Local checks before a command acts: ``--strict`` checks of a loaded configuration
(credentials present, nothing left from the example: ``CHANGE-ME``, documentation
addresses; pure, the config and secrets are passed in) and :func:`read_image`, which refuses
a file ``gatecam ocr`` must not send to the billed endpoint.

Used by ``gatecam check-config --strict`` (deployment scripts) and ``gatecam run --strict``
(the systemd unit): a problem is a ConfigError, so exit 78 and one line per problem. Lines
name the key, never its value (a camera URL carries a password).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from daemon.config.models import Config
from daemon.config.secrets import Secrets
from daemon.errors import InputError

__all__ = ["placeholder_keys", "read_image", "strict_problems"]

_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}
"""What LicensePlateOCR accepts (TENCENT_API.md: PNG/JPG/JPEG only), by their first bytes."""

PLACEHOLDERS = ("change-me", "changeme")
"""Text the example configuration marks as "replace this" (case-insensitive)."""

DOC_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))
"""Addresses reserved for documentation (RFC 5737, RFC 3849): no camera or broker lives there."""

_DOC_HOSTS = re.compile(r"(^|\.)example\.(com|org|net)$", re.IGNORECASE)
_BARE_HOST = re.compile(r"^[0-9A-Za-z.:-]+$")


def strict_problems(cfg: Config, secrets: Secrets) -> list[str]:
    """Every reason this configuration cannot run for real, one line each (empty: ready)."""
    problems = []
    if cfg.ocr.provider == "tencent" and not (secrets.secret_id and secrets.secret_key):
        problems.append(
            "Tencent credentials MISSING: put the SecretId and SecretKey in "
            "/etc/gatecam/credentials/TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY "
            "(or the environment variables of those names)")
    problems += [f"{key}: {why}, left from the example: replace it"
                 for key, why in placeholder_keys(cfg)]
    return problems


def placeholder_keys(cfg: Config) -> list[tuple[str, str]]:
    """(key path, what was found) for each value still holding an example placeholder."""
    found = []
    for key, value in _strings(cfg.model_dump(mode="json")):
        low = value.lower()
        if any(p in low for p in PLACEHOLDERS):
            found.append((key, "the placeholder CHANGE-ME"))
        elif (host := _host(value)) is not None and _is_documentation(host):
            found.append((key, f"the documentation address {host}"))
    return found


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, f"{path} -> {k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{path} -> {i}")
    elif isinstance(node, str):
        yield path, node


def _host(value: str) -> str | None:
    """The host of a URL, or the value itself when it looks like a bare host name or address."""
    value = value.strip()
    if "://" in value:
        try:
            return urlsplit(value).hostname
        except ValueError:
            return None
    return value if _BARE_HOST.match(value) else None


def _is_documentation(host: str) -> bool:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return bool(_DOC_HOSTS.search(host))
    return any(addr in net for net in DOC_NETWORKS)


def read_image(path: Path) -> bytes:
    """The bytes of a JPEG or PNG image at ``path`` that fits the OCR's size limit; InputError
    (one line naming the file) for anything else, so nothing unusable is sent and billed."""
    from daemon.ocr.prepare import MAX_BASE64, base64_size  # loads OpenCV: not for check-config

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    kind = next((k for magic, k in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None:
        raise InputError(f"{path} is not a JPEG or PNG image (the OCR takes only those): "
                         "nothing was sent")
    if base64_size(len(data)) > MAX_BASE64:
        raise InputError(f"{path} is {len(data)} bytes, over the OCR's 7 MB limit once "
                         "base64-encoded: nothing was sent")
    import cv2
    import numpy as np

    if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
        raise InputError(f"{path} looks like a {kind} but does not decode: nothing was sent")
    return data
