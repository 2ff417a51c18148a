"""Re-read the Tencent keys while running, so a rotated key is used without a restart.

The keys come from ``TENCENTCLOUD_SECRET_ID`` / ``TENCENTCLOUD_SECRET_KEY`` or from
files of those names in ``$CREDENTIALS_DIRECTORY`` (:func:`daemon.config.load_secrets`);
the client calls :func:`reload_keys` after ``AuthFailure.TokenFailure``,
``SecretIdNotFound`` or ``SignatureFailure``. Nothing here logs a key.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.config import load_secrets


def reload_keys(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(SecretId, SecretKey) as configured right now, or None when either is missing."""
    secrets = load_secrets(environ)
    if not (secrets.secret_id and secrets.secret_key):
        return None
    return secrets.secret_id, secrets.secret_key
