"""Idle decoding: while its lane is empty, a capture thread decodes key frames only.

Pure logic, no I/O and no clock: stream time is the packets' own timestamps (seconds).
:class:`IdleGate` sees every packet of a stream before the decoder does and says what to
feed the decoder (:class:`Step`): the packet with ``skip_nonkey`` on or off (PyAV's
``codec_context.skip_frame = "NONKEY"``), or, when the lane wakes up, a rewind: the
packets kept since the last key frame, decoded again in full after a decoder flush. A
P-frame cannot be decoded without the frames before it, so the gate always keeps the
packets since the last key frame (compressed: a 2 s 1080p GOP is about 1 MB); the
rewind makes every frame after the key frame that showed the vehicle a decoded frame,
none is lost, and full-rate decoding starts with the packet in hand.

Rules:
- Sleep (key frames only) once the lane has been quiet for ``idle_after_s`` of stream
  time, and only if the last measured GOP (key frame to key frame) is at most
  ``max_gop_s``: a camera with a long or unknown GOP is decoded in full.
- Wake (rewind, full decode) as soon as the lane is busy, when the packets kept would
  exceed ``max_packets`` (memory bound) or when no key frame came for
  ``1.5 * max_gop_s`` (the camera lengthened its GOP). The gate sleeps only while it
  keeps the packets since a key frame (after an overflow: from the next key frame on).
- Late (a live stream behind real time: the CPU cannot keep up): key frames only, lane
  busy or not, until caught up; then the rules above (a busy lane wakes with a rewind).
  So a camera's backlog is bounded in time, and it does not take the CPU of the others.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from daemon.capture.watch import Thumb, Thumbnailer, box_of, cells_changed

GOP_STRETCH = 1.5
"""While asleep, no key frame for this many ``max_gop_s`` wakes the gate."""


@dataclass(frozen=True, slots=True)
class Step:
    """What to feed the decoder for one packet."""

    packets: list[Any]
    """Packets to decode now, in order (the packet in hand last)."""
    skip_nonkey: bool
    """Decode key frames only (``skip_frame = "NONKEY"``)."""
    rewind: bool = False
    """Flush the decoder first: ``packets`` start at the last key frame (waking up)."""


WakeReason = Literal["change", "lane", "overflow", "gop", "caught_up"]


@dataclass(frozen=True, slots=True)
class Wake:
    """One wake-up: stream times (s) of the key frame rewound to and the packet in hand."""

    key_t: float | None
    at_t: float | None
    reason: WakeReason


class IdleGate:
    """Per-packet decision between full decoding and key frames only (see the module doc).

    ``enabled`` False: always full. ``max_packets`` bounds the packets kept since the last
    key frame.
    """

    def __init__(
        self, *, enabled: bool, idle_after_s: float, max_gop_s: float, max_packets: int
    ) -> None:
        self.enabled = enabled
        self.idle_after_s = idle_after_s
        self.max_gop_s = max_gop_s
        self.max_packets = max(1, max_packets)
        self.asleep = False
        """True while decoding key frames only."""
        self.gop_s: float | None = None
        """The last key-frame-to-key-frame interval seen (s)."""
        self.sleeps = 0
        self.catchups = 0
        """Times capture fell behind real time and skipped non-key frames to catch up."""
        self.wakes: deque[Wake] = deque(maxlen=64)
        """The latest wake-ups, oldest first."""
        self.wake_count = 0
        self._kept: list[Any] = []
        self._kept_ok = False  # _kept starts with a key frame
        self._last_key_at = 0  # index in _kept of the last key frame
        self._first_key_t: float | None = None  # time of the key frame _kept starts with
        self._last_key_t: float | None = None
        self._quiet_since: float | None = None
        self._change_seen = False

    def restart(self) -> None:
        """A new stream (reconnect, file loop): its times start afresh and nothing kept is
        valid; the GOP measured and asleep or not carry over (the camera is the same)."""
        self._drop_kept()
        self._last_key_t = None
        self._quiet_since = None
        self._change_seen = False

    def scene_changed(self) -> None:
        """Capture saw the picture change on a key frame it has not delivered: wake with the
        next packet and rewind to the key frame before it (see :class:`SceneChange`)."""
        if self.asleep:
            self._change_seen = True

    def _drop_kept(self) -> None:
        self._kept, self._kept_ok, self._last_key_at = [], False, 0

    @property
    def kept(self) -> int:
        """Packets kept since the last key frame."""
        return len(self._kept)

    def step(
        self, packet: Any, key: bool, t: float | None, busy: bool, late: bool = False
    ) -> Step:
        """Decide for ``packet`` (``key``: a key frame, ``t``: its time in s or None),
        given whether the lane said it is ``busy`` and whether capture is ``late`` (behind
        real time: key frames only until it caught up, busy lane or not)."""
        overflow = self._keep(packet, key, t)
        if busy or t is None:
            self._quiet_since = None
        elif self._quiet_since is None:
            self._quiet_since = t
        if late:
            self._change_seen = False
            if overflow:  # no rewind will come from this far back
                self._drop_kept()
            if not self.asleep:
                self.asleep = True
                self.catchups += 1
            return Step([packet], skip_nonkey=True)
        if self.asleep:
            reason = self._wake_reason(busy, overflow, t)
            if reason is None or not self._kept_ok:
                return Step([packet], skip_nonkey=True)
            return self._wake(reason, t, overflow)
        if self._may_sleep(t):
            self.asleep = True
            self.sleeps += 1
            return Step([packet], skip_nonkey=True)
        return Step([packet], skip_nonkey=False)

    def _wake(self, reason: WakeReason, t: float | None, overflow: bool) -> Step:
        """Full decoding again: rewind to the last key frame, or after a scene change to the
        one before (the lane has not seen the frames since, nor the changed key frame)."""
        self.asleep = False
        self._quiet_since = t  # awake idle_after_s at least: the lane must see the frames first
        start = 0 if reason == "change" else self._last_key_at
        key_t = self._first_key_t if reason == "change" else self._last_key_t
        self._change_seen = False
        self.wakes.append(Wake(key_t, t, reason))
        self.wake_count += 1
        packets = self._kept[start:]
        if overflow:  # the keep is full: decode it, then keep nothing until a key frame
            self._drop_kept()
        return Step(packets, skip_nonkey=False, rewind=True)

    def _keep(self, packet: Any, key: bool, t: float | None) -> bool:
        """Keep the packet; True if the keep overflowed (it is then full, not emptied).

        Asleep, the packets since the key frame before the last are kept (two GOPs)."""
        if key:
            if self._last_key_t is not None and t is not None and t > self._last_key_t:
                self.gop_s = t - self._last_key_t
            if self.asleep and self._kept_ok:
                self._kept = [*self._kept[self._last_key_at:], packet]
                self._first_key_t = self._last_key_t
            else:
                self._kept, self._kept_ok, self._first_key_t = [packet], True, t
            self._last_key_at = len(self._kept) - 1
            self._last_key_t = t
            return False
        if not self._kept_ok:
            return False
        if len(self._kept) >= self.max_packets:
            if not self.asleep:  # awake the keep is not needed: drop it until a key frame
                self._drop_kept()
                return False
            self._kept.append(packet)
            return True
        self._kept.append(packet)
        return False

    def _wake_reason(
        self, busy: bool, overflow: bool, t: float | None
    ) -> WakeReason | None:
        if self._change_seen:
            return "change"
        if busy:
            return "lane"
        if not self.enabled:
            return "caught_up"  # asleep only to catch up with real time
        if overflow:
            return "overflow"
        if t is None or (
            self._last_key_t is not None and t - self._last_key_t > GOP_STRETCH * self.max_gop_s
        ):
            return "gop"
        return None

    def _may_sleep(self, t: float | None) -> bool:
        return (
            self.enabled
            and self._kept_ok  # a wake-up must be able to rewind
            and t is not None
            and self._quiet_since is not None
            and t - self._quiet_since >= self.idle_after_s
            and self.gop_s is not None
            and self.gop_s <= self.max_gop_s + 1e-6
        )


WHOLE_FRAME = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


class SceneChange:
    """Capture's own cheap look at the key frames it decodes while asleep: did the lane change?

    A vehicle fast enough to cross its legible zone between two key frames would be seen by
    the lane at the second key frame at best, too late: so capture compares each key frame
    with the one before, before delivering it. A change wakes the gate with a rewind to the
    key frame before (:meth:`IdleGate.scene_changed`), and the lane gets every frame since it
    last saw the lane empty, in order. The comparison: the ``roi`` box (capture watches the
    whole picture: a vehicle approaches before it enters the lane), area-averaged
    to a ``width``-cell-wide thumbnail (sensor and coding noise average out), changed where
    ``min_cells`` cells differ by more than ``threshold`` grey levels. A false alarm (light,
    rain, a walker) costs one GOP or two of full decoding; the lane decides what moved.
    On the scenario clips (1280x720, 1 s GOP) an empty lane differs by at most 2 grey
    levels between key frames, camera shake by 29 in a few cells, a vehicle entering by
    over 120 in 50-700 cells.
    """

    def __init__(
        self, roi: Sequence[tuple[float, float]], *, threshold: float = 25.0,
        min_cells: int = 4, width: int = 48,
    ) -> None:
        self._thumb = Thumbnailer(box_of(roi), width, sample=False)
        self.threshold = threshold
        self.min_cells = min_cells
        self._ref: Thumb | None = None

    def reset(self) -> None:
        """Forget the reference (awake: the next key frame asleep starts a new comparison)."""
        self._ref = None

    def changed(self, grey: npt.NDArray[np.uint8]) -> bool:
        """Compare this key frame's luma with the previous one's; it becomes the reference."""
        thumb = self._thumb(grey)
        ref, self._ref = self._ref, thumb
        if ref is None or ref.shape != thumb.shape:
            return False
        return cells_changed(thumb, ref, self.threshold) >= self.min_cells
