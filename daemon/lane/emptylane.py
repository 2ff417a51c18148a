"""Empty-lane model: is the lane occupied, judged against a picture of the empty lane?

Pure computation, no I/O; the clock is the frame's ``pts`` passed in. The motion detector
(``daemon/motion.py``) feeds it the same blurred working picture it uses itself. Beside
the detector's running background, which absorbs a stopped car within seconds, this keeps
the picture of the *empty* lane, which follows the scene only while the lane is idle
(neither moving nor occupied). ``occupied`` says the lane differs from it (hysteresis
between ``start_fraction`` and ``stop_fraction``), so a car absorbed by the background
still holds its passage open until it leaves. After a re-learn (a global change) the
empty picture is unknown, then provisional (see ``PROVISIONAL_HOLD_S``) until the lane
was idle a while.
"""

from __future__ import annotations

import logging

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
        self._bounds = Bounds(margin)
        self._idle_since: float | None = None
        self._still_occupied_since: float | None = None
        self._provisional = False
        self._occupied = False
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
            self._bounds.update(self._picture)

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
    ) -> Image | None:
        """Update ``occupied`` for ``grey`` at ``now``; the changed mask (255 where the lane
        differs from the empty picture), None while that picture is unknown.

        ``moving`` is the detector's motion state for this frame, ``background`` its
        running background (the empty picture when it must be re-learnt), ``frames`` the
        number of frames it has seen (the empty picture's bounds follow every other one).
        """
        occ: Image | None = None
        if self._picture is not None:
            occ = self._bounds.changed(grey, self._unchanged, self._occ)
            share = cv2.countNonZero(occ) / self._roi_pixels
            limit = self._cfg.stop_fraction if self._occupied else self._cfg.start_fraction
            self._occupied = share >= limit
        else:
            self._occupied = False
        if moving:
            self._still_occupied_since = None
        elif self._occupied:
            if self._still_occupied_since is None:
                self._still_occupied_since = now
            since = self._still_occupied_since
            if now - since >= (PROVISIONAL_HOLD_S if self._provisional else OCCUPIED_MAX_S):
                log.info(
                    "lane occupied without motion for %.0f s: empty picture re-learnt", now - since
                )
                self.set_picture(background)
                self._still_occupied_since = None
        idle = not moving and not self._occupied
        if not idle:
            self._idle_since = None
            return occ
        self._learn(grey, now, background, frames)
        return occ

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
            self._bounds.update(self._picture)
