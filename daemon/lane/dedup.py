"""Which plates one lane published lately: the same plate again is no new event.

Pure logic, no I/O; the clock is the frame ``pts``.

- A plate decided within ``dedup_window_s`` of the last passage that carried it (from
  that vehicle's departure: a decided passage notes its plate again when it closes) is
  the same vehicle: nothing new is published.
- A *standing* car (daemon/lane/standing.py: a picture re-learnt with a car in it) whose
  plate is the one this lane decided last is that car still waiting, however long ago it
  was read: a light change or a camera outage while it waits publishes nothing.
- Except an upgrade: a plate whose last event could not open the barrier (its confidence
  below what an allow needs from its reader: access ``low_confidence`` at best) is
  published again, once, when a passage decides it at a confidence that could. Without it
  the car still at the barrier, or back for a second try, read surely at last, would be
  swallowed as its own duplicate and never let in (gate safety).
"""

from __future__ import annotations

from daemon.config.models import AccessConfig
from daemon.domain import PlateRead

ALLOW_FLOOR = (AccessConfig().min_confidence, AccessConfig().local_min_confidence)
"""The confidence an allow needs on a cloud and on a local reading: the access config's
defaults (daemon/access.py decides on the configured ones)."""


def opens(read: PlateRead, floor: tuple[int, int]) -> bool:
    """``read``'s confidence is what an allow needs from its reader (``floor``: cloud, local):
    an event carrying it could open the barrier."""
    return read.confidence >= floor[read.provider == "local"]


class RecentPlates:
    """The plates a lane decided, and when; see the module docstring."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: dict[str, float] = {}
        self._short: set[str] = set()  # plates whose last event could not open the barrier
        self._last: str | None = None

    def duplicate(self, plate: str, now: float, standing: bool = False, *,
                  upgrade: bool = False) -> bool:
        """True if ``plate`` now is no new vehicle (see the module docstring). ``upgrade``:
        decided at a confidence that could open the barrier; new if its last event could not."""
        for old in [p for p, t in self._seen.items() if now - t > self.window_s]:
            del self._seen[old]
        for old in [p for p in self._short if p not in self._seen and p != self._last]:
            self._short.discard(old)  # the standing rule still needs what the last one was
        last = self._seen.get(plate)
        recent = last is not None and now - last <= self.window_s
        if not (recent or (standing and plate == self._last)):
            return False
        return not (upgrade and plate in self._short)

    def settled(self, plate: str, now: float) -> bool:
        """``plate``'s last event, within the window, could open the barrier: reading it again
        (a car leaving, reversing, coming back) is that vehicle, no reason to pay for a call."""
        return self.duplicate(plate, now) and plate not in self._short

    def note(self, plate: str, now: float, *, short: bool = False) -> None:
        """An event for ``plate`` was published at ``now``; ``short``: at a confidence below
        what an allow needs."""
        self.again(plate, now)
        if short:
            self._short.add(plate)
        else:
            self._short.discard(plate)

    def again(self, plate: str, now: float) -> None:
        """``plate`` was seen again at ``now`` (a duplicate): its window starts afresh."""
        self._seen[plate], self._last = now, plate

    def departed(self, plate: str, now: float) -> None:
        """The vehicle carrying ``plate`` left at ``now``: its window runs from here."""
        self._seen[plate] = max(now, self._seen.get(plate, now))
