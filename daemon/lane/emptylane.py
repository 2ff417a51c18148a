"""Empty-lane model: is the lane occupied, judged against a picture of the empty lane?

Pure computation, no I/O; the clock is the frame's ``pts`` passed in. The motion detector
(``daemon/lane/motion.py``) feeds it the same blurred working picture it uses itself. Beside
the detector's running background, which absorbs a stopped car within seconds, this keeps
the picture of the *empty* lane, which follows the scene only while the lane is idle
(neither moving nor occupied). ``occupied`` says the lane differs from it (hysteresis
between ``start_fraction`` and ``stop_fraction``), so a car absorbed by the background
still holds its passage open until it leaves. After a re-learn (a global change) the
empty picture is unknown, then provisional (see ``PROVISIONAL_HOLD_S``) until the lane
was idle a while. A picture can also hold something that has since left (the first frame's,
taken while a car stood at the barrier; a car parked long enough to be learnt): where it
stood, the lane then differs from the picture though nothing is there. The motion history
tells that apart from a car that came and waits (see ``LEFT_BEHIND_SHARE``).
"""

from __future__ import annotations

import logging
from collections import deque
from functools import reduce

import cv2
import numpy as np
import numpy.typing as npt

from daemon.config.models import MotionConfig
from daemon.domain import Image
from daemon.lane.bounds import Bounds

log = logging.getLogger(__name__)

IDLE_LEARN_S = 1.0
"""The empty-lane picture follows the scene once the lane has been idle this long."""

OCCUPIED_MAX_S = 120.0
"""Occupied without motion this long: the empty-lane picture is taken as wrong and replaced
by the background (a car parked for good)."""

PROVISIONAL_HOLD_S = 3.0
"""After a re-learn the empty-lane picture is provisional (a car may have stood in it):
then occupancy without motion holds at most this long. A car waiting through an IR
switch may therefore get a second passage when it leaves (merged by the plate dedup);
its ghost never holds the lane for a minute."""

LEFT_BEHIND_SHARE = 0.5
"""Stillness after motion that began on an unoccupied lane, where at least this share of
the now occupied pixels lies inside the boxes the motion began in (``BEGIN_S``), and
``LEFT_BEHIND_MARGIN`` less of them in the box it ended in, is something that stood in the
empty-lane picture and left: held ``PROVISIONAL_HOLD_S``, then the picture is re-learnt. A
car that came and waits occupies where its motion ended; a car that creeps forward was
occupying the lane before it moved."""

LEFT_BEHIND_MARGIN = 0.25
"""How much more of the occupied pixels must lie where the motion began than where it
ended (a car that stops a few metres into a short lane is in both boxes)."""

BEGIN_S = 0.5
"""Where the motion began: the union of its boxes in its first half second; where it
ended: in its last. A plain car body barely changes frame to frame, its leading and
trailing edges do; the union covers where it stood (pulling away) or stops. Longer windows
overlap on a car that is gone in a second and a half (the scenario clips)."""

TRUST_AFTER_S = 20.0
"""A provisional empty-lane picture is trusted once the lane was idle this long."""


