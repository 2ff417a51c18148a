"""Driving a PassageTracker in lane tests: the actions it returns are carried out in order
(a local read, a cloud call, a passage) and the reads they produce fed back to it."""

from __future__ import annotations

from collections.abc import Callable

from daemon.domain import Passage, PlateRead
from daemon.lane.actions import Action, EmitPassage, ReadLocal, SendCandidate
from daemon.lane.passage import PassageTracker


def settle(tracker: PassageTracker, actions: list[Action], pts: float, *,
           local: Callable[[ReadLocal, float], PlateRead],
           cloud: Callable[[SendCandidate, float], PlateRead],
           emitted: Callable[[Passage, float], None]) -> None:
    """Carry out ``actions`` at ``pts`` until none is left: ``local``/``cloud`` answer a read
    (given the action and ``pts``),
    which goes back to the tracker; ``emitted`` gets each passage and ``pts``."""
    pending = list(actions)
    while pending:
        action = pending.pop(0)
        if isinstance(action, ReadLocal):
            pending += tracker.on_read(local(action, pts), pts)
        elif isinstance(action, SendCandidate):
            pending += tracker.on_read(cloud(action, pts), pts)
        elif isinstance(action, EmitPassage):
            emitted(action.passage, pts)
