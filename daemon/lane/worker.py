"""The per-camera detector thread: frames -> motion -> passage tracker -> OCR candidates and events.

:class:`LaneWorker` is the only owner of its camera's passage state. It takes the
newest frame from the capture's latest-frame slot, runs the motion detector and
the passage tracker, submits candidates to the shared OCR queue and emits
decided passages. OCR answers come back on other threads through
:meth:`LaneWorker.deliver`, which only puts them on an internal queue; this
thread applies them. No locks guard passage state.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, cast

import cv2

from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import Candidate, Frame, Image, Passage, PlateRead, Rect
from daemon.lane.actions import Action, EmitPassage, ReadLocal, RecordRead, SendCandidate
from daemon.lane.dedup import ALLOW_FLOOR
from daemon.lane.motion import MotionDetector
from daemon.lane.passage import PassageTracker
from daemon.lane.plategate import GateSettings
from daemon.lane.selection import roi_bounds

log = logging.getLogger(__name__)

FRAME_TIMEOUT_S = 0.5
"""How long one wait for a frame lasts before the stop flag is checked again."""

READ_WAIT_S = 30.0
"""Upper bound on waiting for one OCR answer (``sync_reads``) or for all of them at the end."""

STOP_READ_WAIT_S = 5.0
"""On shutdown, how long answers already in flight are awaited (OCR timeout plus margin)."""

ROI_MARGIN = 0.05
"""Margin added around the ROI's bounding box for the candidate's crop hint."""

CROP_MARGIN = 0.1
"""Margin (share of its size, each side) around a vehicle's box sent as the call's crop
(``SendCandidate.crop``: the cloud read another vehicle's plate in the lane's crop)."""

Submit = Callable[[Candidate, Callable[[PlateRead], None]], None]
Emit = Callable[[Passage, Sequence[PlateRead], Frame | None], None]


class FrameSource(Protocol):
    """What the lane needs of the capture's latest-frame slot."""

    @property
    def closed(self) -> bool:
        """True once the source ended and no frame is left."""
        ...

    def get(self, timeout: float) -> Frame | None:
        """The newest frame, waiting at most ``timeout`` seconds; None if none came."""
        ...

    def mark_lane(self, seq: int, busy: bool) -> None:
        """Frame ``seq`` is handled; ``busy``: the lane needs every frame (capture may idle
        when it is False)."""
        ...


