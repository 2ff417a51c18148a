"""Capture source: how a camera's URL is handed to PyAV and how its password is kept out of text.

No threads and no I/O of its own: the FFmpeg options for a camera (transport, socket
timeouts, low buffering), the per-read timeout, the target given to ``av.open`` (a
``file://`` URL becomes its path) and :class:`Scrubber`, which redacts the URL's password
from error text before it reaches a log or a status. The capture thread
(``daemon/capture.py``) opens and reads with these.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import av

from daemon.config.models import CameraConfig
from daemon.config.secrets import url_password


def _ffmpeg_major() -> int:
    return int(av.library_versions.get("libavformat", (0,))[0])


def io_timeout_s(camera: CameraConfig) -> float:
    """The timeout given to FFmpeg for one blocking read: half of ``read_timeout_s``.

    Measured against a GStreamer RTSP server that froze: when FFmpeg's read times out,
    the RTP depacketiser first hands back the partial frame it held, and only the next
    read fails, so a dead stream is noticed after two timeouts, not one.
    """
    return camera.read_timeout_s / 2


def open_options(camera: CameraConfig) -> dict[str, str]:
    """FFmpeg options for opening ``camera.url``: transport, socket timeouts, low buffering."""
    if camera.is_file:
        return {}
    read_us = str(int(io_timeout_s(camera) * 1_000_000))
    if camera.url.lower().startswith(("rtsp://", "rtsps://")):
        # FFmpeg >= 5 (libavformat 59) renamed the RTSP socket timeout from
        # ``stimeout`` to ``timeout`` (microseconds); older ``timeout`` meant listen.
        timeout_key = "timeout" if _ffmpeg_major() >= 59 else "stimeout"
        return {
            "rtsp_transport": camera.rtsp_transport,
            timeout_key: read_us,
            "fflags": "nobuffer",
            "max_delay": "500000",
        }
    return {"rw_timeout": read_us, "fflags": "nobuffer", "max_delay": "500000"}


def set_decoder_threads(stream: Any, camera: CameraConfig) -> None:
    """Frame threads as the camera asks (``decode_threads``, 1 by default; 0: FFmpeg's choice,
    one per core plus one). Each holds its own reference pictures and adds a frame of latency."""
    stream.codec_context.thread_type = "AUTO"
    stream.codec_context.thread_count = camera.decode_threads


def open_target(camera: CameraConfig) -> str:
    """What ``av.open`` is given for ``camera.url``: the path of a ``file://`` URL, else
    the URL itself."""
    url = camera.url
    if url.startswith("file://"):
        url = unquote(urlsplit(url).path)
    return url


class Scrubber:
    """Removes a URL's password (plain and percent-encoded) from error text.

    ``url`` is replaced whole by ``safe_url``; the password alone, as written and
    percent-decoded, by ``***``.
    """

    def __init__(self, url: str, safe_url: str) -> None:
        self._pairs: list[tuple[str, str]] = [(url, safe_url)] if url != safe_url else []
        password = url_password(url)  # the last "@" ends it: '@', '/', spaces included
        if password:
            for secret in {password, unquote(password)}:
                self._pairs.append((secret, "***"))

    def __call__(self, text: str) -> str:
        for secret, repl in self._pairs:
            text = text.replace(secret, repl)
        return text
