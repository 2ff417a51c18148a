"""Tests for daemon.capture.source: FFmpeg options, the av.open target, password scrubbing."""

from __future__ import annotations

import pytest

from daemon.capture.source import (
    Scrubber,
    auto_decode_threads,
    io_timeout_s,
    open_options,
    open_target,
    set_decoder_threads,
    with_decode_threads,
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


@pytest.mark.parametrize(("cameras", "cpus", "threads"), [
    (1, 2, 2), (2, 2, 1), (4, 2, 1), (1, 4, 2), (2, 4, 2), (3, 4, 1), (4, 4, 1),
    (1, 1, 1), (8, 2, 1), (1, None, 1), (0, 2, 2),
])
def test_auto_decode_threads_share_the_cores(cameras: int, cpus: int | None, threads: int) -> None:
    assert auto_decode_threads(cameras, cpus) == threads


def test_with_decode_threads_keeps_a_configured_count_and_decides_a_missing_one() -> None:
    cam = CameraConfig(id="a", url="rtsp://cam/s")
    assert cam.decode_threads is None
    assert with_decode_threads(cam, 4, cpus=2).decode_threads == 1
    assert with_decode_threads(cam, 1, cpus=2).decode_threads == 2
    assert cam.decode_threads is None  # a copy: the configuration itself is unchanged
    for count in (0, 3):
        fixed = CameraConfig(id="a", url="rtsp://cam/s", decode_threads=count)
        assert with_decode_threads(fixed, 4, cpus=2) is fixed


class _Ctx:
    thread_type = ""
    thread_count = -1


class _Stream:
    codec_context = _Ctx()


def test_set_decoder_threads_uses_the_decided_count() -> None:
    stream = _Stream()
    set_decoder_threads(stream, CameraConfig(id="a", url="x.mp4", decode_threads=1))
    assert (stream.codec_context.thread_type, stream.codec_context.thread_count) == ("AUTO", 1)
    set_decoder_threads(stream, CameraConfig(id="a", url="x.mp4"))
    assert stream.codec_context.thread_count == 2
