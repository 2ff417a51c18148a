"""What every config model shares: strictness (unknown keys and inf/nan refused) and ids."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Camera and site ids end up in MQTT topics: no wildcards, no slashes."""


class Model(BaseModel):
    """Base of every config model: frozen, unknown keys refused, no inf or nan."""

    # allow_inf_nan=False: .inf or .nan in a float key validated and then crashed at start
    # (timedelta(seconds=inf)) or silently disabled a check (nan compares false).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
"""A share of the frame (0..1)."""
