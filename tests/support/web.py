"""The operator page for tests: a store with passages and snapshots, a served WebApp.

``web_site(tmp_path)`` writes a real SQLite store with passages (snapshot and plate crop
JPEGs on disk), builds the page with one operator and serves it with waitress on a free
loopback port. Only ``opener`` (the MQTT gate path) may be given by the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from daemon.config.models import Config
from daemon.domain import Passage, PlateRead, Rect
from daemon.store.db import Store
from daemon.web.auth import Users, hash_password
from daemon.web.context import Opener
from daemon.web.server import WebServer
from daemon.web.wiring import build_app
from tests.support.config import make_config

USER = "alice"
PASSWORD = "correct horse battery"
_HASH = hash_password(PASSWORD)  # once per test session: scrypt is slow on purpose


def web_config(tmp_path: Path, **web: Any) -> Config:
    """A config with the page on, loopback, a free port and one operator."""
    return make_config(
        tmp_path, tmp_path / "clip.mp4", "http://127.0.0.1:9/",
        cameras=[{"id": "entry-1", "url": "rtsp://127.0.0.1:9/a", "direction": "entry"},
                 {"id": "exit-1", "url": "rtsp://127.0.0.1:9/b", "direction": "exit"}],
        store={"url": f"sqlite:///{tmp_path}/g.db", "snapshots": str(tmp_path / "snap")},
        web={"enabled": True, "port": 0, "users": [{"name": USER, "password_hash": _HASH}],
             **web},
    )


def snapshot_jpeg(root: Path, p: Passage) -> str:
    """Write a snapshot and its plate crop like SnapshotWriter; the relative path."""
    rel = Path(p.camera) / p.captured_at.strftime("%Y-%m-%d") / f"{p.event_id}.jpg"
    img = np.full((240, 320, 3), 90, np.uint8)
    cv2.putText(img, p.plate or "-", (40, 130), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / rel), img)
    cv2.imwrite(str(root / rel.with_suffix(".plate.jpg")), img[100:150, 30:200])
    return rel.as_posix()


def add_passage(store: Store, snap_root: Path, n: int, *, plate: str | None = "京AF0236",
                camera: str = "entry-1", at: datetime | None = None, **changes: Any) -> Passage:
    """Record passage ``n`` with one read, an outbox row and a snapshot."""
    at = at or datetime.now(UTC) - timedelta(minutes=60 - n)
    p = Passage(event_id=f"ev-{n:04d}", site="lot-a", camera=camera, direction="entry",
                captured_at=at, decided_at=at + timedelta(milliseconds=400), plate=plate,
                color="蓝", confidence=97, rect=Rect(30, 100, 170, 50), ocr_calls=1,
                latency_ms=120.0, **{"access": "allow", "access_reason": "allow_list",
                                     **changes})
    p = p.replace(snapshot=snapshot_jpeg(snap_root, p))
    read = PlateRead(camera, p.event_id, 10 + n, True, plate, "蓝", 97, latency_ms=120.0,
                     request_id=f"req-{n}")
    store.record_passage(p, [read], [(f"gatecam/lot-a/{camera}/passage", "{}", False)])
    return p


@dataclass
class Site:
    """A served page: its URL, store, config and server."""

    url: str
    store: Store
    cfg: Config
    server: WebServer
    snap: Path

    def client(self) -> httpx.Client:
        """An HTTP client on the page (cookies kept, no redirects followed)."""
        return httpx.Client(base_url=self.url, timeout=10.0, follow_redirects=False)

    def login_form(self, client: httpx.Client) -> str:
        """Open the login form as a browser does: its token (the cookie is in ``client``)."""
        return form_token(client.get("/login"))

    def login(self, client: httpx.Client, password: str = PASSWORD) -> str:
        """Log ``client`` in through the form; the CSRF token of the page it lands on."""
        r = client.post("/login", data={"name": USER, "password": password,
                                        "csrf": self.login_form(client)})
        assert r.status_code == 303, r.text
        return form_token(client.get("/gates"))


def form_token(page: httpx.Response) -> str:
    """The ``csrf`` field of a page's form."""
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m, page.text
    return m[1]


@contextmanager
def web_site(tmp_path: Path, passages: int = 3, opener: Opener | None = None,
             **web: Any) -> Iterator[Site]:
    """A store with ``passages`` passages and the page serving it (stopped on exit)."""
    cfg = web_config(tmp_path, **web)
    store = Store(cfg.store.url)
    snap = tmp_path / "snap"
    snap.mkdir(exist_ok=True)
    for n in range(passages):
        add_passage(store, snap, n)
    app = build_app(cfg, store, None, opener, users=Users([(USER, _HASH)]))
    server = WebServer(cfg.web, app).start()
    try:
        yield Site(server.url, store, cfg, server, snap)
    finally:
        server.stop()
        store.close()
