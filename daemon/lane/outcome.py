"""One open passage's state, the evidence the readings give about it, and the Passage value
it becomes (split out of passage.py; the new-vehicle rule over it is daemon/lane/newcomer.py,
how an undecided passage ends is daemon/lane/ending.py).

The moving boxes' extent down the lane (:func:`note_vehicle`) is the evidence a plateless
passage rests on (``ending.went_by_bare``): a vehicle-sized box (:data:`VEHICLE_W`) that is
no painted line (:data:`FLAT`), first seen where (:data:`FAR_W`, :data:`TRAVEL`) and how near
the barrier it came (:data:`NEAR`).

The cloud's answer read outside the vehicle's box is another vehicle's
(:func:`wrong_vehicle`): the calls that follow send the vehicle's box (:func:`crop_of`).

Pure: :class:`OpenPassage` is what the tracker keeps per vehicle; :func:`make_passage`
builds the event from it and the reading that decided it (cloud or local), with the
local reader's confidence and, for a local reading, the cloud's plate category if a
call gave one (a plate on a screen stays ``非实体车牌`` whoever read its text).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from daemon import plates
from daemon.config.models import CameraConfig
from daemon.domain import Frame, Passage, PlateRead, Rect
from daemon.lane.plategate import PlateGate
from daemon.lane.selection import SendPolicy

VEHICLE_W = 0.3
"""A moving box at least this share of the ROI's width can be a vehicle (a walker, a
cyclist are narrower)."""

FAR_W = VEHICLE_W / 2
"""A moving box this wide opening the passage is where the vehicle was first seen: far up
the lane a small car (a high camera looking down a long lane) is narrower than
:data:`VEHICLE_W` and only widens to it near the barrier."""

FLAT = 10.0
"""A moving box clear of the ROI's top and bottom edges (:data:`EDGE`) this many times as wide
as tall (pixels) is no vehicle, whatever its width: a painted line, a kerb or a barrier arm
jittering with the camera (held-out seed 46: the stop line shaking in the wind, boxes 15-20
times as wide as tall for 3.5 s after a car drove off, taken for a plateless car coming down
the lane). A vehicle is never that flat; its box is only when the ROI's edge cuts it (a car
entering at the far end: up to 20:1 at the top edge)."""

EDGE = 0.02
"""... "clear of the edge": this share of the ROI's height from it."""

NEAR = 0.8
"""A plateless vehicle reached the barrier: its box's bottom edge this far down the ROI."""

TRAVEL = 0.3
"""... having been first seen at least this share of the ROI's height further up. A
vehicle-sized box whose bottom edge is this much lower than the last one's, seen
:data:`APART_S` before, after boxes that stayed put (within a third of this), is another
thing's, and the travel counts from it: held-out seeds 1 and 14 with a barrier arm inside
the ROI (``bench_selection.py --barrier``), the arm rising at the far end while a plateless
car waited opened a new passage, and the car pulling away "came down the lane" in it. (A
car's own box flickers by as much when its lower edge fades for a frame, but it has
travelled by then.)"""

APART_S = 0.5
"""... "before": at least this long (the arm stopped, the car waited, then pulled away)."""

LEFT_UP = 0.5
"""An occupied lane keeps a passage open (its car may wait at the barrier, absorbed by the
background) unless its vehicle came down to the barrier (:data:`NEAR`) and the lowest thing
occupying the lane now ends this share of the ROI's height above the lowest point that
vehicle reached: a barrier arm left up for the next car, a car queueing up the lane
(:func:`held`). Held-out seed 13 with the arm inside the ROI: the arm stayed up, still,
4.5 s after the first car had gone, its undecided passage stayed open and took in the fast
plateless car behind it."""

PLATE_BOXES = 32
"""How many frames' vehicle boxes :attr:`OpenPassage.plate_boxes` keeps (a call goes for
one of the newest frames with a plate box)."""

WATCH_S = 0.5
"""Once a passage is decided, the local reader still looks at one frame per this much stream
time while the lane is busy: a car following so closely that the motion of both never
parts (the first leaving as the next one comes down the lane) shows itself by its plate
(``nextplate.next_vehicle``)."""

