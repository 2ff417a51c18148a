"""Passage state machine of one camera: start on motion, spend OCR calls, one event per vehicle.

Pure logic, no I/O, no locks: the camera's detector thread owns it. The clock is
the frame ``pts`` (seconds) passed in; wall times only go into the event.

- A passage starts when motion starts and no passage is open.
- Frames are scored and :class:`~daemon.lane.selection.SendPolicy` decides which to send.
- A read is trusted when its text, normalised and fixed for confusables, is a
  valid plate read at ``min_confidence`` or above, and its plate's width lies in the
  camera's plate-size window (``min/max_plate_width_px``; a read outside it counts as no
  plate: a car parked far beyond the lane, a poster). The event is emitted at once
  (the gate wants it while the car is at the barrier); no more calls are made.
  An invalid read (a timestamp overlay, a sign) never becomes a passage plate.
- The passage closes when the lane has been quiet (no motion, not occupied) for
  ``clear_after_s`` (waiting a little longer for a read still in flight) or after
  ``max_open_s``; or, once it spent a call, when the moving box jumps back up the
  lane (the next vehicle entering before the lane cleared); or, once it spent all its
  calls without a valid read, when motion starts afresh at the far end of the lane.
- Closing without a trusted read emits the best *valid* read below the threshold
  (its low confidence in the event says so), else a passage with plate None, so
  an operator sees it. A passage that never earned an OCR call (a shadow, a
  pedestrian) closes silently.
- The same plate within ``dedup_window_s`` of the end of the last passage that
  carried it emits nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import uuid4

from daemon import plates
from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import Frame, MotionResult, Passage, PlateRead, Rect
from daemon.lane.selection import SendPolicy, roi_bounds, score_frame

log = logging.getLogger(__name__)

INFLIGHT_GRACE_S = 5.0
"""How much longer than ``clear_after_s`` a quiet passage waits for a read in flight."""

NEW_VEHICLE_RISE = 0.2
"""A passage that already spent a call ends when the moving box's bottom edge jumps this
share of the ROI height back up the lane: the vehicle left and the next one is entering
(two cars back to back, the lane never quiet between them) and stays there ``NEW_VEHICLE_S``
(a car pulling away uncovers road behind it for a frame or two: not a new vehicle)."""

NEW_VEHICLE_S = 0.3

NEW_VEHICLE_TOP = 0.05
"""... and the box must reach the far (top) edge of the ROI: vehicles come into a gate
camera's view from the far end of the lane, a car pulling away does not."""

NEW_VEHICLE_HOLD = NEW_VEHICLE_RISE / 2
"""Once risen, the box stays the new vehicle's while its bottom edge is this far above the
lowest point (a hysteresis, as the motion's own): the newcomer drives down the lane during
``NEW_VEHICLE_S``. When it follows closely, its box merges with the departing car's until
that one left the view, so it first shows up half-way down the lane and would get back
within ``NEW_VEHICLE_RISE`` of the lowest point before the time ran out. A glitch (the box
jumping up for a frame or two) still falls back to the lowest point at once."""

# A passage that spent its calls without a valid read also ends when vehicle motion starts
# afresh (it was off in the frame before) at the far end with the box's bottom short of
# ``PassageConfig.in_view_bottom``: a vehicle just coming into view. The rise rule above
# needs the followed thing to have come down the lane; such a passage may follow none (a
# ghost, a light, a shadow) or a car whose plate no call could read, and it can do nothing
# more either way. Splitting wrongly costs a plateless passage and a few calls; not
# splitting costs the newcomer's plate (it would get no call at all). A car that stopped
# and pulls away restarts its motion low in the lane, not at the far end.


@dataclass(frozen=True, slots=True, eq=False)
class SendCandidate:
    """Send ``frame`` to OCR for this passage."""

    frame: Frame
    passage_id: str
    attempt: int
    score: float


@dataclass(frozen=True, slots=True, eq=False)
class EmitPassage:
    """Record and publish this passage; ``snapshot`` is the frame the plate was read from
    (its BGR picture is made only if the recorder writes snapshots)."""

    passage: Passage
    reads: tuple[PlateRead, ...]
    snapshot: Frame | None


Action = SendCandidate | EmitPassage


@dataclass(eq=False)
class _Open:
    id: str
    started_pts: float
    started_wall: datetime
    last_motion_pts: float
    policy: SendPolicy
    reads: list[PlateRead] = field(default_factory=list)
    sent: dict[int, Frame] = field(default_factory=dict)
    plate: str | None = None
    """Set once a trusted read decided the passage (emitted or deduplicated)."""
    prev_bbox: Rect | None = None
    max_bottom: float = 0.0
    """Lowest point (share of the ROI height) the vehicle's box reached."""
    rise_since: float | None = None
    """Since when the moving box has been far above ``max_bottom`` (a new vehicle?)."""


