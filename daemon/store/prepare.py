"""What happens to a passage in the writer thread just before its commit.

The access decision (daemon/access.py: it must be in the committed event and outbox
payload, and the writer has the store), the snapshot file (a frame that cannot be
converted is recorded without its snapshot, counted), then the outbox messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from daemon import contract
from daemon.domain import Frame, Passage
from daemon.store.health import StorageHealth
from daemon.store.snapshots import SnapshotWriter
from daemon.store.writequeue import PassageItem

Decide = Callable[[Passage], Passage]
"""Sets ``access`` / ``access_reason`` on a passage (daemon.access.AccessControl.apply)."""

log = logging.getLogger(__name__)


class PassagePreparer:
    """Decision, snapshot and messages for one passage; used by the recorder thread only."""

    def __init__(
        self, decide: Decide | None, snapshots: SnapshotWriter | None, health: StorageHealth
    ) -> None:
        self._decide = decide
        self._snapshots = snapshots
        self._health = health

    def decided(self, passage: Passage) -> Passage:
        """The passage with its access decision (made once, before anything is written)."""
        if self._decide is None:
            return passage
        try:
            return self._decide(passage)
        except Exception:
            log.exception("access decision failed for %s; access stays unknown", passage.event_id)
            return passage.replace(access="unknown", access_reason="not_evaluated")

    def prepared(self, item: PassageItem) -> tuple[Passage, list[contract.Message]]:
        """Decision, snapshot, outbox messages: everything before the commit."""
        passage = self.decided(item.passage)
        if item.snapshot is not None and self._snapshots is not None:
            snap = self._snapshot(self._snapshots, passage, item.snapshot)
            passage = passage.replace(snapshot=snap)
        return passage, self._health.messages(passage)

    @staticmethod
    def _snapshot(writer: SnapshotWriter, passage: Passage, frame: Frame) -> str | None:
        """Write the snapshot; any failure (the frame's conversion too) records without it."""
        try:
            image = frame.bgr()
        except Exception as exc:
            log.exception("snapshot frame of %s could not be converted", passage.event_id)
            writer.note_failure(passage.event_id, exc)
            return None
        return writer.write(passage, image)
