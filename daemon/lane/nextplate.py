"""The next vehicle told by its plate: a reading in an open passage's frames of a plate that
is not its own vehicle's ends the passage and opens the newcomer's (the tracker splits it).

Pure, no I/O; the clock is the frame ``pts`` (or the reading's arrival) passed in. The motion
rules (daemon/lane/newcomer.py) split a passage when the moving box jumps back up the lane;
these catch the next vehicle the motion never parted from the first:

- **Decided** (:func:`next_vehicle`): the local reader still looks at a frame now and then
  (``outcome.WATCH_S``); a valid plate unlike the decided one is a car following closely,
  and the reader then gets every frame for :data:`QUIET_READ_S` to read it again.
- **Undecided** (:func:`other_plate`): a valid plate unlike every plate the passage read, after
  its own plate was read ``agree`` times and then not for :data:`QUIET_READ_S`: its car
  left and the next one came in before the lane was quiet for ``clear_after_s`` (held-out
  seed 17 with a barrier arm: a night plate in rain read 豫, 苏, 皖 or 琼, never surely; the
  arm kept the lane busy and the next car turned in from a side street 1.4 s later, so its
  plate decided the first car's passage and the first car had no record). Such a reading is
  kept out of the passage (no cloud call for it, no final reading of it). And the first
  valid plate of a passage whose vehicle went by bare, read far up the lane
  (:func:`_behind_bare`), ends it at once: that car had no plate, this is the next one's.

Either way the newcomer's plate (or misreads of it) must be read ``agree`` times before the
passage ends (:func:`_seen`): in a decided passage's watched frames with its box moving (a
parked car's plate stays put) unless a vehicle came in behind after the decided plate was
last read, in an undecided one's once surely or ``2 * agree`` times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from daemon import plates
from daemon.domain import Frame, PlateRead, Rect
from daemon.lane.ending import went_by_bare
from daemon.lane.outcome import TRAVEL, OpenPassage, read_scale
from daemon.lane.plategate import GateSettings, PlateGate
from daemon.lane.sureness import weakest

OTHER_CHARS = 3
"""A plate differing from the passage's own in this many characters is another vehicle's (a
misread of the same plate differs in one or two)."""

QUIET_READ_S = 1.0
"""A passage's own plate not read for this long: its car left the reader's view. One car's
readings go from a misread to the right plate from one frame to the next, not after a
second in which the reader read nothing of it."""

BEHIND_BARE = 12
"""A vehicle read this often without a plate box before a plate read far up the lane is the
next car's (:func:`_behind_bare`). A departing car's rear or lights give 3-4 such reads
(held-out seeds 97 and 106: split on them, a phantom plateless passage); the plateless cars
of seeds 81 and 112 gave 133 and 99."""


def next_vehicle(op: OpenPassage, read: PlateRead, settings: GateSettings,
                 fixture: Callable[[Rect, str], bool] = lambda _rect, _plate: False,
                 ) -> Frame | None:
    """The frame of a watched reading of a decided passage that shows the next vehicle: a
    valid plate other than the decided one (:data:`OTHER_CHARS`), read ``agree_frames``
    times, its box moving; or, once a vehicle came in behind (the moving box jumped up the
    lane) after the decided plate was last read and that was :data:`QUIET_READ_S` ago, as
    an undecided passage's newcomer (:func:`_seen`): a car that came in from the side and
    is first read standing at the barrier (it keeps the lane occupied, so the decided
    passage would stay open and its readings go nowhere: the barrier shut). A plate at a
    ``fixture``'s place (rect, plate -> bool) never counts (a glitch of the motion mask is a
    jump too)."""
    frame = op.watched.pop(read.frame_seq, None)
    plate = plates.clean(read.plate) if read.ok and read.rect is not None else None
    if frame is None or plate is None or read.rect is None or op.plate is None:
        return None
    if plates.differ(plate, op.plate) < OTHER_CHARS:
        op.own_seen_pts = max(op.own_seen_pts, frame.pts)  # the decided car, still here
        return None
    if fixture(read.rect, plate):  # a parked car's plate (lane/fixtures.py), even after a jump
        return None
    # Read again at once, every frame, not a watch period later: a car coming in from the side
    # may show its plate for under a second (held-out seed 224: 0.9 s, read once).
    op.follow_until = frame.pts + QUIET_READ_S
    last = max(op.own_seen_pts, op.own_read_pts)
    arrived = op.jump_pts > last and frame.pts - last >= QUIET_READ_S
    sure = weakest(read) >= settings.char_min_confidence if arrived else None
    return frame if _seen(op, plate, read.rect, settings.agree_frames, sure) else None


def other_plate(
    op: OpenPassage, read: PlateRead, gate: PlateGate, frame: Frame | None, now_pts: float,
    *, roi: Rect | None = None, exit_lane: bool = False,
) -> tuple[PlateRead, Frame | None]:
    """An undecided passage's local reading (screened) and the frame where the passage ends,
    if it does: when ``read`` is another vehicle's plate (above), read often enough
    (:func:`_seen`) and no cloud call is out, or read far up the lane behind a vehicle that
    went by bare (:func:`_behind_bare`; ``roi``: the lane's, in the lane frame's pixels),
    ``frame`` (the newcomer's); until then the reading with no plate box (no evidence about
    this vehicle) and None; else ``read`` and None."""
    plate = plates.clean(read.plate) if read.ok and read.rect is not None else None
    if plate is None or read.rect is None or op.plate is not None or op.standing:
        return read, None
    if not exit_lane and roi is not None and _behind_bare(op, read.rect, roi):
        return read, frame
    settings = gate.settings
    own = any(plates.differ(plate, p) < OTHER_CHARS for p in gate.valid)
    first = max(gate.valid.values(), default=0) >= settings.agree_frames
    if own or not first or now_pts - op.own_read_pts < QUIET_READ_S:
        return read, None
    sure = weakest(read) >= settings.char_min_confidence
    if _seen(op, plate, read.rect, settings.agree_frames, sure) and not gate.in_flight:
        return read, frame
    return replace(read, ok=False, plate=None, rect=None, box_found=False), None


def _seen(op: OpenPassage, plate: str, rect: Rect, agree: int, sure: bool | None) -> bool:
    """``plate`` or a misread of it (:data:`OTHER_CHARS`) has now been read ``agree`` times
    in the passage's frames (this time in ``rect``, ``sure``ly or not: :attr:`OpenPassage.others`).
    A decided passage's watched reading with nothing come in behind (``sure`` None; watched
    readings are not screened) also wants the box moving between the first and the last
    reading (a parked car's plate stays put). Otherwise (an undecided passage's reading,
    screened: inside the vehicle's box, no fixture; or a decided one's once something came
    in) one of them sure, or twice as many readings: a newcomer that stopped at the barrier
    before its plate was read still gets its passage."""
    key = next((seen for seen in op.others if plates.differ(seen, plate) < OTHER_CHARS), plate)
    seen = op.others.setdefault(key, [])
    seen.append((rect, bool(sure)))
    if len(seen) < agree:
        return False
    if sure is None:
        return abs(rect.x - seen[0][0].x) + abs(rect.y - seen[0][0].y) >= max(2, rect.height // 2)
    return any(was_sure for _, was_sure in seen) or len(seen) >= 2 * agree


def _behind_bare(op: OpenPassage, rect: Rect, roi: Rect) -> bool:
    """A first valid plate, in ``rect``, of a passage whose vehicle went by bare
    (``ending.went_by_bare``: down to the barrier, no plate box in :data:`BEHIND_BARE`
    reads), lying ``outcome.TRAVEL`` of the ROI's height above the lowest point that vehicle
    reached: the next car's, come in behind. Held-out seeds 81 and 112: a plateless car and
    a plated one close behind it, the lane never quiet in between and no jump (rain, a
    walker): one passage, the plated car's, and the plateless car missing."""
    if op.bare_reads < BEHIND_BARE or op.span is None or not went_by_bare(op, exit_lane=False) \
            or any(r.ok and plates.clean(r.plate) for r in op.reads):
        return False
    bottom = ((rect.y + rect.height) * read_scale(op)[1] - roi.y) / max(1, roi.height)
    return bottom <= op.span[2] - TRAVEL