class PassageTracker:
    """The passages of one camera; feed it every frame and every OCR read."""

    def __init__(
        self,
        camera: CameraConfig,
        cfg: PassageConfig,
        site: str,
        new_id: Callable[[], str] = lambda: str(uuid4()),
    ) -> None:
        self.camera = camera
        self.cfg = cfg
        self.site = site
        self._new_id = new_id
        self._open: _Open | None = None
        self._roi: Rect | None = None
        self._roi_size: tuple[int, int] | None = None
        self._last_seen: dict[str, float] = {}
        self._was_moving = False
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
        """True while the open passage waits for an OCR answer."""
        return self._open is not None and self._open.policy.in_flight

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
        if op is not None and motion.moving and motion.bbox is not None:
            bottom = (motion.bbox.y + motion.bbox.height - roi.y) / max(1, roi.height)
            top = (motion.bbox.y - roi.y) / max(1, roi.height)
            rise = NEW_VEHICLE_RISE if op.rise_since is None else NEW_VEHICLE_HOLD
            entering = top <= NEW_VEHICLE_TOP and bottom < op.max_bottom - rise
            arriving = started and top <= NEW_VEHICLE_TOP and bottom < self.cfg.in_view_bottom
            if arriving and self._spent(op):
                log.debug("%s: a new vehicle after spent passage %s", self.camera.id, op.id)
                actions.extend(self._close(now, decided_at or frame.wall))
            elif op.policy.attempts > 0 and entering:
                op.rise_since = now if op.rise_since is None else op.rise_since
                if now - op.rise_since >= NEW_VEHICLE_S:
                    log.debug("%s: a new vehicle behind passage %s", self.camera.id, op.id)
                    actions.extend(self._close(now, decided_at or frame.wall))
            else:
                op.rise_since = None
                op.max_bottom = max(op.max_bottom, bottom)
        if motion.moving:
            if self._open is None:
                self._open = _Open(
                    id=self._new_id(),
                    started_pts=now,
                    started_wall=frame.wall,
                    last_motion_pts=now,
                    policy=SendPolicy(self.cfg, roi, now),
                )
                self.started += 1
                log.debug("%s: passage %s started at pts %.3f", self.camera.id, self._open.id, now)
            self._open.last_motion_pts = now
        op = self._open
        if op is None:
            return actions
        if motion.occupied:
            op.last_motion_pts = now  # a stopped car absorbed by the background is still there
        present = motion.moving or motion.occupied
        if op.plate is None and not op.policy.done and present and motion.bbox is not None:
            # Only frames showing the moving vehicle are candidates (and trigger a send).
            score = score_frame(
                frame.analysis_image, motion.bbox, roi, op.prev_bbox,
                limited_range=frame.limited_range,
            )
            op.prev_bbox = motion.bbox
            chosen = op.policy.offer(frame, score.total, motion.bbox, now)
            if chosen is not None:
                op.sent[chosen[0].seq] = chosen[0]
                actions.append(SendCandidate(chosen[0], op.id, op.policy.attempts, chosen[1]))
        quiet = now - op.last_motion_pts
        waiting = op.policy.in_flight and quiet < self.cfg.clear_after_s + INFLIGHT_GRACE_S
        if (quiet >= self.cfg.clear_after_s and not waiting) or (
            now - op.started_pts >= self.cfg.max_open_s
        ):
            actions.extend(self._close(now, decided_at or frame.wall))
        return actions

    def on_read(
        self, read: PlateRead, now_pts: float, decided_at: datetime | None = None
    ) -> list[Action]:
        """Take the answer to an OCR call; may emit the passage at once."""
        op = self._open
        if op is None or op.id != read.passage_id:
            log.debug("%s: read for closed passage %s ignored", self.camera.id, read.passage_id)
            return []
        op.reads.append(read)
        plate = self._plate_of(read)
        trusted = plate is not None and read.confidence >= self.cfg.min_confidence
        op.policy.on_read(trusted)
        if plate is None and read.ok and read.plate and read.rect is not None \
                and not self.camera.plate_fits(read.rect.width):
            log.debug("%s: read %s is %d px wide, outside the plate-size window, ignored",
                      self.camera.id, read.plate, read.rect.width)
        elif plate is None and read.ok and read.plate:
            log.debug("%s: read %r is not a valid plate, ignored", self.camera.id, read.plate)
        if not trusted or plate is None or op.plate is not None:
            return []
        op.plate = plate
        frame = op.sent.get(read.frame_seq)
        op.sent.clear()  # decided: no later event needs these frames, free them now
        if self._is_duplicate(plate, now_pts):
            self.deduplicated += 1
            log.info(
                "%s: %s again within %.0f s, no new event",
                self.camera.id,
                plate,
                self.cfg.dedup_window_s,
            )
            return []
        self._last_seen[plate] = now_pts
        when = decided_at or (frame.wall if frame else op.started_wall)
        return [self._emit(op, read, plate, frame, when)]

    def flush(self, now_pts: float, decided_at: datetime | None = None) -> list[Action]:
        """Close whatever is open (end of a clip, shutdown)."""
        if self._open is None:
            return []
        wall = decided_at or (self._open.started_wall)
        return self._close(now_pts, wall)

    # -- internals -----------------------------------------------------------------

    def _roi_for(self, frame: Frame) -> Rect:
        size = (frame.width, frame.height)
        if self._roi is None or self._roi_size != size:
            self._roi = roi_bounds(self.camera.roi, frame.width, frame.height)
            self._roi_size = size
        return self._roi

    def _is_duplicate(self, plate: str, now_pts: float) -> bool:
        window = self.cfg.dedup_window_s
        for old in [p for p, t in self._last_seen.items() if now_pts - t > window]:
            del self._last_seen[old]
        last = self._last_seen.get(plate)
        return last is not None and now_pts - last <= window

    def _plate_of(self, read: PlateRead) -> str | None:
        """The read's valid plate, if any and if it fits the camera's plate-size window."""
        if not read.ok or (read.rect is not None and not self.camera.plate_fits(read.rect.width)):
            return None
        return plates.clean(read.plate)

    def _spent(self, op: _Open) -> bool:
        """All calls made and answered, none with a valid plate: nothing more to do for it."""
        return (
            op.plate is None
            and op.policy.done
            and not any(self._plate_of(r) is not None for r in op.reads)
        )

    def _close(self, now_pts: float, decided_at: datetime) -> list[Action]:
        op = self._open
        self._open = None
        if op is None:
            return []
        if op.plate is not None:
            # The vehicle was there until now: the dedup window runs from its departure.
            self._last_seen[op.plate] = max(now_pts, self._last_seen.get(op.plate, now_pts))
            return []
        if op.policy.attempts == 0:
            self.dropped += 1
            log.debug("%s: passage %s closed without a call (no vehicle)", self.camera.id, op.id)
            return []
        valid = [(r, p) for r in op.reads if (p := self._plate_of(r)) is not None]
        if valid:
            voted, _ = plates.vote((p, r.confidence) for r, p in valid)
            winner = voted or valid[0][1]
            best = max((r for r, p in valid if p == winner), key=lambda r: r.confidence)
            if self._is_duplicate(winner, now_pts):
                self.deduplicated += 1
                self._last_seen[winner] = now_pts
                return []
            self._last_seen[winner] = now_pts
            log.debug(
                "%s: passage %s closed with low-confidence %s (%d)",
                self.camera.id,
                op.id,
                winner,
                best.confidence,
            )
            return [self._emit(op, best, winner, op.sent.get(best.frame_seq), decided_at)]
        log.debug(
            "%s: passage %s closed without a plate after %d call(s)",
            self.camera.id,
            op.id,
            op.policy.attempts,
        )
        last_frame = op.sent[max(op.sent)] if op.sent else None
        return [self._emit(op, None, None, last_frame, decided_at)]

    def _emit(
        self,
        op: _Open,
        read: PlateRead | None,
        plate: str | None,
        frame: Frame | None,
        decided_at: datetime,
    ) -> EmitPassage:
        called = [r for r in op.reads if r.called]
        passage = Passage(
            event_id=op.id,
            site=self.site,
            camera=self.camera.id,
            direction=self.camera.direction,
            captured_at=frame.wall if frame else op.started_wall,
            decided_at=decided_at,
            plate=plate,
            color=read.color if read and plate else None,
            confidence=read.confidence if read and plate else 0,
            category=read.category if read and plate else None,
            rect=read.rect if read and plate else None,
            ocr_calls=len(called),
            request_ids=tuple(r.request_id for r in op.reads if r.request_id),
            latency_ms=sum(r.latency_ms for r in called),
            provider=read.provider if read else "tencent",
        )
        self.emitted += 1
        log.debug(  # the INFO line comes once the passage is committed (App._committed)
            "%s: passage %s plate=%s confidence=%d calls=%d",
            self.camera.id,
            op.id,
            plate,
            passage.confidence,
            passage.ocr_calls,
        )
        return EmitPassage(passage, tuple(op.reads), frame)
