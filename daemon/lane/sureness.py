"""How sure a local reading is: its weakest character, and the confidence a passage carries.

The reader's confidence is the mean of its characters' and hides a misread one (a small
night plate's province read 鲁 for 青 at 40-80 with the other characters at 99); these two
rules look at the weakest instead (``plategate``, ``nextplate``, ``scripts/bench_reader.py``).
Pure.
"""

from __future__ import annotations

from daemon.domain import PlateRead


def weakest(read: PlateRead) -> int:
    """The confidence of ``read``'s least sure character (its mean confidence when the
    reader gave none per character)."""
    return min(read.chars) if read.chars else read.confidence


def honest_confidence(read: PlateRead, sure_at: int) -> int:
    """``read.confidence``, or for a local reading that is not sure (:func:`weakest` below
    ``sure_at``) no more than its weakest character's: what a passage carries."""
    if read.provider != "local" or weakest(read) >= sure_at:
        return read.confidence
    return min(read.confidence, weakest(read))