OWN_SEEN_S = 2 * WATCH_S
"""A decided passage's vehicle whose plate a watched reading saw this recently is still in
the lane: its box rising up it is that car's own motion split in two (a big uniform body
driving at the camera changes only at its edges; at night the lower edge can fade), not a
newcomer. Two watch periods, so one reading still on its way never lets it split. The same
holds this long after motion started afresh at the barrier (the box's bottom edge at
:data:`NEAR`): the vehicle that stood there pulls away, plate or none (the ``no_plate_car``
scenario at 0.5-0.7x brightness: its roof's box 0.24 s after it moved off, and a second
plateless passage)."""

@dataclass(eq=False)
class OpenPassage:
    """The tracker's state of the passage in progress."""

    id: str
    started_pts: float
    started_wall: datetime
    last_motion_pts: float
    policy: SendPolicy | PlateGate
    reads: list[PlateRead] = field(default_factory=list)
    sent: dict[int, Frame] = field(default_factory=dict)
    plate: str | None = None
    """Set once a trusted read decided the passage (emitted or deduplicated)."""
    prev_bbox: Rect | None = None
    max_bottom: float = 0.0
    """Lowest point (share of the ROI height) the vehicle's box reached."""
    rise_since: float | None = None
    """Since when the moving box has been far above ``max_bottom`` (a new vehicle?)."""
    last_bottom: float | None = None
    """The moving box's bottom edge in the previous moving frame."""
    jumped: bool = False
    """The bottom edge jumped up the lane since it was last near ``max_bottom``."""
    jump_pts: float = -1e9
    """When it last jumped (something came into the lane behind: daemon/lane/nextplate.py)."""
    vehicle_seqs: set[int] = field(default_factory=set)
    """Frames given to the local reader while a vehicle-sized box moved."""
    bare_reads: int = 0
    """Local reads of those frames that found no plate box."""
    departing: bool = False
    """The reader saw the plate of a vehicle decided just before in these frames: the motion
    is that car leaving (its box mistaken for a newcomer), never a plateless passage."""
    span: tuple[float, float, float] | None = None
    """Bottom edge (share of the ROI height) of the vehicle-sized box: first, least, most."""
    vehicle_last: tuple[float, float] | None = None
    """... and in the last frame it was seen, and that frame's pts (:data:`TRAVEL`)."""
    vehicle_frame: Frame | None = None
    """The frame where that box came nearest (a plateless passage's snapshot)."""
    watch_pts: float = -1e9
    """When the decided passage last gave a frame to the reader (:data:`WATCH_S`)."""
    follow_until: float = -1e9
    """Until when it gives the reader every frame: a watched reading saw another vehicle's
    plate, to be read again before that car is gone (``nextplate.next_vehicle``)."""
    own_seen_pts: float = -1e9
    """The newest such frame the decided plate was read in, or when the vehicle standing at
    the barrier pulled away (:data:`OWN_SEEN_S`)."""
    watched: dict[int, Frame] = field(default_factory=dict)
    """Those frames, until their reading comes back."""
    others: dict[str, list[tuple[Rect, bool]]] = field(default_factory=dict)
    """Another vehicle's plate read in the passage's frames (and misreads of it): where its
    box was each time, and whether it was read surely (daemon/lane/nextplate.py)."""
    own_read_pts: float = -1e9
    """When the reader last read a valid plate taken as this passage's vehicle's (the gate
    counts them: ``PlateGate.valid``)."""
    boxes: dict[int, Rect] = field(default_factory=dict)
    """The vehicle's box in each frame offered to the reader, until its reading comes back."""
    box_frame: tuple[int, int] | None = None
    """(width, height) of the frames those boxes are in (a detect stream's, smaller than
    the picture the reader reads: ``PlateRead.image_size``)."""
    read_size: tuple[int, int] | None = None
    """(width, height) of the picture the reader last read (the plate boxes' pixels)."""
    plate_boxes: dict[int, Rect] = field(default_factory=dict)
    """The vehicle's box in the newest frames the reader found a plate box in."""
    foreign: set[str] = field(default_factory=set)
    """Plates the cloud read outside the vehicle's box: another vehicle's."""
    crop: bool = False
    """Calls send the vehicle's box, not the lane: another vehicle's plate is in view (read
    outside the box, by either reader, or a parked one known to the camera)."""
    own_evidence: bool = False
    """The reader saw a plate box while the moving box was this passage's own vehicle's: not
    after it jumped up the lane (:func:`engaged`)."""
    standing: bool = False
    """Opened on a new picture of the lane (the first, or one re-learnt after a sudden wide
    change) for a car that may stand in it, and nothing moved since (daemon/lane/standing.py)."""


