"""Serve an H.264 MP4 clip over RTSP like an IP camera (a test rig; GStreamer RTSP server).

Runs under the system Python (``/usr/bin/python3`` with python3-gi), not the venv:

    /usr/bin/python3 scripts/rtsp_camera.py --clip X.mp4 --port N [--mount /cam] [--loop]

The clip is demuxed once (qtdemux ! h264parse, no decoding, no re-encode) and its
pictures are fed through ``appsrc ! h264parse ! rtph264pay`` (pt 96, SPS/PPS before
every IDR) at real-time pace, bound to 127.0.0.1 only. ``--port 0`` picks a free port.
Once listening it prints ``READY rtsp://127.0.0.1:N/cam`` on stdout. SIGTERM or SIGINT
stops it cleanly (exit status 0), dropping any connected client.

The media is shared, like a real camera: a client joining later sees the same live
stream from the next keyframe. With ``--loop`` the clip repeats with timestamps that
keep increasing; without it the stream ends after one pass. When the last client
leaves, the next one starts the clip from the beginning; with ``--epoch T`` it starts
where a loop begun at Unix time T would be (``--loop`` implied), so two servers of the same
clip at two sizes act as an IP camera's main and detect streams, also across a restart.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gi  # type: ignore[import-not-found, unused-ignore]  # system python3-gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import (  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
    GLib,
    Gst,
    GstRtspServer,
)

log = logging.getLogger(__name__)

_NS = Gst.SECOND


@dataclass(frozen=True)
class AccessUnit:
    """One H.264 picture in Annex-B byte-stream form with its clip timestamps (ns)."""

    data: bytes
    pts: int
    dts: int
    key: bool


def load_clip(clip: Path) -> tuple[Gst.Caps, list[AccessUnit], int]:
    """Demux the clip once (no decoding): caps, access units, and the loop period in ns."""
    pipeline = Gst.parse_launch(
        "filesrc name=src ! qtdemux ! h264parse config-interval=-1 "
        "! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
    )
    pipeline.get_by_name("src").set_property("location", str(clip))
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    units: list[AccessUnit] = []
    caps = None
    try:
        while (sample := sink.emit("try-pull-sample", 10 * _NS)) is not None:
            buf = sample.get_buffer()
            caps = caps or sample.get_caps()
            dts = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else buf.pts
            key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
            units.append(AccessUnit(buf.extract_dup(0, buf.get_size()), buf.pts, dts, key))
    finally:
        pipeline.set_state(Gst.State.NULL)
    if not units or caps is None:
        raise RuntimeError(f"{clip}: no H.264 video found")
    step = units[1].pts - units[0].pts if len(units) > 1 else _NS // 25
    period = max(u.pts for u in units) - units[0].pts + step
    return caps, units, period


class ClipFactory(GstRtspServer.RTSPMediaFactory):  # type: ignore[misc]
    """Feeds the clip's pictures through appsrc, shared between clients like a live camera.

    appsrc rather than filesrc: the stream is not seekable, so a client's ``Range``
    cannot rewind what other clients watch, and looping only offsets timestamps, which
    therefore keep increasing across loops. The sinks' clock sync paces it to real time.
    """

    def __init__(self, clip: Path, loop: bool, epoch: float | None = None) -> None:
        super().__init__()
        self.caps, self.units, self.period = load_clip(clip)
        self.loop = loop
        self.epoch = epoch
        self.set_shared(True)
        self.set_launch(
            "( appsrc name=src format=time ! h264parse "
            "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        self.connect("media-configure", self._configure)

    def _configure(self, _factory: ClipFactory, media: GstRtspServer.RTSPMedia) -> None:
        src = media.get_element().get_by_name_recurse_up("src")
        src.set_property("caps", self.caps)
        state = {"i": 0, "base": -self.units[0].pts}
        if self.epoch is not None:
            state = self._anchored()
        src.connect("need-data", self._need_data, state)

    def _anchored(self) -> dict[str, int]:
        """Where a stream anchored to ``epoch`` starts: the clip plays as if started at the
        epoch and looped since, so two servers of one clip (a camera's main and detect
        streams) show the same picture at the same time, whenever a client joins. The
        first picture is the next key frame, held back until its time comes."""
        first = self.units[0].pts
        position = round((time.time() - (self.epoch or 0.0)) * _NS) % self.period
        for i, unit in enumerate(self.units):
            if unit.key and unit.pts - first >= position:
                return {"i": i, "base": -first - position}
        return {"i": 0, "base": -first - position + self.period}

    def _need_data(self, src: Gst.Element, _length: int, state: dict[str, int]) -> None:
        """Push the next picture; wrap around (or end the stream) at the end of the clip."""
        if state["i"] >= len(self.units):
            if not self.loop:
                src.emit("end-of-stream")
                return
            state["i"] = 0
            state["base"] += self.period
            log.debug("looping the clip")
        unit = self.units[state["i"]]
        state["i"] += 1
        buf = Gst.Buffer.new_wrapped(unit.data)
        buf.pts = unit.pts + state["base"]
        buf.dts = unit.dts + state["base"]
        if not unit.key:
            buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
        src.emit("push-buffer", buf)


def serve(clip: Path, port: int, mount: str, loop: bool, epoch: float | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; return the exit status."""
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.get_mount_points().add_factory(mount, ClipFactory(clip, loop, epoch))
    main_loop = GLib.MainLoop()
    source_id = server.attach(None)
    if source_id == 0:
        print(f"cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    bound = server.get_bound_port()

    def stop(*_args: object) -> bool:
        log.info("stopping")
        server.client_filter(lambda _srv, _client: GstRtspServer.RTSPFilterResult.REMOVE)
        main_loop.quit()
        return False  # GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, stop)
    print(f"READY rtsp://127.0.0.1:{bound}{mount}", flush=True)
    main_loop.run()
    GLib.source_remove(source_id)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", required=True, type=Path, help="H.264 MP4 to serve")
    ap.add_argument("--port", type=int, default=8554, help="TCP port on 127.0.0.1; 0 picks one")
    ap.add_argument("--mount", default="/cam", help="path of the stream, e.g. /cam")
    ap.add_argument("--loop", action="store_true", help="repeat the clip forever")
    ap.add_argument("--epoch", type=float, default=None,
                    help="play as if the (looped) clip started at this Unix time: servers "
                         "of one clip at two sizes then act as one camera's two streams")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="rtsp_camera %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if not args.clip.is_file():
        print(f"no such clip: {args.clip}", file=sys.stderr)
        return 2
    mount = args.mount if args.mount.startswith("/") else "/" + args.mount
    return serve(args.clip.resolve(), args.port, mount, args.loop, args.epoch)


if __name__ == "__main__":
    raise SystemExit(main())
