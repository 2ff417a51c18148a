"""mqtt/snapshot.py and mqtt/daily.py: the plate-area JPEG and the count of calls today."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from daemon import contract
from daemon.config.integrations import SnapshotPublishConfig
from daemon.domain import Frame, Passage, PlateRead, Rect
from daemon.mqtt.daily import DailyCalls, local_midnight
from daemon.mqtt.snapshot import SnapshotPublisher, plate_area
from daemon.store.db import Store
from tests.support.daemon import TOPICS

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def _image() -> np.ndarray:
    img = np.zeros((1080, 1920, 3), np.uint8)
    img[500:540, 900:1020] = (255, 255, 255)  # the "plate"
    return img


def test_plate_area_keeps_the_plate_with_some_car_around_it() -> None:
    area = plate_area(_image(), Rect(900, 500, 120, 40), 480)
    # one plate width each side, two plate heights above and below
    assert area.shape[:2] == (200, 360)
    assert area[80:120, 120:240].min() == 255 and area[:80].max() == 0


def test_plate_area_scales_and_falls_back_to_the_frame() -> None:
    whole = plate_area(_image(), None, 480)
    assert whole.shape[:2] == (270, 480)
    edge = plate_area(_image(), Rect(0, 0, 400, 100), 240)  # clipped at the frame's corner
    assert edge.shape[1] == 240 and edge.shape[0] == round(300 * 240 / 800)


def test_publisher_sends_a_jpeg_per_camera_and_survives_a_bad_frame() -> None:
    sent: list[tuple[str, bytes]] = []
    pub = SnapshotPublisher(SnapshotPublishConfig(enabled=True, max_width=200, jpeg_quality=60),
                            lambda t, b: sent.append((t, b)), TOPICS)
    passage = Passage(event_id="e", site="lot-a", camera="entry-1", direction="entry",
                      captured_at=T0, decided_at=T0, plate="京AF0236",
                      rect=Rect(900, 500, 120, 40))
    frame = Frame("entry-1", 1, 0.0, T0, _image())
    assert pub.offer(passage, frame)
    [(topic, jpeg)] = sent
    assert topic == contract.snapshot_topic("gatecam", "lot-a", "entry-1")
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape[1] == 200
    assert not pub.offer(passage, None)
    broken = Frame("entry-1", 2, 0.0, T0, np.zeros((0, 0, 3), np.uint8))
    assert not pub.offer(passage, broken) and pub.failures == 1 and pub.published == 1


def test_calls_today_roll_over_at_local_midnight() -> None:
    start = local_midnight(T0)
    daily = DailyCalls(start.date(), calls=5)
    assert daily.add(start + timedelta(hours=3)) == contract.encode(
        {"day": start.date().isoformat(), "calls": 6})
    tomorrow = start + timedelta(days=1, minutes=1)
    assert daily.add(tomorrow) == contract.encode(
        {"day": tomorrow.astimezone().date().isoformat(), "calls": 1})
    assert DailyCalls(date(2026, 1, 1)).payload() == '{"day":"2026-01-01","calls":0}'


def test_calls_today_start_from_what_the_store_recorded(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/g.db")
    try:
        for seq, called in ((1, True), (2, True), (3, False)):  # the third was never sent
            store.record_read(PlateRead(camera_id="entry-1", passage_id="p", frame_seq=seq,
                                        ok=called, called=called), "e-1")
        now = datetime.now(UTC)
        assert store.calls_since(local_midnight(now)) == 2
        assert store.calls_since(now + timedelta(minutes=1)) == 0
    finally:
        store.close()
