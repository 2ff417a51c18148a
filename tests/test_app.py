"""App with the local reader: local mode needs no Tencent keys and reads a generated clip;
a missing reader model stops the start as a config error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.app import App
from daemon.config.secrets import Secrets
from daemon.domain import Passage, PlateRead
from daemon.errors import EX_CONFIG, ReaderError, exit_code
from daemon.store.db import Store
from daemon.store.tables import reads
from scripts.rig.clips import ClipStore, clips  # noqa: F401 - the fixture
from tests.support.config import make_config

NO_KEYS = Secrets(None, None, None)


@pytest.mark.timeout(120)
def test_local_mode_reads_a_clip_without_keys(tmp_path: Path, clips: ClipStore) -> None:  # noqa: F811
    clip, truth = clips.get("one_car", size=(1280, 720), fps=10)
    cfg = make_config(tmp_path, clip, "http://127.0.0.1:9", ocr={"mode": "local"},
                      cameras=[{"id": "entry-1", "url": str(clip), "loop": False}],
                      access={"min_confidence": 85, "local_min_confidence": 90})
    got: list[Passage] = []
    app = App(cfg, NO_KEYS, replay=True, fast=True, on_passage=got.append)
    app.start()
    try:
        [camera] = app.stages().cameras
        assert camera.lane.tracker.allow_floor == (85, 90), "an upgrade's floor is access's"
        assert app.wait_replay_done(timeout=90)
        assert app.drain(timeout=20)
        assert got, "no passage"
        late = PlateRead(camera_id="entry-1", passage_id=got[0].event_id, frame_seq=1,
                         ok=True, plate="京A12345", confidence=97, called=True)
        assert camera.lane.record_read is not None
        camera.lane.record_read(late)  # as the lane does with a cloud answer after the event
    finally:
        app.stop()
    plate = truth["vehicles"][0]["plate"].replace("·", "")
    assert [p.plate for p in got] == [plate]
    p = got[0]
    assert p.provider == "local" and p.ocr_calls == 0 and p.local_confidence is not None
    event = p.as_event()
    assert event["ocr"]["provider"] == "local" and event["ocr"]["local_confidence"] >= 80
    store = Store(cfg.store.url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(reads.c.provider, reads.c.plate, reads.c.event_id)
                                .order_by(reads.c.id)).all()
    finally:
        store.close()
    assert rows and {r.provider for r in rows[:-1]} == {"local"}
    assert rows[-1] == ("tencent", "京A12345", p.event_id)  # the late answer, on its own
    assert json.dumps(event, ensure_ascii=False)


def test_missing_reader_model_is_a_config_error_before_anything_starts(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    cfg = make_config(tmp_path, "clip.mp4", "http://127.0.0.1:9",
                      ocr={"mode": "local", "local": {"model_dir": str(empty)}})
    app = App(cfg, NO_KEYS)
    with pytest.raises(ReaderError) as err:
        app.start()
    assert exit_code(err.value) == EX_CONFIG and "model" in str(err.value)
    app.stop()


def test_cloud_mode_still_needs_keys(tmp_path: Path) -> None:
    from daemon.errors import CredentialsError

    cfg = make_config(tmp_path, "clip.mp4", "http://127.0.0.1:9")
    with pytest.raises(CredentialsError):
        App(cfg, NO_KEYS).start()