class LaneWorker(threading.Thread):
    """Detector thread of one camera. Counters: ``frames``, ``motion_frames``, ``passages``."""

    def __init__(  # noqa: PLR0917 - the signature app.py and replay share
        self,
        camera: CameraConfig,
        passage_cfg: PassageConfig,
        site: str,
        slot: FrameSource,
        submit: Submit,
        emit: Emit,
        stop: threading.Event,
        *,
        sync_reads: bool = False,
        wall_now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        read_local: Submit | None = None,
        gate: GateSettings | None = None,
        allow_floor: tuple[int, int] = ALLOW_FLOOR,
        record_read: Callable[[PlateRead], object] | None = None,
    ) -> None:
        """``read_local`` (the local reader pool's submit) with ``gate``: frames go to the
        local reader first and its readings drive the cloud calls (daemon/lane/plategate.py).
        ``allow_floor``: the access config's confidences for an allow (cloud, local);
        ``record_read``: records a cloud answer that came after its passage's event, under
        the passage's id (its event's id; a passage closed unpublished has no event)."""
        super().__init__(name=f"lane-{camera.id}", daemon=True)
        self.camera = camera
        self.passage_cfg = passage_cfg
        self.slot = slot
        self.submit = submit
        self.emit = emit
        self.stop_event = stop
        self.sync_reads = sync_reads
        self.wall_now = wall_now
        self.monotonic = monotonic
        self.read_local = read_local
        self.record_read = record_read
        self.tracker = PassageTracker(
            camera, passage_cfg, site, gate=gate if read_local is not None else None,
            allow_floor=allow_floor,
        )
        self.frames = 0
        self.motion_frames = 0
        self.passages = 0
        self.errors = 0
        self.last_loop_at = monotonic()
        """Monotonic time the loop last turned (health.py's stall check)."""
        self._reads: queue.SimpleQueue[PlateRead] = queue.SimpleQueue()
        self._outstanding = 0
        self._detector: MotionDetector | None = None
        self._roi_box: Rect | None = None
        self._read_size = (0, 0)  # the main stream's picture size, with a detect stream
        self._read_roi: Rect | None = None
        self._last_pts = 0.0
        self._last_wall: datetime | None = None
        self._log = log.getChild(camera.id)

    def _decided_at(self) -> datetime:
        """Wall time of a decision: now, or in ``sync_reads`` (fast replay) the clip's own time."""
        if self.sync_reads and self._last_wall is not None:
            return self._last_wall
        return self.wall_now()

    def deliver(self, read: PlateRead) -> None:
        """Hand an OCR answer to this lane (any thread may call it)."""
        self._reads.put(read)

    @property
    def outstanding(self) -> int:
        """Candidates submitted whose answer has not been applied yet."""
        return self._outstanding

    def run(self) -> None:
        """Loop until stopped or the source ends; then settle and flush open passages."""
        self._log.info("lane started (sync_reads=%s)", self.sync_reads)
        try:
            while not self.stop_event.is_set():
                self.last_loop_at = self.monotonic()
                self._drain_reads()
                timeout = 0.05 if self._outstanding else FRAME_TIMEOUT_S
                frame = self.slot.get(timeout)
                if frame is None:
                    if self.slot.closed:
                        self._finish()
                        break
                    continue
                try:
                    self._handle(frame)
                except Exception:
                    self.errors += 1
                    self._log.exception("frame %s failed; lane keeps running", frame.seq)
                del frame  # not kept alive while waiting: it pins a decoder buffer
            else:
                # Stopped (shutdown): answers already in flight are awaited within a
                # bound, then an open passage that spent calls is recorded.
                self._apply(self._wait_reads(STOP_READ_WAIT_S, until_stop=False))
                self._apply(self.tracker.flush(self._last_pts, self._decided_at()))
        finally:
            self._log.info(
                "lane stopped: frames=%d motion_frames=%d passages=%d errors=%d",
                self.frames,
                self.motion_frames,
                self.passages,
                self.errors,
            )

    # -- per frame -----------------------------------------------------------------

    def _handle(self, frame: Frame) -> None:
        self.frames += 1
        self._last_pts = frame.pts
        self._last_wall = frame.wall
        size = (frame.width, frame.height)
        if self._detector is None or self._detector.frame_size != size:
            self._detector = MotionDetector(size, self.camera.roi, self.camera.motion)
            self._roi_box = roi_bounds(self.camera.roi, *size, margin=ROI_MARGIN)
        motion = self._detector.update(
            frame.analysis_image, frame.pts, limited_range=frame.limited_range
        )
        if motion.moving:
            self.motion_frames += 1
        self._apply(self.tracker.on_frame(frame, motion, self._decided_at()))
        # Capture decodes key frames only while this says the lane is empty.
        busy = motion.moving or motion.occupied or self.tracker.open_id is not None
        self.slot.mark_lane(frame.seq, busy)

    def _apply(self, actions: list[Action]) -> None:
        pending = deque(actions)
        while pending:
            action = pending.popleft()
            if isinstance(action, SendCandidate | ReadLocal):
                self._send(action)
                if self.sync_reads:
                    pending.extend(self._wait_reads())
            elif isinstance(action, EmitPassage):
                self.passages += 1
                snap = action.snapshot
                try:
                    self.emit(action.passage, action.reads, snap and self._reading(snap))
                except Exception:
                    self.errors += 1
                    self._log.exception("emit of passage %s failed", action.passage.event_id)
            elif isinstance(action, RecordRead) and self.record_read is not None:
                self.record_read(action.read)

    def _send(self, action: SendCandidate | ReadLocal) -> None:
        """Hand the frame's reading picture to the local reader or the OCR pool: with a
        detect stream the main stream's frame of the same instant, its lane box mapped by
        the ROI's fractions (daemon/capture/dual.py)."""
        local = isinstance(action, ReadLocal)
        submit = self.read_local if local and self.read_local is not None else self.submit
        frame = self._reading(action.frame)  # a detect stream's frame: the main stream's picture
        roi_box = self._roi_box
        if frame is not action.frame:
            roi_box = self._read_roi
        box = action.focus if isinstance(action, ReadLocal) else action.crop  # the vehicle's
        boxed = None if box is None else vehicle_crop(box, action.frame, frame, roi_box)
        if boxed is not None and not local:
            roi_box = boxed  # a call cropped to the vehicle; a local read keeps the lane
        candidate = Candidate(
            camera_id=self.camera.id,
            passage_id=action.passage_id,
            frame=frame,
            score=0.0 if isinstance(action, ReadLocal) else action.score,
            attempt=0 if isinstance(action, ReadLocal) else action.attempt,
            deadline=self.monotonic() + self.passage_cfg.candidate_max_age_s,
            roi_box=roi_box,
            focus=boxed if local else None,
        )
        self._outstanding += 1
        try:
            submit(candidate, self.deliver)
        except Exception as exc:
            self._log.exception("submit failed for passage %s", action.passage_id)
            self.deliver(
                PlateRead(
                    camera_id=self.camera.id,
                    passage_id=action.passage_id,
                    frame_seq=action.frame.seq,
                    ok=False,
                    error_code=f"SubmitFailed.{type(exc).__name__}",
                    called=False,
                    provider="local" if local else "tencent",
                )
            )

    def _reading(self, frame: Frame) -> Frame:
        """The picture to read ``frame``'s plate from (:meth:`Frame.for_reading`). When a
        detect stream's main stream has no frame for the instant (it lags or is down), the
        detect frame brought to the main stream's size: boxes, snapshots and
        ``min_plate_width_px`` stay in main-stream pixels in every event of the camera."""
        read = frame.for_reading()
        size = (read.width, read.height)
        if read is not frame:
            if size != self._read_size:
                self._read_size = size
                self._read_roi = roi_bounds(self.camera.roi, *size, margin=ROI_MARGIN)
        elif self._read_size not in ((0, 0), size):  # (0, 0): no main frame seen yet
            image = cast(Image, cv2.resize(frame.image, self._read_size,
                                           interpolation=cv2.INTER_LINEAR))
            read = Frame(frame.camera_id, frame.seq, frame.pts, frame.wall, image)
        return read

    # -- reads ---------------------------------------------------------------------

    def _wait_reads(self, limit: float = READ_WAIT_S, *, until_stop: bool = True) -> list[Action]:
        """Block until every outstanding answer is in (bounded); returns the actions they caused."""
        deadline = self.monotonic() + limit
        actions: list[Action] = []
        while self._outstanding > 0 and not (until_stop and self.stop_event.is_set()):
            left = deadline - self.monotonic()
            if left <= 0:
                self._log.warning(
                    "%d OCR answer(s) still missing after %.0f s", self._outstanding, limit
                )
                break
            try:
                read = self._reads.get(timeout=min(left, FRAME_TIMEOUT_S))
            except queue.Empty:
                continue
            actions.extend(self._on_read(read))
        return actions

    def _drain_reads(self) -> None:
        while True:
            try:
                read = self._reads.get_nowait()
            except queue.Empty:
                return
            self._apply(self._on_read(read))

    def _on_read(self, read: PlateRead) -> list[Action]:
        self._outstanding = max(0, self._outstanding - 1)
        try:
            return self.tracker.on_read(read, self._last_pts, self._decided_at())
        except Exception:
            self.errors += 1
            self._log.exception("read for passage %s failed", read.passage_id)
            return []

    def _finish(self) -> None:
        """End of the source: wait for answers (bounded), close open passages."""
        self._log.info("source ended; %d answer(s) outstanding", self._outstanding)
        if self.stop_event.is_set():  # shutdown closed the slot: in-flight answers, bounded
            self._apply(self._wait_reads(STOP_READ_WAIT_S, until_stop=False))
        else:
            self._apply(self._wait_reads())
        self._apply(self.tracker.flush(self._last_pts, self._decided_at()))


def vehicle_crop(box: Rect, lane_frame: Frame, read_frame: Frame, roi_box: Rect | None) -> Rect:
    """The vehicle's ``box`` (``lane_frame``'s pixels) in ``read_frame``'s pixels (a detect
    stream's box on the main stream's picture), grown by :data:`CROP_MARGIN`, within
    ``roi_box`` (the lane's crop) when there is one."""
    sx = read_frame.width / max(1, lane_frame.width)
    sy = read_frame.height / max(1, lane_frame.height)
    mx, my = box.width * CROP_MARGIN, box.height * CROP_MARGIN
    x0, y0 = (box.x - mx) * sx, (box.y - my) * sy
    x1, y1 = (box.x + box.width + mx) * sx, (box.y + box.height + my) * sy
    if roi_box is not None:
        x0, y0 = max(x0, roi_box.x), max(y0, roi_box.y)
        x1 = min(x1, roi_box.x + roi_box.width)
        y1 = min(y1, roi_box.y + roi_box.height)
    x0, y0 = max(0, round(x0)), max(0, round(y0))
    return Rect(x0, y0, max(1, round(x1) - x0), max(1, round(y1) - y0))
