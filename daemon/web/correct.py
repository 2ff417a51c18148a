"""Correct a misread from the operator page: the right plate, a new decision, a corrected event.

The passage keeps its original reading; the correction (who, when, plate, decision) and the
corrected event's outbox rows are committed together (:mod:`daemon.store.corrections`).
The corrected event is the passage with the typed plate (``ocr.provider`` ``operator``,
confidence 100), the access decided again on the current lists, event id
``<event_id>.c<n>`` and ``corrects: <event_id>``. A gate command goes with it only under
the usual rules: never for a late passage, and it still expires ``gate_command_ttl_s``
after the original capture, so a correction made later never opens the gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from daemon import contract, plates
from daemon.domain import Passage
from daemon.store.corrections import Correction, next_corrected_id, record_correction
from daemon.store.db import Store
from daemon.web import forms
from daemon.web.forms import ParamError


@dataclass(frozen=True)
class Corrector:
    """What a correction needs (wired from the config by daemon.web.wiring)."""

    store: Store
    decide: Callable[[Passage], Passage]
    """The access decision (``AccessControl.apply``)."""
    mqtt_prefix: str | None
    """None: MQTT off, the correction is only recorded."""
    gate_ttl_s: float | None
    """None: no gate commands."""

    def correct(self, original: Passage, plate_text: str, operator: str,
                now: datetime) -> Correction:
        """Record a correction of ``original`` to ``plate_text``; ParamError on a bad plate."""
        text = forms.clean_text("plate", plate_text, forms.MAX_PLATE, required=True)
        plate = plates.normalize(text)
        if not plates.is_valid(plate):
            raise ParamError(f"plate: {plate!r} is not a plate of the GA 36 layouts")
        if plate == original.plate:
            raise ParamError("plate: that is what was read")
        corrected = self.decide(original.replace(
            event_id=next_corrected_id(self.store, original.event_id), plate=plate,
            confidence=100, decided_at=now, provider="operator"))
        ttl = None if original.late else self.gate_ttl_s
        messages = (contract.correction_messages(self.mqtt_prefix, corrected,
                                                 original.event_id, ttl)
                    if self.mqtt_prefix is not None else [])
        c = Correction(original.event_id, corrected.event_id, plate, operator, now,
                       corrected.access, corrected.access_reason)
        record_correction(self.store, c, messages)
        return c