def own_plate(op: OpenPassage, read: PlateRead) -> PlateRead:
    """``read`` as evidence about this passage's vehicle: a plate whose centre lies outside
    the vehicle's box in that frame (grown by a tenth) is another car's (a parked one at the
    edge of the lane) and counts as no plate box at all; read, it crops the calls. The box of
    a frame with a plate box is kept (:attr:`OpenPassage.plate_boxes`) for the cloud's
    answer on it."""
    box = op.boxes.pop(read.frame_seq, None)
    for seq in [s for s in op.boxes if s < read.frame_seq]:
        del op.boxes[seq]  # frames the reader skipped (newest wins)
    op.read_size = read.image_size or op.read_size
    if read.box_found and box is not None:
        op.plate_boxes[read.frame_seq] = box
        for seq in sorted(op.plate_boxes)[:-PLATE_BOXES]:
            del op.plate_boxes[seq]
    if read.rect is None or box is None or _in_box(op, box, read.rect):
        return read
    op.crop = op.crop or read.ok  # the cloud answers with one plate: maybe that one
    return replace(read, ok=False, plate=None, rect=None, box_found=False)


def read_scale(op: OpenPassage) -> tuple[float, float]:
    """(x, y) factors from the reading picture's pixels (the main stream's, with a detect
    stream) to the lane frame's, where the motion boxes and the ROI are."""
    if op.read_size is None or op.box_frame is None:
        return 1.0, 1.0
    return op.box_frame[0] / op.read_size[0], op.box_frame[1] / op.read_size[1]


def _in_box(op: OpenPassage, box: Rect, rect: Rect) -> bool:
    """The centre of ``rect`` (the reading picture's pixels) lies in ``box`` (the lane frame's)
    grown by a tenth of its size."""
    sx, sy = read_scale(op)
    return _centre_in((rect.x + rect.width / 2) * sx, (rect.y + rect.height / 2) * sy, box, 0.1)


def _centre_in(cx: float, cy: float, box: Rect, grow: float) -> bool:
    """(``cx``, ``cy``) lies in ``box`` grown by ``grow`` of its size on each side."""
    mx, my = box.width * grow, box.height * grow
    return (box.x - mx <= cx <= box.x + box.width + mx
            and box.y - my <= cy <= box.y + box.height + my)


def wrong_vehicle(op: OpenPassage, read: PlateRead, fixture: bool = False) -> bool:
    """The cloud read a plate outside the vehicle's box in the frame it was sent, at a
    ``fixture``'s place (daemon/lane/fixtures.py), or away from the plate the local reader
    read in that frame (:func:`away_from_reading`): a parked car's, the car ahead's (the
    call's crop is the whole lane and the service answers with one plate, its clearest). Its
    text is not this vehicle's (:attr:`OpenPassage.foreign`) and from then on the calls send
    the vehicle's box only (:func:`crop_of`)."""
    box = op.plate_boxes.get(read.frame_seq)
    plate = plates.clean(read.plate) if read.ok else None
    if plate is None or read.rect is None:
        return False
    if not fixture and (box is None or _in_box(op, box, read.rect)) \
            and not away_from_reading(op, read, plate):
        return False
    op.foreign.add(plate)
    op.crop = True
    return True


def away_from_reading(op: OpenPassage, read: PlateRead, plate: str) -> bool:
    """The local reader read a valid plate in the frame sent to the cloud, 2 or more
    characters from the cloud's ``plate``, and the cloud's box is not where the reader's was
    (its centre outside the reader's box grown by half): the cloud read another plate in the
    picture. Held-out seed 306: a car's plate read locally in 50 frames at 760-960 px, the
    call's answer a parked car's plate at 360-470 px, inside the car's large moving box."""
    gate = op.policy if isinstance(op.policy, PlateGate) else None
    local = gate.sent_reads.get(read.frame_seq) if gate is not None else None
    mine = plates.clean(local.plate) if local is not None and local.ok else None
    if mine is None or local is None or local.rect is None or read.rect is None \
            or plates.differ(mine, plate) < 2:
        return False
    rect = read.rect
    return not _centre_in(rect.x + rect.width / 2, rect.y + rect.height / 2, local.rect, 0.5)


