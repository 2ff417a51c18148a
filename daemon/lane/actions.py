"""What the passage tracker asks its lane to do: read a frame locally, send one to the cloud,
record and publish a passage, record a late cloud answer (split out of passage.py).

Pure values, no I/O: the lane worker (``daemon/lane/worker.py``) carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.domain import Frame, Passage, PlateRead, Rect


@dataclass(frozen=True, slots=True, eq=False)
class SendCandidate:
    """Send ``frame`` to OCR for this passage."""

    frame: Frame
    passage_id: str
    attempt: int
    score: float
    crop: Rect | None = None
    """Send only this box (the vehicle's, in ``frame``'s pixels) rather than the lane."""


@dataclass(frozen=True, slots=True, eq=False)
class EmitPassage:
    """Record and publish this passage; ``snapshot`` is the frame the plate was read from
    (its BGR picture is made only if the recorder writes snapshots)."""

    passage: Passage
    reads: tuple[PlateRead, ...]
    snapshot: Frame | None


@dataclass(frozen=True, slots=True, eq=False)
class ReadLocal:
    """Give ``frame`` to the local reader for this passage; ``focus``: the vehicle's box in
    it, where a plate is looked for first (a parked car's plate elsewhere in the lane)."""

    frame: Frame
    passage_id: str
    focus: Rect | None = None


@dataclass(frozen=True, slots=True, eq=False)
class RecordRead:
    """Record this cloud answer on its own: it came after its passage's event (and the reads
    that went with it) was emitted, or after the passage closed (a paid call all the same)."""

    read: PlateRead


Action = SendCandidate | EmitPassage | ReadLocal | RecordRead
