"""The end of ``gatecam demo``: the page on what was recorded, a one-time password."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import httpx

from daemon.store.db import Store
from tests.support.daemon import wait_until
from tests.support.web import add_passage, form_token, web_config


def test_demo_leaves_the_page_up_with_a_one_time_password(tmp_path: Path) -> None:
    from daemon.cli.demopage import serve_until_stopped

    cfg = web_config(tmp_path, enabled=False, users=[])  # the demo's config has no web
    store = Store(cfg.store.url)
    (tmp_path / "snap").mkdir()
    add_passage(store, tmp_path / "snap", 1)
    store.close()
    out = io.StringIO()
    stop = threading.Event()
    t = threading.Thread(target=serve_until_stopped, args=(cfg, 0, stop, out))
    t.start()
    try:
        assert wait_until(lambda: "operator page on" in out.getvalue(), 10)
        m = re.search(r"on (http://127\.0\.0\.1:\d+/) \(user demo, one-time password (\S+)\)",
                      out.getvalue())
        assert m, out.getvalue()
        with httpx.Client(base_url=m[1]) as c:
            token = form_token(c.get("/login"))
            login = {"name": "demo", "csrf": token}
            assert c.post("/login", data={**login, "password": "guess"}).status_code == 401
            assert c.post("/login", data={**login, "password": m[2]}).status_code == 303
            assert "ev-0001" in c.get("/").text
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()
