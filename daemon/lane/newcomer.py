"""The new-vehicle rule: when the moving box behind an open passage is the next vehicle
(split out of outcome.py).

Pure, no I/O: :func:`new_vehicle` looks at one moving box against the passage's state
(:class:`~daemon.lane.outcome.OpenPassage`: its lowest point, the jump and rise timers) and
says whether the passage ends because another vehicle is entering behind its own (two cars
back to back, the lane never quiet between them). :func:`engaged` says whether the passage
has a vehicle of its own to be followed; :func:`spent` whether it can do nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

from daemon.domain import PlateRead, Rect
from daemon.lane.ending import went_by_bare
from daemon.lane.outcome import NEAR, OWN_SEEN_S, OpenPassage
from daemon.lane.plategate import PlateGate

NEW_VEHICLE_RISE = 0.2
"""A passage that already spent a call ends when the moving box's bottom edge jumps this
share of the ROI height back up the lane: the vehicle left and the next one is entering
(two cars back to back, the lane never quiet between them) and stays there ``NEW_VEHICLE_S``
(a car pulling away uncovers road behind it for a frame or two: not a new vehicle)."""

NEW_VEHICLE_S = 0.3
"""How long the risen box must stay up the lane (above)."""

NEW_VEHICLE_TOP = 0.05
"""... and the box must reach the far (top) edge of the ROI: vehicles come into a gate
camera's view from the far end of the lane, a car pulling away does not."""

NEW_VEHICLE_JUMP = NEW_VEHICLE_RISE
"""... and the bottom edge must have got there by a jump: up this share of the ROI height
from one moving frame to the next. A newcomer shows up at once (the car ahead left the view,
or stood still while the newcomer entered); a vehicle driving away up the lane (turning
round after its read, reversing) raises its box's bottom edge a little each frame, and
would otherwise be taken for a newcomer, and again, as it shrinks towards the far end.
The jump is forgotten once the bottom edge is back near its lowest point (a glitch of the
motion mask); not when it only falls part of the way back (the newcomer's box merging with
the leaving car's for a frame or two)."""

NEW_VEHICLE_HOLD = NEW_VEHICLE_RISE / 2
"""Once risen, the box stays the new vehicle's while its bottom edge is this far above the
lowest point (a hysteresis, as the motion's own): the newcomer drives down the lane during
``NEW_VEHICLE_S``. When it follows closely, its box merges with the departing car's until
that one left the view, so it first shows up half-way down the lane and would get back
within ``NEW_VEHICLE_RISE`` of the lowest point before the time ran out. A glitch (the box
jumping up for a frame or two) still falls back to the lowest point at once."""


# A passage that spent its calls without a valid read (or a decided one whose vehicle went,
# :func:`_gone`) also ends when vehicle motion starts afresh (it was off in the frame
# before) at the far end with the box's bottom short of ``PassageConfig.in_view_bottom``: a
# vehicle just coming into view. The rise rule above
# needs the followed thing to have come down the lane; such a passage may follow none (a
# ghost, a light, a shadow) or a car whose plate no call could read, and it can do nothing
# more either way. Splitting wrongly costs a plateless passage and a few calls; not
# splitting costs the newcomer's plate (it would get no call at all). A car that stopped
# and pulls away restarts its motion low in the lane, not at the far end. With a local
# reader, "spent" is only plate boxes seen and none read, no call: the followed box must
# have come into view itself (its bottom once at ``in_view_bottom`` or lower); one that
# never left the far end is the same vehicle, its plate still too small, its motion paused
# (held-out seed 231: a car at 3.1 m/s far up the lane; its motion stopped for half a second
# and started again there, and the split made a phantom plateless passage). Without a
# reader the calls were made and answered: nothing more to do, wherever it stood.


