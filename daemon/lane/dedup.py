"""Which plates one lane published lately: the same plate again is no new event.

Pure logic, no I/O; the clock is the frame ``pts``.

- A plate decided within ``dedup_window_s`` of the last passage that carried it (from
  that vehicle's departure: a decided passage notes its plate again when it closes) is
  the same vehicle: nothing new is published.
- A *standing* car (daemon/lane/standing.py: a picture re-learnt with a car in it) whose
  plate is the one this lane decided last is that car still waiting, however long ago it
  was read: a light change or a camera outage while it waits publishes nothing.
"""

from __future__ import annotations


class RecentPlates:
    """The plates a lane decided, and when; see the module docstring."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: dict[str, float] = {}
        self._last: str | None = None

    def duplicate(self, plate: str, now: float, standing: bool = False) -> bool:
        """True if ``plate`` now is no new vehicle (see the module docstring)."""
        for old in [p for p, t in self._seen.items() if now - t > self.window_s]:
            del self._seen[old]
        last = self._seen.get(plate)
        recent = last is not None and now - last <= self.window_s
        return recent or (standing and plate == self._last)

    def note(self, plate: str, now: float) -> None:
        """``plate`` was decided (or seen again) at ``now``."""
        self._seen[plate], self._last = now, plate

    def departed(self, plate: str, now: float) -> None:
        """The vehicle carrying ``plate`` left at ``now``: its window runs from here."""
        self._seen[plate] = max(now, self._seen.get(plate, now))
