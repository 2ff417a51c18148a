"""scripts/rig/browsers.py, the browsers of scripts/bench_weblane.py, against a real page:
they log in through the form (its CSRF token first) and poll as ``live.js`` does."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scripts.rig import browsers
from scripts.rig.browsers import Browser, form_login
from tests.support.daemon import wait_until
from tests.support.web import PASSWORD, USER, add_passage, web_site


def test_form_login_gives_a_session_and_a_wrong_password_raises(tmp_path: Path) -> None:
    with web_site(tmp_path) as site:
        cookie = form_login(site.server.port, USER, PASSWORD)
        assert cookie.startswith("gatecam_session=")
        with pytest.raises(RuntimeError, match="HTTP 401"):
            form_login(site.server.port, USER, "wrong")


def test_browser_polls_only_while_active_and_fetches_new_crops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browsers, "POLL_S", 0.2)
    active, stop = threading.Event(), threading.Event()
    with web_site(tmp_path, passages=2) as site:
        b = Browser(site.server.port, USER, PASSWORD, active, stop)
        assert b.poll_url == "/passages/rows?" and b.newest == "ev-0001"
        assert b.requests == 0  # opening the page is not counted
        b.start()
        try:
            assert not wait_until(lambda: b.requests > 0, 0.8)  # idle: no polls
            active.set()
            assert wait_until(lambda: b.requests >= 3, 5)
            add_passage(site.store, site.snap, 7)
            assert wait_until(lambda: b.newest == "ev-0007", 5)
            assert wait_until(lambda: "/passages/ev-0007/plate.jpg" in b.seen, 5)
        finally:
            stop.set()
            b.join(5)
    assert b.errors == 0 and not b.is_alive()
