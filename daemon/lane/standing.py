"""A vehicle already standing in the lane when the lane's picture was taken: the daemon
started (or the camera's stream changed) while a car waited at the barrier, or the detector
re-learnt its picture after a sudden wide change (``MotionResult.suppressed``: a light, the
camera back from an outage at another exposure) with a car in it.

Pure logic, no I/O; the clock is the frame ``pts``. The car is in the motion detector's
picture, so it neither moves nor occupies the lane, and no passage would open until it
moves: after a restart the barrier stayed shut in front of it (and a car that then turned
away was never recorded). So the tracker opens a *standing* passage on that frame
(``MotionResult.fresh`` or ``suppressed``, the latter after an outage or at most every
:data:`REPROBE_S`; a passage whose time ran out in the gap before it closes first) when
a local reader is configured and ``passage.standing_probe_s`` is not 0 (off by default:
see the README's camera notes on a parked car inside the ROI), and gives the
reader every frame it can take for that long. A parked car must not
become a passage (nor open the barrier) at every restart, so:

- A reading counts only for a plate box where a car waiting at the barrier shows its plate
  (:func:`fits`): its centre inside the ROI polygon and, on an entry camera, below
  ``passage.in_view_bottom`` of the ROI's height; at least ``ocr.local.min_plate_width_px``
  wide and in the camera's plate-size window, with a valid plate read in it. Any other box
  is no plate at all (a car parked beside the lane or far up it, a box with no valid text).
- Only a *decision* publishes it: a final local reading (frames agreeing: ``local_first``,
  ``local``, or the cloud offline) or a trusted cloud read of a box that fits. An undecided
  standing passage closes silently: a guess never opens a barrier. What it kept reading
  (:func:`unclaimed`: an overlay misread as a plate, a sign, a parked car's plate where a
  waiting car's would be) becomes a fixture (daemon/lane/fixtures.py): the next probes
  neither read it nor pay a cloud call for it.
- A plate this lane decided last is that car still waiting (daemon/lane/dedup.py): no
  second event after a light change.
- Decided, it stays open while nothing moves (at most :data:`STANDING_HOLD_S`): the car is
  still there, and when it drives off its departure belongs to this passage (the same
  plate seen again is no new event).
- The first motion ends the standing: an undecided probe closes (silently, as above) and
  the moving vehicle gets a passage of its own; a decided one goes on as an ordinary one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from daemon import plates
from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import Frame, PlateRead, Rect
from daemon.lane.outcome import OpenPassage
from daemon.lane.plategate import PlateGate
from daemon.lane.selection import roi_bounds

STANDING_HOLD_S = 120.0
"""A decided standing passage is held open this long at most without motion (as long as the
empty-lane model holds a stopped car, ``emptylane.OCCUPIED_MAX_S``)."""


REPROBE_S = 10.0
"""A sudden wide change probes only this long after the last probe began: a camera on a
pole shaking in the wind (each jolt a suppressed change) keeps the reader busy at most
``standing_probe_s`` in this much time (a fifth of it by default)."""


GAP_S = 1.0
"""Frames this far apart: the camera was away (an outage); the change after it always probes."""


def renewed(fresh: bool, suppressed: bool, now: float, last_probe: float, gap: float) -> bool:
    """The detector's picture is new (its ``fresh`` first frame, or a ``suppressed`` change
    after a frame ``gap`` of :data:`GAP_S` or :data:`REPROBE_S` after the last probe began
    at ``last_probe``): a car may stand in it."""
    return fresh or (suppressed and (gap >= GAP_S or now - last_probe >= REPROBE_S))


def holds(started_pts: float, decided: bool, now: float, probe_s: float) -> bool:
    """The standing passage that started at ``started_pts`` stays open at ``now``: the probe
    is still looking, or it was ``decided`` and the car may still be there."""
    return now - started_pts < (STANDING_HOLD_S if decided else probe_s)


def probe(op: OpenPassage, frame: Frame, probe_s: float) -> Frame | None:
    """The standing passage ``op``'s frame for the reader: undecided, every frame the reader
    can take (:meth:`PlateGate.offer`) for ``probe_s``."""
    probing = frame.pts - op.started_pts < probe_s
    if op.plate is not None or not probing or not isinstance(op.policy, PlateGate):
        return None
    return op.policy.offer(frame, 0.0, frame.pts)


def inside(polygon: Sequence[tuple[float, float]], x: float, y: float) -> bool:
    """The point (x, y) lies inside ``polygon`` (even-odd rule; same units)."""
    found = False
    for (x0, y0), (x1, y1) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            found = not found
    return found


def fits(
    rect: Rect, size: tuple[int, int] | None, camera: CameraConfig, cfg: PassageConfig,
    min_width: int,
) -> bool:
    """A plate box ``rect`` (pixels of a ``size`` picture; None: unknown, then only its width
    is judged) is where a car waiting at the barrier shows its plate (module docstring)."""
    if rect.width < min_width or not camera.plate_fits(rect.width):
        return False
    if size is None:
        return True
    cx, cy = rect.x + rect.width / 2, rect.y + rect.height / 2
    if not inside(camera.roi, cx / max(1, size[0]), cy / max(1, size[1])):
        return False
    if camera.direction == "exit":
        return True  # an exit camera sees the waiting car's rear plate anywhere in the lane
    roi = roi_bounds(camera.roi, *size)
    return cy >= roi.y + cfg.in_view_bottom * roi.height


def screen(
    read: PlateRead, size: tuple[int, int] | None, camera: CameraConfig, cfg: PassageConfig,
    min_width: int,
) -> PlateRead:
    """``read`` as evidence about a standing vehicle: a plate box that does not :func:`fits`,
    or that the reader found no valid plate in, counts as no plate box at all."""
    if read.rect is None or (read.ok and fits(read.rect, size, camera, cfg, min_width)):
        return read
    return replace(read, ok=False, plate=None, rect=None, box_found=False)


def unclaimed(reads: Sequence[PlateRead], min_reads: int) -> dict[str, Rect]:
    """The plates an undecided standing probe read (valid local readings, each at least
    ``min_reads`` times) and where last: they stood there and no passage took them."""
    seen: dict[str, list[Rect]] = {}
    for read in reads:
        plate = plates.clean(read.plate) if read.ok else None
        if read.provider == "local" and plate is not None and read.rect is not None:
            seen.setdefault(plate, []).append(read.rect)
    return {plate: rects[-1] for plate, rects in seen.items() if len(rects) >= min_reads}
