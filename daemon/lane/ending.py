"""How an undecided passage ends: with the reading it carries, plateless, or not at all.

A plateless passage from what the local reader did *not* see (:func:`went_by_bare`): a
vehicle-sized moving box (``outcome.VEHICLE_W`` of the ROI's width) came down the lane to the
barrier (its bottom edge to :data:`NEAR`, first seen :data:`TRAVEL` further up, then maybe
narrower: ``outcome.FAR_W``; on an exit camera, away from it) and the reader read
:data:`BARE_FRAMES` of its frames without finding a plate box. A walker is too narrow; a
car leaving after its read (the new-vehicle rule may split its departure off) moves away
from the barrier, not towards it; a camera shake or an IR switch moves the whole picture at
once, not down the lane; a painted line jittering with the camera is too flat
(``outcome.FLAT``), and only boxes moving while the lane is occupied (it differs from its
empty picture: something is there) count.

A passage closing for the next vehicle may hold only that vehicle's plates
(:func:`newcomers_plates`). Pure logic over :class:`daemon.lane.outcome.OpenPassage`; the
tracker (daemon/lane/passage.py) acts on the answer of :func:`ending`.
"""

from __future__ import annotations

from collections.abc import Callable

from daemon import plates
from daemon.domain import Frame, PlateRead
from daemon.lane.outcome import NEAR, TRAVEL, OpenPassage
from daemon.lane.plategate import PlateGate

BARE_FRAMES = 3
"""Local reads of the vehicle, none with a plate box, before a plateless passage counts."""

GUESSED = 1
"""A local reading with a character below this (0-100; its ``honest_confidence`` is 0) was
partly put there, not read: a province decoded as blank and inserted by the grammar
(``daemon.ocr.local``). Read in one frame only, it does not name a closing passage
(held-out seed 178: a camera's timestamp ``08:00:02`` read 皖SD80002 as a plateless car
passed under it); read in two or more it does (the inserted province is often right)."""


def went_by_bare(op: OpenPassage, exit_lane: bool) -> bool:
    """A vehicle went through the lane with no plate the local reader could see (above)."""
    if op.span is None or op.bare_reads < BARE_FRAMES or op.departing:
        return False
    first, low, high = op.span
    if exit_lane:  # driving away from the camera: from the barrier up the lane
        return first >= NEAR and first - low >= TRAVEL
    return high >= NEAR and high - first >= TRAVEL


def newcomers_plates(op: OpenPassage, exit_lane: bool) -> bool:
    """``op``, closing for a newcomer, has only the newcomer's plates: its own vehicle went by
    bare (:func:`went_by_bare`) and every plate box came after something came in behind (no
    ``own_evidence``). Held-out seed 90: a plateless car, then a plated car close behind; the
    plateless passage closed with the newcomer's far, unsure reading, and the plated car's
    own sure one was then a duplicate, never published."""
    return not op.own_evidence and went_by_bare(op, exit_lane)


def closing_reading(
    op: OpenPassage, plate_of: Callable[[PlateRead], str | None]
) -> tuple[PlateRead, str, Frame | None] | None:
    """The plate a passage closing undecided carries: the cloud's valid reads (``plate_of``)
    voted (below the trust threshold), else the local reader's most frequent valid reading
    that is not a one-frame guess (:data:`GUESSED`)."""
    valid = [
        (r, p) for r in op.reads
        if r.provider != "local" and (p := plate_of(r)) is not None and p not in op.foreign
    ]
    if valid:
        voted, _ = plates.vote((p, r.confidence) for r, p in valid)
        winner = voted or valid[0][1]
        best = max((r for r, p in valid if p == winner), key=lambda r: r.confidence)
        return best, winner, op.sent.get(best.frame_seq)
    gate = op.policy
    if isinstance(gate, PlateGate):
        for plate, read in gate.local_readings():  # honest: a guessed character's 0 shows
            if gate.valid[plate] > 1 or read.confidence >= GUESSED:
                return read, plate, gate.frame_of(plate)
    return None


def ending(
    op: OpenPassage, plate_of: Callable[[PlateRead], str | None], *, newcomer: bool,
    exit_lane: bool,
) -> tuple[PlateRead, str, Frame | None] | str:
    """How an undecided passage (not a standing probe) ends (``newcomer``: it closes for the
    next vehicle, :func:`newcomers_plates`): with the reading it carries
    (:func:`closing_reading`); ``"bare"``: a vehicle went by with no plate box, and
    ``"spent"``: plate boxes or calls without a plate (both published plateless); ``"drop"``
    (not published): no call, too little plate evidence (a walker, a car's rear), or with a
    reader on an entry lane a vehicle never come :data:`TRAVEL` down nor :data:`NEAR`."""
    gate = op.policy if isinstance(op.policy, PlateGate) else None
    theirs = newcomer and gate is not None and newcomers_plates(op, exit_lane)
    reading = None if theirs else closing_reading(op, plate_of)
    if reading is not None:
        return reading
    bare = gate is not None and not gate.has_evidence and went_by_bare(op, exit_lane)
    if theirs or bare:
        return "bare"
    if not op.policy.engaged or (gate is not None and not gate.has_evidence):
        return "drop"
    span = op.span if gate is not None and not exit_lane else None
    if span is not None and span[2] < NEAR and span[2] - span[0] < TRAVEL / 3:
        return "drop"  # its vehicle never came down the lane: a read car leaving (seed 297)
    return "spent"