class EmptyLane:
    """The empty-lane picture of one camera's working view and the occupancy against it.

    ``margin`` is the per-pixel threshold (255 outside the ROI, see
    :class:`~daemon.lane.bounds.Bounds`), ``roi_pixels`` the ROI's area in working
    pixels. Buffers are allocated once and reused frame to frame.
    """

    def __init__(self, margin: Image, roi_pixels: int, cfg: MotionConfig) -> None:
        self._cfg = cfg
        self._roi_pixels = roi_pixels
        self._picture: npt.NDArray[np.float32] | None = None
        self.bounds = Bounds(margin)
        """Its picture's bounds (their margin follows the detector's fitted threshold)."""
        self._idle_since: float | None = None
        self._still_occupied_since: float | None = None
        self._provisional = False
        self._occupied = False
        self._gone = False  # the stillness is a hole: what stood in the picture left
        # The current (or last) motion: did it begin on an unoccupied lane, the boxes it
        # began with and its last boxes with their times (working pixels, x y w h).
        self._was_moving = False
        self._began_on_empty = False
        self._began_at = 0.0
        self._first_box: tuple[int, int, int, int] | None = None
        self._ended: deque[tuple[float, tuple[int, int, int, int]]] = deque()
        self._unchanged = np.empty(margin.shape, np.uint8)
        self._occ = np.empty(margin.shape, np.uint8)

    @property
    def occupied(self) -> bool:
        """The current occupancy (hysteresis) state."""
        return self._occupied

    @property
    def provisional(self) -> bool:
        """The empty picture was taken after a re-learn and is not trusted yet."""
        return self._provisional

    @property
    def known(self) -> bool:
        """An empty-lane picture exists (it is unknown right after a re-learn)."""
        return self._picture is not None

    def set_picture(self, picture: Image | npt.NDArray[np.float32] | None) -> None:
        """Take (a float copy of) ``picture`` as the empty lane; None: unknown."""
        self._picture = None if picture is None else picture.astype(np.float32)
        if self._picture is not None:
            self.bounds.update(self._picture)

    def forget(self) -> None:
        """A global change: the empty lane is unknown, and provisional once learnt again."""
        self.set_picture(None)
        self._provisional = True
        self._occupied = False
        self._idle_since = None

    def update(
        self,
        grey: Image,
        now: float,
        *,
        moving: bool,
        background: npt.NDArray[np.float32],
        frames: int,
        box: tuple[int, int, int, int] | None = None,
    ) -> Image | None:
        """Update ``occupied`` for ``grey`` at ``now``; the changed mask (255 where the lane
        differs from the empty picture), None while that picture is unknown.

        ``moving`` is the detector's motion state for this frame, ``background`` its
        running background (the empty picture when it must be re-learnt), ``frames`` the
        number of frames it has seen (the empty picture's bounds follow every other one),
        ``box`` the moving vehicle's box in working pixels (x, y, w, h) while ``moving``.
        """
        was_occupied = self._occupied
        occ: Image | None = None
        if self._picture is not None:
            occ = self.bounds.changed(grey, self._unchanged, self._occ)
            share = cv2.countNonZero(occ) / self._roi_pixels
            limit = self._cfg.stop_fraction if self._occupied else self._cfg.start_fraction
            self._occupied = share >= limit
        else:
            self._occupied = False
        if moving:
            self._still_occupied_since = None
            self._follow_motion(box, was_occupied, now)
        elif self._occupied:
            if self._still_occupied_since is None:  # motion just stopped (or never came)
                self._still_occupied_since = now
                self._gone = occ is not None and self._left_behind(occ)
            since = self._still_occupied_since
            brief = self._provisional or self._gone
            if now - since >= (PROVISIONAL_HOLD_S if brief else OCCUPIED_MAX_S):
                log.info(
                    "lane occupied without motion for %.0f s: empty picture re-learnt", now - since
                )
                self.set_picture(background)
                self._still_occupied_since = None
        self._was_moving = moving
        idle = not moving and not self._occupied
        if not idle:
            self._idle_since = None
            return occ
        self._first_box = None  # occupancy that comes without motion is judged on no history
        self._learn(grey, now, background, frames)
        return occ

    def _follow_motion(
        self, box: tuple[int, int, int, int] | None, was_occupied: bool, now: float
    ) -> None:
        """Note where the motion begins (and whether the lane was occupied then: a car
        creeping forward, or one that came while a hole held the lane, was) and where it
        has been in its last ``BEGIN_S``."""
        if not self._was_moving:
            self._began_on_empty = not was_occupied
            self._began_at = now
            self._first_box = box
            self._ended.clear()
        elif box is not None and now - self._began_at <= BEGIN_S:
            self._first_box = box if self._first_box is None else _union(self._first_box, box)
        if box is not None:
            ended = self._ended
            ended.append((now, box))
            while now - ended[0][0] > BEGIN_S:
                ended.popleft()

    def _left_behind(self, occ: Image) -> bool:
        """The occupied pixels lie where the motion began, not where it ended (see
        ``LEFT_BEHIND_SHARE``)."""
        first = self._first_box  # set with a box, which _ended then holds too
        total = cv2.countNonZero(occ)
        if not (self._began_on_empty and first is not None and total):
            return False

        def share(box: tuple[int, int, int, int]) -> float:
            x, y, w, h = box
            return cv2.countNonZero(occ[y : y + h, x : x + w]) / total

        began = share(first)
        last = share(reduce(_union, (box for _, box in self._ended)))
        gone = began >= LEFT_BEHIND_SHARE and last <= began - LEFT_BEHIND_MARGIN
        if gone:
            log.info("lane occupied where the motion began: what stood in the empty-lane "
                     "picture has left (re-learnt in %.0f s)", PROVISIONAL_HOLD_S)
        return gone

    def _learn(
        self, grey: Image, now: float, background: npt.NDArray[np.float32], frames: int
    ) -> None:
        """The lane is idle: the empty-lane picture follows the scene once it was a while."""
        if self._idle_since is None:
            self._idle_since = now
        if self._provisional and now - self._idle_since >= TRUST_AFTER_S:
            self._provisional = False
        if now - self._idle_since < IDLE_LEARN_S:
            return
        if self._picture is None:
            self.set_picture(background)
            return
        cv2.accumulateWeighted(grey, self._picture, self._cfg.background_alpha)
        if frames % 2:  # the idle scene drifts slowly: bounds every other frame
            self.bounds.update(self._picture)


def _union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The box around two boxes (x, y, w, h)."""
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    return x0, y0, max(a[0] + a[2], b[0] + b[2]) - x0, max(a[1] + a[3], b[1] + b[3]) - y0
