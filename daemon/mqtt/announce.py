"""What the publisher says once at start, before delivering: Home Assistant discovery, the
snapshot feed's set-up and the retained count of cloud calls today."""

from __future__ import annotations

from datetime import UTC, datetime

from daemon import contract
from daemon.config.models import Config
from daemon.mqtt.daily import DailyCalls
from daemon.mqtt.discovery import discovery_messages
from daemon.mqtt.publisher import Publisher
from daemon.mqtt.snapshot import SnapshotPublisher
from daemon.store.db import Store


def announce(
    publisher: Publisher, cfg: Config, topics: contract.Topics, store: Store
) -> tuple[SnapshotPublisher | None, DailyCalls]:
    """Queue the retained start-up messages; the snapshot feed (when on) and today's calls."""
    mq = cfg.mqtt
    if mq.ha_discovery:
        cams = [c.id for c in cfg.cameras if c.enabled]
        for topic, payload, _ in discovery_messages(
            mq.ha_discovery_prefix, topics, cams, snapshots=mq.snapshot.enabled
        ):
            publisher.publish_status(topic, payload)
    snapshots = (SnapshotPublisher(mq.snapshot, publisher.publish_status, topics)
                 if mq.snapshot.enabled else None)
    daily = DailyCalls.from_store(store, datetime.now(UTC))
    publisher.publish_status(topics.ocr_calls, daily.payload())
    return snapshots, daily
