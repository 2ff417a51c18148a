"""What happens to a passage in the writer thread just before its commit.

The access decision (daemon/access.py: it must be in the committed event and outbox
payload, and the writer has the store), the snapshot file (a frame that cannot be
converted is recorded without its snapshot, counted) and its ``image_url``, then the outbox
messages: MQTT's, and the event once more per webhook target.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from daemon.config.integrations import image_url
from daemon.domain import Frame, Passage
from daemon.store.health import StorageHealth
from daemon.store.records import OutboxMessage
from daemon.store.snapshots import SnapshotWriter
from daemon.store.writequeue import PassageItem

Decide = Callable[[Passage], Passage]
"""Sets ``access`` / ``access_reason`` on a passage (daemon.access.AccessControl.apply)."""

log = logging.getLogger(__name__)


class PassagePreparer:
    """Decision, snapshot and messages for one passage; used by the recorder thread only."""

    def __init__(
        self,
        decide: Decide | None,
        snapshots: SnapshotWriter | None,
        health: StorageHealth,
        snapshot_base_url: str | None = None,
        webhook_targets: Sequence[str] = (),
    ) -> None:
        self._decide = decide
        self._snapshots = snapshots
        self._health = health
        self._snapshot_url = snapshot_base_url
        self._webhooks = tuple(webhook_targets)
        """Outbox targets (``webhook:<name>``) that get a copy of every event, one row each."""

    def decided(self, passage: Passage) -> Passage:
        """The passage with its access decision (made once, before anything is written)."""
        if self._decide is None:
            return passage
        try:
            return self._decide(passage)
        except Exception:
            log.exception("access decision failed for %s; access stays unknown", passage.event_id)
            return passage.replace(access="unknown", access_reason="not_evaluated")

    def prepared(self, item: PassageItem) -> tuple[Passage, list[OutboxMessage]]:
        """Decision, snapshot, outbox messages: everything before the commit."""
        passage = self.decided(item.passage)
        if item.snapshot is not None and self._snapshots is not None:
            rel = self._snapshot(self._snapshots, passage, item.snapshot)
            passage = passage.replace(snapshot=rel, image_url=image_url(self._snapshot_url, rel))
        messages: list[OutboxMessage] = list(self._health.messages(passage))
        if self._webhooks:  # the event (first message) once more per target
            topic, payload = messages[0][0], messages[0][1]
            messages += [(topic, payload, False, target) for target in self._webhooks]
        return passage, messages

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
