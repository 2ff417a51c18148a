"""Two streams of one camera: what to decode of the main stream, and one clock for both.

Pure logic, no I/O (a lock is all :class:`Timeline` holds). With a ``detect_url`` the lane
watches the camera's low-resolution substream and the main stream is read only for plates
(``daemon/capture/dual.py`` runs the threads):

- :class:`ReadGate` sees every main-stream packet. It keeps the packets since the last key
  frame, compressed (a bounded list), and feeds the decoder nothing while the lane is
  empty. When the lane turns busy it rewinds: the decoder is flushed and decodes the kept
  packets from that key frame up to the packet in hand, then every packet while the lane
  stays busy. When the lane turns idle (or capture is late) decoding stops.
- :class:`ArrivalClock` puts a stream's own timestamps on the monotonic clock: a frame of
  stream time ``t`` is at ``t + base``, ``base`` the smallest ``arrival - t`` seen (the
  stream's fixed delay; jitter only ever adds to it). Both streams are mapped so, and the
  main frame handed to the reader is the one nearest in that time to the chosen detect
  frame. The two streams' PTS are not compared directly: an IP camera numbers each RTSP
  stream from its own random origin. What remains is the difference in the two streams'
  fixed delays (encoder and network: a few ms for two streams of one camera on one link).
- :class:`Timeline` gives the lane one ``seq``/``pts`` timeline whichever stream feeds it:
  when the source changes (the detect stream failed and the main stream took over, or the
  reverse), the new one continues after the last frame by the time that passed.
- :func:`roi_problem`: the ROI's fractions apply to both pictures as they are (a substream
  is the whole picture scaled, anamorphic ones too: 704x576 of a 16:9 camera maps as well
  as 640x360), so an aspect ratio that differs is no error in itself. The ROI cannot be
  mapped when the lane's box on the detect stream is under ``MIN_LANE_PX`` (too few pixels
  for the motion detector): then the detect stream is not used.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from daemon.capture.idle import Step

MIN_LANE_PX = (32, 16)
"""The lane's bounding box on the detect stream must be at least this wide and high (px)."""

RESET_GAP_S = 1.0
"""A jump in stream time larger than this (a reopened stream) restarts an ArrivalClock."""


class ReadGate:
    """Main-stream packets while a detect stream watches the lane (see the module doc).

    ``max_packets`` bounds the packets kept since a key frame: beyond it (a GOP longer than
    the bound) the keep is dropped and a wake-up waits for the next key frame.
    """

    def __init__(self, max_packets: int) -> None:
        self.max_packets = max(1, max_packets)
        self.decoding = False
        """True while the decoder gets every packet (the lane is busy)."""
        self.wakes = 0
        self.overflows = 0
        self._kept: list[Any] = []  # starts with a key frame when not empty

    @property
    def kept(self) -> int:
        """Packets kept since the last key frame."""
        return len(self._kept)

    def restart(self) -> None:
        """A new stream (reconnect): nothing kept is valid, decoding starts over."""
        self._kept, self.decoding = [], False

    def step(self, packet: Any, key: bool, busy: bool, late: bool = False) -> Step:
        """What to decode for ``packet``; ``busy``: the lane needs frames; ``late``: capture
        is behind real time (decoding stops until it caught up)."""
        if key:
            self._kept = [packet]
        elif self._kept:
            self._kept.append(packet)
            if len(self._kept) > self.max_packets:
                self._kept = []
                self.overflows += 1
        want = busy and not late
        if not want:
            self.decoding = False
            return Step([], skip_nonkey=False)
        if self.decoding:
            return Step([packet], skip_nonkey=False)
        if not self._kept:  # nothing to start from: wait for a key frame
            return Step([], skip_nonkey=False)
        self.decoding = True
        self.wakes += 1
        return Step(list(self._kept), skip_nonkey=False, rewind=True)


class ArrivalClock:
    """Stream time to monotonic time, by the stream's smallest arrival delay (module doc)."""

    def __init__(self) -> None:
        self.base: float | None = None
        self._last: float | None = None

    def note(self, t: float, now: float) -> None:
        """A packet (or a promptly decoded frame) of stream time ``t`` arrived at ``now``."""
        if self._last is not None and abs(t - self._last) > RESET_GAP_S:
            self.base = None  # a new stream: its delay is measured afresh
        self._last = t
        if self.base is None or now - t < self.base:
            self.base = now - t

    def at(self, t: float) -> float | None:
        """Monotonic time of stream time ``t``; None before anything arrived."""
        return None if self.base is None else t + self.base


class Timeline:
    """One ``seq``/``pts`` timeline for the lane whichever stream feeds it (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source: object | None = None
        self._pts_offset = 0.0
        self._seq_offset = 0
        self._last_pts = -1.0
        self._last_seq = -1
        self._last_now: float | None = None

    def stamp(self, source: object, seq: int, pts: float, now: float) -> tuple[int, float]:
        """``seq`` and ``pts`` on the lane's timeline for a frame of ``source`` (its own
        ``seq`` and ``pts``) delivered at monotonic ``now``. Both keep increasing."""
        with self._lock:
            if source is not self._source:
                if self._last_now is None:
                    start = pts
                else:
                    start = self._last_pts + max(1e-3, now - self._last_now)
                self._pts_offset = start - pts
                self._seq_offset = self._last_seq + 1 - seq
                self._source = source
            out_pts = max(pts + self._pts_offset, self._last_pts + 1e-6)
            out_seq = max(seq + self._seq_offset, self._last_seq + 1)
            self._last_pts, self._last_seq, self._last_now = out_pts, out_seq, now
            return out_seq, out_pts


def roi_problem(
    roi: Sequence[tuple[float, float]], size: tuple[int, int]
) -> str | None:
    """Why the ROI cannot be mapped onto a detect stream of ``size`` (w, h); None if it can."""
    xs, ys = [p[0] for p in roi], [p[1] for p in roi]
    w = (max(xs) - min(xs)) * size[0]
    h = (max(ys) - min(ys)) * size[1]
    if w < MIN_LANE_PX[0] or h < MIN_LANE_PX[1]:
        return (f"the lane covers {w:.0f}x{h:.0f} px of the {size[0]}x{size[1]} detect stream, "
                f"under {MIN_LANE_PX[0]}x{MIN_LANE_PX[1]}: motion runs on the main stream")
    return None