def new_vehicle(
    op: OpenPassage, bbox: Rect, roi: Rect, *, started: bool, now: float, in_view_bottom: float,
    spent: Callable[[OpenPassage], bool], exit_lane: bool = False,
) -> bool:
    """True when the moving box is a new vehicle behind ``op``'s (the rules above); keeps
    ``op``'s lowest point and rise timer up to date. On an exit camera (``exit_lane``) the
    vehicles drive away up the lane, which is what these rules take for a newcomer: there
    the lane clearing, the next plate (``outcome.next_vehicle``) and :func:`_exit_arriving` end
    a passage."""
    bottom = (bbox.y + bbox.height - roi.y) / max(1, roi.height)
    top = (bbox.y - roi.y) / max(1, roi.height)
    if exit_lane:
        return started and _exit_arriving(top, bottom, in_view_bottom) and (
            op.plate is not None or spent(op))
    _note_jump(op, bottom, now)
    if started and bottom >= NEAR:
        op.own_seen_pts = now  # the vehicle standing at the barrier pulls away (:data:`NEAR`)
    rise = NEW_VEHICLE_RISE if op.rise_since is None else NEW_VEHICLE_HOLD
    entering = op.jumped and top <= NEW_VEHICLE_TOP and bottom < op.max_bottom - rise
    arriving = started and top <= NEW_VEHICLE_TOP and bottom < in_view_bottom
    far = isinstance(op.policy, PlateGate) and op.max_bottom < in_view_bottom  # seed 231
    if arriving and ((spent(op) and not far) or _gone(op, now)):
        return True
    if (engaged(op) or went_by_bare(op, exit_lane=False)) and entering:
        op.rise_since = now if op.rise_since is None else op.rise_since
        return now - op.rise_since >= NEW_VEHICLE_S and now - op.own_seen_pts >= OWN_SEEN_S
    op.rise_since = None
    op.max_bottom = max(op.max_bottom, bottom)
    return False


def engaged(op: OpenPassage) -> bool:
    """``op`` is about a vehicle of its own, which a newcomer may follow: it is decided, a
    call went, or (with a local reader) a plate box was seen before the moving box jumped up
    the lane. A plate first seen after the jump is the newcomer's: held-out seed 31, a camera
    shake opened a passage low in the lane, the car came into view at the far end, and its
    plate read in 0.4 s made the passage "engaged", so the car split off as a newcomer and
    the passage closed with the car's first (mis)reading."""
    gate = op.policy
    if isinstance(gate, PlateGate):
        return op.plate is not None or gate.attempts > 0 or op.own_evidence
    return gate.engaged


def _gone(op: OpenPassage, now: float) -> bool:
    """``op`` is decided and its vehicle came down to the barrier and has not been seen for
    :data:`OWN_SEEN_S` (no watched reading of its plate, not pulling away): motion starting
    afresh at the far end in a box just coming into view is the next vehicle. Held-out seed
    133: a plateless car crossing the lane in 0.35 s right after the read car left it, too
    fast for the rise rule's 0.3 s at the far edge; it went into the decided passage."""
    return op.plate is not None and op.max_bottom >= NEAR and now - op.own_seen_pts >= OWN_SEEN_S


def _exit_arriving(top: float, bottom: float, in_view_bottom: float) -> bool:
    """An exit camera's vehicle coming into view: motion starting afresh (it was off in the
    frame before) in a box at the near end of the lane (its bottom edge within
    :data:`NEW_VEHICLE_TOP` of the ROI's bottom) no taller than ``in_view_bottom`` of the
    ROI, the entry rule upside down. After a decided (or spent) passage this is the next
    vehicle, even when the lane never went quiet in between (the car ahead still leaving at
    the far end, a walker): the car just read drove off up the lane, and one stopping at the
    barrier pulls away from where it stopped, its whole box in view."""
    return bottom >= 1.0 - NEW_VEHICLE_TOP and bottom - top <= in_view_bottom


def spent(op: OpenPassage, plate_of: Callable[[PlateRead], str | None]) -> bool:
    """All calls made and answered, none with a valid plate (``plate_of``): nothing more to
    do for it (with a local reader: plate boxes seen, none read, no cloud call out)."""
    gate = op.policy
    if isinstance(gate, PlateGate):
        return (op.plate is None and gate.has_evidence and not gate.in_flight
                and not gate.local_readings())
    return (
        op.plate is None
        and op.policy.done
        and not any(plate_of(r) is not None for r in op.reads)
    )


def _note_jump(op: OpenPassage, bottom: float, now: float) -> None:
    """Keep :attr:`OpenPassage.jumped` and ``jump_pts`` (:data:`NEW_VEHICLE_JUMP`) up to date."""
    step = 0.0 if op.last_bottom is None else op.last_bottom - bottom
    op.last_bottom = bottom
    if step >= NEW_VEHICLE_JUMP:
        op.jumped, op.jump_pts = True, now
    elif bottom >= op.max_bottom - NEW_VEHICLE_HOLD:
        op.jumped = False
