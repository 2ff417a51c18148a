"""Tests for daemon.capture.source: FFmpeg options, the av.open target, password scrubbing."""

from __future__ import annotations

import pytest

from daemon.capture.source import (
    Scrubber,
    io_timeout_s,
    open_options,
    open_target,
    set_decoder_threads,
)
from daemon.config.models import CameraConfig


def test_open_options_for_rtsp() -> None:
    cam = CameraConfig(id="c", url="rtsp://u:p@127.0.0.1:554/x", read_timeout_s=2.5)
    opts = open_options(cam)
    assert opts["rtsp_transport"] == "tcp"
    # half the read timeout per blocking read: a frozen RTSP stream costs two of them
    assert io_timeout_s(cam) == 1.25
    assert opts.get("timeout", opts.get("stimeout")) == "1250000"
    assert opts["fflags"] == "nobuffer"
    assert open_options(CameraConfig(id="f", url="/tmp/x.mp4")) == {}


def test_open_options_for_other_network_urls_use_rw_timeout() -> None:
    cam = CameraConfig(id="h", url="http://127.0.0.1:8080/stream.ts", read_timeout_s=4.0)
    assert open_options(cam) == {
        "rw_timeout": "2000000", "fflags": "nobuffer", "max_delay": "500000",
    }


def test_open_target_turns_file_urls_into_paths() -> None:
    assert open_target(CameraConfig(id="f", url="file:///tmp/my%20clip.mp4")) == "/tmp/my clip.mp4"
    assert open_target(CameraConfig(id="p", url="/tmp/x.mp4")) == "/tmp/x.mp4"
    rtsp = "rtsp://u:p@127.0.0.1:554/x"
    assert open_target(CameraConfig(id="r", url=rtsp)) == rtsp


def test_scrubber_removes_the_password_plain_and_percent_encoded() -> None:
    url = "rtsp://admin:p%40ss@10.0.0.5:554/live"
    scrub = Scrubber(url, "rtsp://admin:***@10.0.0.5:554/live")
    assert scrub(f"cannot open {url}") == "cannot open rtsp://admin:***@10.0.0.5:554/live"
    assert scrub("auth failed for p@ss and p%40ss") == "auth failed for *** and ***"


def test_scrubber_without_password_changes_nothing() -> None:
    scrub = Scrubber("rtsp://10.0.0.5/live", "rtsp://10.0.0.5/live")
    assert scrub("error at rtsp://10.0.0.5/live") == "error at rtsp://10.0.0.5/live"


@pytest.mark.parametrize("password", ["p@ss/w rd", "my pass", "a/b"])
def test_scrubber_removes_passwords_with_at_slash_and_spaces(password: str) -> None:
    url = f"rtsp://admin:{password}@10.0.0.5:554/live"
    scrub = Scrubber(url, "rtsp://admin:***@10.0.0.5:554/live")
    assert scrub(f"open {url} failed; auth {password!r}") == (
        "open rtsp://admin:***@10.0.0.5:554/live failed; auth '***'")


class _Ctx:
    thread_type = ""
    thread_count = -1


class _Stream:
    codec_context = _Ctx()


def test_set_decoder_threads_uses_the_cameras_count_one_by_default() -> None:
    stream = _Stream()
    set_decoder_threads(stream, CameraConfig(id="a", url="x.mp4", decode_threads=2))
    assert (stream.codec_context.thread_type, stream.codec_context.thread_count) == ("AUTO", 2)
    set_decoder_threads(stream, CameraConfig(id="a", url="x.mp4"))
    assert stream.codec_context.thread_count == 1
