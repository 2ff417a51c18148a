"""Configuration of what gatecam hands to other systems beyond its MQTT events.

``mqtt.snapshot`` (a retained JPEG of the last passage's plate area per camera, for
Home Assistant's ``image`` entity and Frigate-style subscribers),
``store.snapshot_base_url`` (the HTTP address the snapshots folder is served under,
which puts an ``image_url`` in each event) and ``webhooks`` (HTTP targets of every
event: an http(s) URL, the HMAC key only by credential file name). Kept apart from
models.py, which holds the core keys; the same rules apply (unknown keys refused,
bounds, descriptions).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


class SnapshotPublishConfig(BaseModel):
    """``mqtt.snapshot``: the plate-area JPEG published retained on ``.../<camera>/snapshot``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    enabled: bool = Field(False, description="publish the last passage's plate area per camera")
    max_width: int = Field(480, ge=64, le=1920, description="pixels; larger crops are scaled")
    jpeg_quality: int = Field(80, ge=30, le=95, description="JPEG quality of the snapshot")


def check_base_url(url: str) -> str:
    """An http(s) URL with a host and no credentials; returned without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials: it is copied into every event")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or a fragment (paths are appended to it)")
    return url.rstrip("/")


BaseUrl = Annotated[str, AfterValidator(check_base_url)]
"""``store.snapshot_base_url``: checked by :func:`check_base_url`."""


def check_target_url(url: str) -> str:
    """A webhook URL: http(s) with a host, no user:password (logs and ``gatecam status``
    would show it: a receiver checks the HMAC signature instead), no fragment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials: set secret_credential (an HMAC key "
                         "read from a credential file) and check the signature instead")
    if parts.fragment:
        raise ValueError("must not have a #fragment (it is never sent)")
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when asked)
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from None
    return url


TargetUrl = Annotated[str, AfterValidator(check_target_url)]
"""``webhooks[].url``: checked by :func:`check_target_url`."""

INLINE_SECRET_KEYS = ("secret", "hmac_secret", "hmac_key", "token", "api_key")
"""Keys a secret might be pasted under in a webhook entry: refused with the way to do it."""


def image_url(base_url: str | None, snapshot: str | None) -> str | None:
    """``<base_url>/<snapshot path>`` (the path relative to the snapshots folder), or None."""
    if base_url is None or snapshot is None:
        return None
    return f"{base_url}/{snapshot.lstrip('/')}"


class WebhookConfig(BaseModel):
    """``webhooks[]``: an HTTP target every passage event is POSTed to (daemon/webhook)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$",
                      description="names the target in logs, metrics and the outbox")
    url: TargetUrl = Field(description="http(s) URL the events are POSTed to")
    secret_credential: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="HMAC key file $CREDENTIALS_DIRECTORY/webhook_<NAME> (never in this file)")
    image: bool = Field(False, description="add the snapshot (base64 JPEG) as image")
    timeout_s: float = Field(5.0, gt=0, le=60, description="no answer within this: retried")
    retry_min_s: float = Field(1.0, gt=0, le=3600, description="first backoff after a failure")
    retry_max_s: float = Field(300.0, gt=0, le=86400, description="longest backoff")
    concurrency: int = Field(
        4, ge=1, le=32, description="requests in flight at once (1: events arrive in commit "
        "order; more: faster, but a receiver may get them out of order)")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: object) -> object:
        found = [k for k in INLINE_SECRET_KEYS if isinstance(data, dict) and k in data]
        if found:
            raise ValueError(f"{found[0]}: keep the key out of the YAML; put it in the "
                             "credential file webhook_<NAME> and set secret_credential: NAME")
        return data


def unique_names(hooks: list[WebhookConfig]) -> list[WebhookConfig]:
    """The targets, refusing two with the same name (their outbox rows would mix)."""
    names = [h.name for h in hooks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"webhook names must be unique: {', '.join(dupes)}")
    return hooks
