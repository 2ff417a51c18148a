"""Configuration of what gatecam hands to other systems beyond its MQTT events.

``mqtt.snapshot`` (a retained JPEG of the last passage's plate area per camera, for
Home Assistant's ``image`` entity and Frigate-style subscribers) and
``store.snapshot_base_url`` (the HTTP address the snapshots folder is served under,
which puts an ``image_url`` in each event). Kept apart from models.py, which holds
the core keys; the same rules apply (unknown keys refused, bounds, descriptions).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


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


def image_url(base_url: str | None, snapshot: str | None) -> str | None:
    """``<base_url>/<snapshot path>`` (the path relative to the snapshots folder), or None."""
    if base_url is None or snapshot is None:
        return None
    return f"{base_url}/{snapshot.lstrip('/')}"
