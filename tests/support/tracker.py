"""Driving a PassageTracker in lane tests: the actions it returns are carried out in order
(a local read, a cloud call, a passage) and the reads they produce fed back to it; and a
scenario clip replayed through the real detector, tracker and local reader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np

from daemon.config.models import CameraConfig, MotionConfig, PassageConfig
from daemon.domain import Frame, Passage, PlateRead, Rect
from daemon.lane.actions import Action, EmitPassage, ReadLocal, RecordRead, SendCandidate
from daemon.lane.motion import MotionDetector
from daemon.lane.passage import PassageTracker
from daemon.lane.plategate import GateSettings
from daemon.ocr.local import LocalPlateReader
from scripts.rig.clips import load_make_clip


def settle(tracker: PassageTracker, actions: list[Action], pts: float, *,
           local: Callable[[ReadLocal, float], PlateRead],
           cloud: Callable[[SendCandidate, float], PlateRead | None],
           emitted: Callable[[Passage, float], None],
           recorded: list[PlateRead] | None = None) -> None:
    """Carry out ``actions`` at ``pts`` until none is left: ``local``/``cloud`` answer a read
    (given the action and ``pts``; a ``cloud`` answer of None comes later, if at all),
    which goes back to the tracker; ``emitted`` gets each passage and ``pts``, ``recorded``
    each read recorded on its own (``RecordRead``)."""
    pending = list(actions)
    while pending:
        action = pending.pop(0)
        if isinstance(action, ReadLocal):
            pending += tracker.on_read(local(action, pts), pts)
        elif isinstance(action, SendCandidate):
            answer = cloud(action, pts)
            pending += tracker.on_read(answer, pts) if answer is not None else []
        elif isinstance(action, EmitPassage):
            emitted(action.passage, pts)
        elif isinstance(action, RecordRead) and recorded is not None:
            recorded.append(action.read)


# -- the real reader on a scenario clip rendered in memory ---------------------------------

SIZE = (640, 360)
ROI = [(0.0, 0.25), (1.0, 0.25), (1.0, 1.0), (0.0, 1.0)]
CAMERA = CameraConfig(id="entry-1", url="rtsp://cam/stream", roi=ROI)
T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def replay(reader: LocalPlateReader, name: str | Any, start_s: float = 0.0, *,
           tail_s: float = 4.0, outage_s: float = 0.0, exposure: float = 1.0,
           standing_probe_s: float = 0.0, roi_top: float = 0.25) -> list[str | None]:
    """The scenario rendered at 640x360 from ``start_s`` (the daemon starting then; or,
    ``outage_s``, its frames before that, then none until ``start_s``: the camera was
    away), at ``exposure`` times the brightness from ``start_s`` on, through the real motion
    detector and ``local_first`` tracker, the lane's ROI read by ``reader``, every reading
    awaited (``standing_probe_s``: passage.standing_probe_s); the published plates.
    ``name``: a scenario's name or a ``clipgen`` Scenario (rendered at 640x360);
    ``roi_top``: the lane ROI's top edge (share of the frame height)."""
    roi_y = int(roi_top * SIZE[1])
    roi = [(0.0, roi_top), (1.0, roi_top), (1.0, 1.0), (0.0, 1.0)]
    camera = CAMERA.model_copy(update={"roi": roi})
    tracker = PassageTracker(camera, PassageConfig(standing_probe_s=standing_probe_s), "lot-a",
                             gate=GateSettings(mode="local_first", min_plate_width_px=50))
    det = MotionDetector(SIZE, roi, MotionConfig())
    plates: list[str | None] = []

    def local_read(action: ReadLocal, pts: float) -> PlateRead:
        found = reader.read(np.ascontiguousarray(action.frame.image[roi_y:]))
        top = found[0] if found else None
        return PlateRead(
            camera_id=CAMERA.id, passage_id=action.passage_id, frame_seq=action.frame.seq,
            ok=bool(top and top.valid), plate=top.text if top and top.valid else None,
            confidence=top.confidence if top else 0, called=False, provider="local",
            rect=Rect(top.box[0], top.box[1] + roi_y, top.box[2], top.box[3])
            if top else None, box_found=bool(top and top.box_found),
            image_size=SIZE, chars=top.chars if top else ())

    def no_call(action: SendCandidate, pts: float) -> PlateRead:
        raise AssertionError(f"local_first needed no call (at {pts:.1f} s)")

    def apply(actions: list[Action], pts: float) -> None:
        settle(tracker, actions, pts, local=local_read, cloud=no_call,
               emitted=lambda passage, _pts: plates.append(passage.plate))

    scn = name if isinstance(name, str) else replace(name, size=None)
    _, _, frames, _ = load_make_clip().render(scn, SIZE)
    seq, pts, image = 0, 0.0, None
    for n, rendered in enumerate(frames):
        pts = n / 25
        dim = pts >= start_s and exposure != 1.0
        image = cv2.convertScaleAbs(rendered, alpha=exposure) if dim else rendered
        if pts < outage_s or pts >= start_s:
            frame = Frame(CAMERA.id, seq, pts, T0 + timedelta(seconds=pts), image)
            apply(tracker.on_frame(frame, det.update(frame.analysis_image, pts)), pts)
            seq += 1
    assert image is not None
    for k in range(1, round(tail_s * 25)):  # the empty lane a while longer
        frame = Frame(CAMERA.id, seq + k, pts + k / 25, T0, image)
        apply(tracker.on_frame(frame, det.update(frame.analysis_image, frame.pts)), frame.pts)
    apply(tracker.flush(pts + tail_s), pts + tail_s)
    return plates
