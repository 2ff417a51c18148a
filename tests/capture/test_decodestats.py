"""The detect-stream bench's wake attribution (scripts/rig/decodestats.py), on made-up wakes."""

from __future__ import annotations

from scripts.rig.decodestats import dual_wake_delays_ms

ONSETS = [4.32, 7.08]
INF = float("inf")


def test_a_wake_just_before_the_onset_counts_negative_and_covers_the_car() -> None:
    # epoch 0, a 30 s clip: the main stream woke at clip 4.29 on the substream's first change,
    # its first frame at 4.31, and it was still decoding at the car's second onset (7.08).
    assert [round(d) for d in dual_wake_delays_ms([[(4.29, 4.31, 4.5, 9.0)]], ONSETS, 0.0,
                                                   30.0)] == [-10]


def test_a_wake_seconds_early_counts_only_if_the_main_stream_still_decoded_at_the_onset() -> None:
    early = (2.0, 2.02, 2.1)
    assert [round(d) for d in dual_wake_delays_ms([[(*early, INF)]], ONSETS, 0.0, 30.0)] == [
        -2300]
    # It slept at 3.0: the car is the later wake's, 80 ms after the onset plus 50 ms decoding.
    later = (4.40, 4.45, 4.6, INF)
    assert [round(d) for d in dual_wake_delays_ms([[(*early, 3.0), later]], ONSETS, 0.0,
                                                   30.0)] == [130]
