"""Packet feed: one opened stream's packets into its decoder, as the idle gate decides.

No thread of its own: the capture thread iterates :func:`decoded_frames`. Per packet: a
paced file waits for the packet's time (as a live camera's packets arrive), a live
stream's lag behind real time is measured (``clock.LagMeter``), the
:class:`~daemon.capture.idle.IdleGate` says key frames only or all, and on a wake-up the
decoder is flushed and the packets kept since the last key frame go in again. ``demux``
ends with flush packets that drain the decoder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from daemon.capture.clock import LagMeter, Pacer
from daemon.capture.idle import IdleGate, Step

LATE_S = 3.0
"""A live stream read this far behind real time decodes key frames only until it caught up
(to CAUGHT_UP_S): its backlog stays bounded and it cannot take the other cameras' CPU.
Above the burst of a wake-up, which decodes up to two GOPs (2 x 2 s at most) at once."""
CAUGHT_UP_S = 0.2


@dataclass(frozen=True)
class FeedHooks:
    """What the feed needs of its capture thread."""

    stop: threading.Event
    busy: Callable[[], bool]
    """The lane's last word (``LatestFrameSlot.lane_busy``)."""
    check_alive: Callable[[], None] | None
    """Live streams: raises when packets come but no frame was decoded for too long."""
    wait_until: Callable[[float], None]
    """Sleep until a monotonic time (``stop`` aware)."""
    on_lag: Callable[[float], None]
    """Each packet's delay behind real time (s)."""
    on_decoding: Callable[[], None]
    """Key frames only was switched on or off."""
    on_rewind: Callable[[], None]
    """A wake-up: the decoder was flushed and the kept packets go in again."""


def decoded_frames(
    container: Any, stream: Any, gate: IdleGate, hooks: FeedHooks, *,
    pacer: Pacer | None, meter: LagMeter | None,
) -> Iterator[Any]:
    """Decoded frames of ``stream`` until the demuxer ends or ``stop`` is set."""
    ctx = stream.codec_context
    time_base = float(stream.time_base) if stream.time_base else None
    skipping = late = False
    for packet in container.demux(stream):
        if hooks.stop.is_set():
            return
        if hooks.check_alive is not None:
            hooks.check_alive()
        ticks = packet.dts if packet.dts is not None else packet.pts
        t = ticks * time_base if ticks is not None and time_base else None
        if packet.size == 0:  # the flush packet: drain the decoder
            step = Step([packet], skip_nonkey=skipping)
        else:
            if pacer is not None and t is not None:
                target = time.monotonic() + pacer.delay(t, time.monotonic())
                hooks.on_lag(max(0.0, pacer.lag_s))
                hooks.wait_until(target)
            if meter is not None and t is not None:
                lag = meter.lag(t, time.monotonic())
                hooks.on_lag(lag)
                late = lag > (CAUGHT_UP_S if late else LATE_S)
            step = gate.step(packet, packet.is_keyframe, t, hooks.busy(), late)
        if step.rewind:
            ctx.flush_buffers()
            hooks.on_rewind()
        if step.skip_nonkey != skipping:
            skipping = step.skip_nonkey
            ctx.skip_frame = "NONKEY" if skipping else "DEFAULT"
            hooks.on_decoding()
        for pk in step.packets:
            frames = pk.decode()
            while frames:  # hand over one by one; the list must not keep a frame alive
                yield frames.pop(0)