def crop_of(op: OpenPassage, seq: int) -> Rect | None:
    """The vehicle's box in frame ``seq`` if the calls of ``op`` are cropped to it."""
    return op.plate_boxes.get(seq) if op.crop else None


def watch(op: OpenPassage, frame: Frame, now: float) -> bool:
    """True when the decided passage's ``frame`` should go to the reader (:data:`WATCH_S`;
    every frame while ``follow_until``)."""
    if now - op.watch_pts < WATCH_S and now >= op.follow_until:
        return False
    op.watch_pts = now
    op.watched[frame.seq] = frame
    return True


def note_vehicle(op: OpenPassage, frame: Frame, bbox: Rect, roi: Rect) -> bool:
    """Record a moving box's extent for ``ending.went_by_bare``; True if it is vehicle-sized
    (:data:`VEHICLE_W` wide, not :data:`FLAT`)."""
    bottom = (bbox.y + bbox.height - roi.y) / max(1, roi.height)
    top = (bbox.y - roi.y) / max(1, roi.height)
    if top > EDGE and bottom < 1 - EDGE and bbox.width >= FLAT * bbox.height:
        return False  # a line, not a vehicle (:data:`FLAT`)
    if bbox.width < VEHICLE_W * roi.width:
        if op.span is None and bbox.width >= FAR_W * roi.width:
            op.span = (bottom, bottom, -1.0)  # first seen far up the lane (:data:`FAR_W`)
        return False
    first, low, high = op.span if op.span is not None else (bottom, bottom, -1.0)
    last, at = op.vehicle_last or (bottom, frame.pts)
    if bottom - last >= TRAVEL and frame.pts - at >= APART_S and high - first < TRAVEL / 3:
        first, low, high = bottom, bottom, -1.0  # not the box that was followed (TRAVEL)
    op.vehicle_last = (bottom, frame.pts)
    if bottom > high:
        op.vehicle_frame = frame
    op.span = (first, min(low, bottom), max(high, bottom))
    return True


def held(op: OpenPassage, occupied_bottom: float | None, roi: Rect, frame_height: int) -> bool:
    """The lane, occupied down to ``occupied_bottom`` (a share of the frame's height; None:
    unknown), may still hold ``op``'s vehicle (:data:`LEFT_UP`)."""
    if occupied_bottom is None or op.max_bottom < NEAR:
        return True
    bottom = (occupied_bottom * frame_height - roi.y) / max(1, roi.height)
    return bottom >= op.max_bottom - LEFT_UP


def make_passage(  # noqa: PLR0917 - the tracker's one call site
    op: OpenPassage,
    site: str,
    camera: CameraConfig,
    read: PlateRead | None,
    plate: str | None,
    frame: Frame | None,
    decided_at: datetime,
) -> Passage:
    """The Passage of ``op`` with ``plate`` as ``read`` gave it (None: plateless)."""
    called = [r for r in op.reads if r.called]
    gate = op.policy if isinstance(op.policy, PlateGate) else None
    category = read.category if read and plate else None
    if read is not None and read.provider == "local":  # the cloud's verdict still counts
        category = next((r.category for r in op.reads if r.category), None)
    provider = read.provider if read else ("local" if gate and not called else "tencent")
    return Passage(
        event_id=op.id,
        site=site,
        camera=camera.id,
        direction=camera.direction,
        captured_at=frame.wall if frame else op.started_wall,
        decided_at=decided_at,
        plate=plate,
        color=read.color if read and plate else None,
        confidence=read.confidence if read and plate else 0,
        category=category,
        rect=read.rect if read and plate else None,
        ocr_calls=len(called),
        request_ids=tuple(r.request_id for r in op.reads if r.request_id),
        latency_ms=sum(r.latency_ms for r in called),
        provider=provider,
        local_confidence=gate.local_confidence(plate) if gate else None,
    )


def note_reading(op: OpenPassage, read: PlateRead, now_pts: float) -> None:
    """Keep a local reading (screened: own plate, fixtures, another vehicle's) as evidence
    about ``op``."""
    if read.ok and plates.clean(read.plate) is not None:
        op.own_read_pts = now_pts
    if read.ok or read.box_found:  # the reads table keeps what the reader saw
        op.reads.append(read)
        op.own_evidence = op.own_evidence or (read.box_found and not op.jumped)
    elif read.error_code is None and read.frame_seq in op.vehicle_seqs:
        op.bare_reads += 1  # the vehicle read, no plate box: plateless evidence


