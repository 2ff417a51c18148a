"""Passage state machine of one camera: start on motion, spend OCR calls, one event per vehicle.

Pure logic, no I/O, no locks: the camera's lane thread owns it. The clock is the frame
``pts`` (s); wall times only go into the event.

- A passage starts when motion starts and none is open; without a local reader frames are
  scored and :class:`~daemon.lane.selection.SendPolicy` decides which to send.
- A read is trusted when its text, normalised and fixed for confusables, is a valid plate
  read at ``min_confidence`` or above. The event is emitted at once (the gate wants it while
  the car is at the barrier); no more calls are made. An invalid read (a timestamp overlay,
  a sign) never becomes a passage plate.
- The passage closes when the lane has been quiet (no motion, not occupied) for
  ``clear_after_s`` (a little longer for a read in flight) or after ``max_open_s``; or when
  the next vehicle comes before the lane cleared (daemon/lane/newcomer.py: the moving box
  jumping back up the lane, motion afresh at its far end once every call was spent).
- Closing without a trusted read emits the best *valid* read below the threshold (its low
  confidence says so), else a passage with plate None, so an operator sees it. A passage
  that never earned an OCR call (a shadow, a pedestrian) closes silently.
- The same plate again emits nothing (daemon/lane/dedup.py): within ``dedup_window_s`` of the
  last passage that carried it leaving, or a standing car this lane decided last; unless
  that event's confidence could not open the barrier and this one's can.
- A cloud answer that comes after its passage was decided or closed is recorded on its own
  (:class:`RecordRead`): every paid call is in ``reads``.

With a local reader (``gate`` settings, daemon/lane/plategate.py) the frames go to it
first (:class:`ReadLocal`) and its readings decide the cloud calls; a passage it saw no
plate in closes silently whatever the motion did, unless a vehicle-sized box came down the
lane, the lane occupied, and the reader found no plate box in its frames (``went_by_bare``: one
plateless passage); a passage with plate evidence and no cloud plate closes with the best
local reading (``provider`` local), else plateless. A plate read in its frames that is not
its vehicle's ends it and opens the newcomer's (daemon/lane/nextplate.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

from daemon import plates
from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import Frame, MotionResult, PlateRead, Rect
from daemon.lane import cloudread, ending, newcomer, nextplate, outcome, standing
from daemon.lane.actions import Action, EmitPassage, ReadLocal, RecordRead, SendCandidate
from daemon.lane.dedup import ALLOW_FLOOR, RecentPlates, opens
from daemon.lane.fixtures import FIXED_READS, Fixtures
from daemon.lane.newcomer import new_vehicle
from daemon.lane.outcome import OpenPassage, make_passage
from daemon.lane.plategate import GateSettings, GateStep, PlateGate
from daemon.lane.selection import SendPolicy, roi_bounds, score_frame

log = logging.getLogger(__name__)

INFLIGHT_GRACE_S = 5.0
"""How much longer than ``clear_after_s`` a quiet passage waits for a read in flight."""


class PassageTracker:
    """The passages of one camera; feed it every frame and every OCR read."""

    def __init__(
        self, camera: CameraConfig, cfg: PassageConfig, site: str, *,
        new_id: Callable[[], str] = lambda: str(uuid4()),
        gate: GateSettings | None = None,
        allow_floor: tuple[int, int] = ALLOW_FLOOR,
    ) -> None:
        """``gate``: settings of the local-reader policy; None sends on motion geometry alone.
        ``allow_floor``: the confidence an allow needs on a cloud and on a local reading
        (``access.min_confidence``, ``local_min_confidence``; daemon/lane/dedup.py)."""
        self.camera = camera
        self.cfg = cfg
        self.gate = gate
        self.site = site
        self.allow_floor = allow_floor
        self._new_id = new_id
        self._open: OpenPassage | None = None
        self._roi: Rect | None = None
        self._roi_size: tuple[int, int] | None = None
        self._recent = RecentPlates(cfg.dedup_window_s)
        self.fixtures = Fixtures()
        """Plates that stay put outside the vehicles' boxes (a parked car's)."""
        self._was_moving = False
        self._probed_pts = -1e9  # when the last standing probe began
        self._last_pts = 0.0  # the previous frame's
        self.started = 0
        self.emitted = 0
        self.deduplicated = 0
        self.dropped = 0

    @property
    def open_id(self) -> str | None:
        """Id of the open passage, if any."""
        return self._open.id if self._open else None

    @property
    def in_flight(self) -> bool:
        """True while the open passage waits for an OCR answer (cloud or local)."""
        op = self._open
        return op is not None and (op.policy.in_flight or (
            isinstance(op.policy, PlateGate) and op.policy.local_in_flight))

    def on_frame(
        self, frame: Frame, motion: MotionResult, decided_at: datetime | None = None
    ) -> list[Action]:
        """Advance with one frame and what the motion detector saw in it."""
        roi = self._roi_for(frame)
        now = frame.pts
        actions: list[Action] = []
        op = self._open
        started = motion.moving and not self._was_moving
        self._was_moving = motion.moving
        if (
            op is not None and motion.moving and motion.bbox is not None
            and new_vehicle(op, motion.bbox, roi, started=started, now=now,
                            in_view_bottom=self.cfg.in_view_bottom,
                            spent=lambda o: newcomer.spent(o, self._plate_of),
                            exit_lane=self.camera.direction == "exit")
        ):
            log.debug("%s: a new vehicle behind passage %s", self.camera.id, op.id)
            actions.extend(self._close(now, decided_at or frame.wall, newcomer=True))
        renewed = standing.renewed(motion.fresh, motion.suppressed, now, self._probed_pts,
                                   now - self._last_pts)
        self._last_pts = now
        if renewed and self._open is not None and self._due(self._open, now):
            actions.extend(self._close(now, decided_at or frame.wall))  # ended in the gap
        if renewed and self._open is None and self.gate is not None \
                and self.cfg.standing_probe_s > 0:
            self._open, self._probed_pts = self._start(frame, roi), now
            self._open.standing = True
        if motion.moving:
            if self._open is not None and self._open.standing and self._open.plate is None:
                actions.extend(self._close(now, decided_at or frame.wall))  # probe undecided
            if self._open is None:
                self._open = self._start(frame, roi)
            self._open.last_motion_pts = now
            self._open.standing = False
        op = self._open
        if op is None:
            return actions
        occupied = motion.occupied and outcome.held(op, motion.occupied_bottom, roi, frame.height)
        if occupied or (op.standing and standing.holds(
                op.started_pts, op.plate is not None, now, self.cfg.standing_probe_s)):
            op.last_motion_pts = now  # a stopped car absorbed by the background is still there
        if op.standing:  # a probe (daemon/lane/standing.py): every frame the reader can take
            probe = standing.probe(op, frame, self.cfg.standing_probe_s)
            actions.extend([ReadLocal(probe, op.id)] if probe is not None else [])
        else:
            actions.extend(self._look(op, frame, motion, roi, occupied))
            if op.plate is None and isinstance(op.policy, PlateGate):  # no reading: by time
                actions.extend(self._gate_step(op, op.policy, op.policy.tick(now), now, None))
        if self._due(op, now):
            actions.extend(self._close(now, decided_at or frame.wall))
        return actions

    def _due(self, op: OpenPassage, now: float) -> bool:
        """Closes: quiet for ``clear_after_s`` (+ a read in flight), or open ``max_open_s``."""
        quiet = now - op.last_motion_pts
        waiting = self.in_flight and quiet < self.cfg.clear_after_s + INFLIGHT_GRACE_S
        return (quiet >= self.cfg.clear_after_s and not waiting) or (
            now - op.started_pts >= self.cfg.max_open_s)

    def _look(self, op: OpenPassage, frame: Frame, motion: MotionResult, roi: Rect,
              occupied: bool) -> list[Action]:
        """What to read in ``frame``: a candidate while the passage is undecided (only frames
        showing the vehicle), once decided a frame now and then to the local reader."""
        now = frame.pts
        present = motion.moving or occupied  # occupied where its vehicle may be (outcome.held)
        if op.plate is None and not op.policy.done and present and motion.bbox is not None:
            score = score_frame(
                frame.analysis_image, motion.bbox, roi, op.prev_bbox,
                limited_range=frame.limited_range,
            )
            op.prev_bbox = motion.bbox
            if isinstance(op.policy, PlateGate):
                vehicle = motion.moving and motion.occupied \
                    and outcome.note_vehicle(op, frame, motion.bbox, roi)
                op.boxes[frame.seq] = motion.bbox
                op.box_frame = (frame.width, frame.height)
                local = op.policy.offer(frame, score.total, now)
                if local is None:
                    return []
                if vehicle:
                    op.vehicle_seqs.add(local.seq)
                return [ReadLocal(local, op.id, op.boxes.get(local.seq))]
            chosen = op.policy.offer(frame, score.total, motion.bbox, now)
            if chosen is None:
                return []
            op.sent[chosen[0].seq] = chosen[0]
            return [SendCandidate(chosen[0], op.id, op.policy.attempts, chosen[1])]
        decided = op.plate is not None and self.gate is not None and present
        if decided and outcome.watch(op, frame, now):
            return [ReadLocal(frame, op.id)]  # decided: is the next car behind it?
        return []

    def _start(self, frame: Frame, roi: Rect) -> OpenPassage:
        """A new passage from this frame on, with the send policy of the configured reader."""
        now = frame.pts
        opened = OpenPassage(
            id=self._new_id(), started_pts=now, started_wall=frame.wall, last_motion_pts=now,
            policy=(
                SendPolicy(self.cfg, roi, now) if self.gate is None
                else PlateGate(self.gate, self.cfg)
            ), crop=self.fixtures.known(now),  # a parked car's plate in view: crop the calls
        )
        self.started += 1
        log.debug("%s: passage %s started at pts %.3f", self.camera.id, opened.id, now)
        return opened

    def on_read(
        self, read: PlateRead, now_pts: float, decided_at: datetime | None = None
    ) -> list[Action]:
        """Take the answer to an OCR call; may emit the passage at once."""
        op = self._open
        if op is None or op.id != read.passage_id:
            log.debug("%s: read for closed passage %s", self.camera.id, read.passage_id)
            return [RecordRead(read)] if read.provider != "local" else []
        gate = op.policy if isinstance(op.policy, PlateGate) else None
        if read.provider == "local":
            return self._on_local(op, read, now_pts, decided_at)
        if op.plate is not None:  # decided: its event went out with the reads it had then
            op.policy.in_flight = False  # the call's answer came: nothing is out any more
            return [RecordRead(read)]
        op.reads.append(read)
        plate = self._plate_of(read)
        trusted = plate is not None and read.confidence >= self.cfg.min_confidence
        if gate is not None:
            plate, trusted = cloudread.screen(
                op, read, plate, trusted, self.fixtures, self.camera, self.cfg,
                gate.settings.min_plate_width_px, now_pts)
            step = gate.on_cloud(read, trusted)
            if not trusted:
                return self._gate_step(op, gate, step, now_pts, decided_at)
        elif isinstance(op.policy, SendPolicy):
            op.policy.on_read(trusted)
        if plate is None and read.ok and read.plate and read.rect is not None \
                and not self.camera.plate_fits(read.rect.width):
            log.debug("%s: read %s is %d px wide, outside the plate-size window, ignored",
                      self.camera.id, read.plate, read.rect.width)
        elif plate is None and read.ok and read.plate:
            log.debug("%s: read %r is not a valid plate, ignored", self.camera.id, read.plate)
        if not trusted or plate is None or op.plate is not None:
            return []
        return self._decide(op, read, plate, op.sent.get(read.frame_seq), now_pts=now_pts,
                            decided_at=decided_at)

    def _on_local(self, op: OpenPassage, read: PlateRead, now_pts: float,
                  decided_at: datetime | None) -> list[Action]:
        gate = op.policy
        if not isinstance(gate, PlateGate):
            return []
        if op.plate is not None:
            return self._watched(op, gate, read, now_pts, decided_at)
        seen = plates.clean(read.plate) if read.ok else None
        recent = seen is not None and self._recent.duplicate(seen, now_pts)
        op.departing = op.departing or recent
        box, kept = op.boxes.get(read.frame_seq), outcome.own_plate(op, read)
        if op.standing and self.gate is not None:  # only a plate where a waiting car's is
            kept = standing.screen(kept, read.image_size, self.camera, self.cfg,
                                   self.gate.min_plate_width_px)
        read = self.fixtures.screen(kept, read, now_pts, learn=not (recent or op.standing),
                                    box=box, scale=outcome.read_scale(op))
        read, newcomer_frame = nextplate.other_plate(op, read, gate, gate.reading_frame(
            read.frame_seq), now_pts, roi=self._roi, exit_lane=self.camera.direction == "exit")
        if newcomer_frame is not None:
            return self._split(op, read, newcomer_frame, now_pts, decided_at)
        outcome.note_reading(op, read, now_pts)
        step = gate.on_local(read, now_pts, lambda p: self._recent.settled(p, now_pts))
        return self._gate_step(op, gate, step, now_pts, decided_at)

    def _watched(self, op: OpenPassage, gate: PlateGate, read: PlateRead, now_pts: float,
                 decided_at: datetime | None) -> list[Action]:
        """A reading of a decided passage's frame: the next vehicle's plate ends it and opens
        the newcomer's passage (``nextplate.next_vehicle``); a fixture's never does."""
        frame = nextplate.next_vehicle(
            op, read, gate.settings, lambda rect, plate: self.fixtures.holds(rect, now_pts, plate))
        return [] if frame is None else self._split(op, read, frame, now_pts, decided_at)

    def _split(self, op: OpenPassage, read: PlateRead, frame: Frame, now_pts: float,
               decided_at: datetime | None) -> list[Action]:
        """``read`` of ``frame`` is the next vehicle's plate (daemon/lane/nextplate.py): close
        ``op``, open the newcomer's passage from that frame on."""
        log.debug("%s: %s behind passage %s", self.camera.id, read.plate, op.id)
        actions = self._close(now_pts, decided_at or frame.wall, newcomer=True)
        self._open = self._start(frame, self._roi_for(frame))
        return actions

    def _gate_step(
        self, op: OpenPassage, gate: PlateGate, step: GateStep, now_pts: float,
        decided_at: datetime | None,
    ) -> list[Action]:
        """Act on what the local-reader policy asked for: a cloud call or a final reading."""
        if step.final is not None and step.final.plate and op.plate is None:
            plate = plates.clean(step.final.plate)
            if plate is not None:
                frame = gate.frame_of(plate)
                return self._decide(
                    op, step.final, plate, frame, now_pts=now_pts, decided_at=decided_at
                )
        if step.cloud is not None:
            op.sent[step.cloud.seq] = step.cloud
            crop = outcome.crop_of(op, step.cloud.seq)
            return [SendCandidate(step.cloud, op.id, gate.attempts, 0.0, crop)]
        return []

    def _decide(
        self, op: OpenPassage, read: PlateRead, plate: str, frame: Frame | None, *,
        now_pts: float, decided_at: datetime | None,
    ) -> list[Action]:
        """A trusted (cloud) or final (local) reading decided the passage: emit it at once."""
        op.plate = plate
        op.sent.clear()  # decided: no later event needs these frames, free them now
        op.vehicle_frame = None
        if isinstance(op.policy, PlateGate):
            op.policy.release_frames()
        can_open = opens(read, self.allow_floor)
        if self._recent.duplicate(plate, now_pts, op.standing, upgrade=can_open):
            self.deduplicated += 1
            log.debug("%s: %s again (or still standing), no new event", self.camera.id, plate)
            return []
        self._recent.note(plate, now_pts, short=not can_open)
        when = decided_at or (frame.wall if frame else op.started_wall)
        return [self._emit(op, read, plate, frame, when)]

    def flush(self, now_pts: float, decided_at: datetime | None = None) -> list[Action]:
        """Close whatever is open (end of a clip, shutdown)."""
        op = self._open
        return [] if op is None else self._close(now_pts, decided_at or op.started_wall)

    # -- internals -----------------------------------------------------------------

    def _roi_for(self, frame: Frame) -> Rect:
        size = (frame.width, frame.height)
        if self._roi is None or self._roi_size != size:
            self._roi = roi_bounds(self.camera.roi, frame.width, frame.height)
            self._roi_size = size
        return self._roi

    def _plate_of(self, read: PlateRead) -> str | None:
        """The read's valid plate, if any and if it fits the camera's plate-size window."""
        if not read.ok or (read.rect is not None and not self.camera.plate_fits(read.rect.width)):
            return None
        return plates.clean(read.plate)

    def _close(self, now_pts: float, decided_at: datetime, *, newcomer: bool = False,
               ) -> list[Action]:  # newcomer: the next vehicle's passage opens now
        op, self._open = self._open, None
        if op is None:
            return []
        if op.plate is not None:  # there until now: the dedup window runs from its departure
            self._recent.departed(op.plate, now_pts)
            return []
        if op.standing:  # undecided and it never moved: a guess never opens a barrier
            for plate, rect in standing.unclaimed(op.reads, FIXED_READS).items():
                self.fixtures.stood(plate, rect, op.started_pts, now_pts)
            self.dropped += 1
            return []
        end = ending.ending(op, self._plate_of, newcomer=newcomer,
                            exit_lane=self.camera.direction == "exit")
        if isinstance(end, tuple):
            return self._close_with(op, *end, now_pts=now_pts, decided_at=decided_at)
        if end == "drop":  # no call, or too little plate evidence: a walker, a car's rear
            self.dropped += 1
            log.debug("%s: passage %s closed without plate evidence", self.camera.id, op.id)
            return []
        log.debug("%s: passage %s closed plateless (%s: %d bare reads, %d call(s))",
                  self.camera.id, op.id, end, op.bare_reads, op.policy.attempts)
        last_frame = op.sent[max(op.sent)] if op.sent else op.vehicle_frame
        return [self._emit(op, None, None, last_frame, decided_at)]

    def _close_with(
        self, op: OpenPassage, read: PlateRead, plate: str, frame: Frame | None, *,
        now_pts: float, decided_at: datetime,
    ) -> list[Action]:
        """Close with a reading that did not decide the passage at once (below the trust
        threshold, or a local reading the cloud never confirmed)."""
        if self._recent.duplicate(plate, now_pts, op.standing):
            self._recent.again(plate, now_pts)
            self.deduplicated += 1
            return []
        self._recent.note(plate, now_pts, short=not opens(read, self.allow_floor))
        log.debug("%s: passage %s closed with %s reading %s (%d)", self.camera.id, op.id,
                 read.provider, plate, read.confidence)
        return [self._emit(op, read, plate, frame, decided_at)]

    def _emit(
        self, op: OpenPassage, read: PlateRead | None, plate: str | None, frame: Frame | None,
        decided_at: datetime,
    ) -> EmitPassage:
        passage = make_passage(op, self.site, self.camera, read, plate, frame, decided_at)
        self.emitted += 1
        log.debug("%s: passage %s plate=%s confidence=%d calls=%d provider=%s", self.camera.id,
                 op.id, plate, passage.confidence, passage.ocr_calls, passage.provider)
        return EmitPassage(passage, tuple(op.reads), frame)
