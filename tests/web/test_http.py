"""The operator page over plain HTTP: login, sessions, CSRF, bad input, confinement.

A real waitress server on loopback and a real SQLite store (tests/support/web.py). Each
error case gets a clear status, writes nothing and leaves the server serving.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from daemon.store.audit import manual_open_log
from tests.support.web import PASSWORD, USER, web_site


def test_every_page_needs_a_login(tmp_path: Path) -> None:
    with web_site(tmp_path) as site, site.client() as c:
        for path in ("/", "/passages/ev-0001", "/health", "/gates", "/audit",
                     "/passages.csv", "/passages/ev-0001/snapshot.jpg"):
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
        assert c.get("/api/passages").status_code == 401
        assert c.post("/gates/entry-1/open", data={"reason": "x"}).status_code == 303


def test_login_then_passages_newest_first(tmp_path: Path) -> None:
    with web_site(tmp_path, passages=3) as site, site.client() as c:
        site.login(c)
        page = c.get("/")
        assert page.status_code == 200
        assert page.text.index("ev-0002") < page.text.index("ev-0001") < page.text.index(
            "ev-0000")
        cookie = next(iter(c.cookies.jar))
        assert cookie.has_nonstandard_attr("HttpOnly")


def test_wrong_password_is_401_logged_and_locked_out(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "daemon.web")
    with web_site(tmp_path, login_failures=3, login_lockout_s=60) as site, site.client() as c:
        token = site.login_form(c)
        for _ in range(3):
            r = c.post("/login", data={"name": USER, "password": "wrong", "csrf": token})
            assert r.status_code == 401 and "wrong name or password" in r.text
        r = c.post("/login", data={"name": USER, "password": PASSWORD, "csrf": token})
        assert r.status_code == 429  # even the right password waits out the lock-out
        assert "gatecam_session" not in c.cookies
        assert c.get("/").status_code == 303
    assert sum("failed login for 'alice'" in m for m in caplog.messages) == 3
    assert any("locked out" in m for m in caplog.messages)


def test_expired_session_goes_back_to_login(tmp_path: Path) -> None:
    with web_site(tmp_path) as site, site.client() as c:
        site.login(c)
        assert c.get("/").status_code == 200
        clock = [site.server.app.ctx.monotonic() + 10_000.0]  # past session_idle_s (1800)
        site.server.app.sessions._clock = lambda: clock[0]
        r = c.get("/")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert c.get("/api/health").status_code == 401


def test_forged_csrf_token_is_403_and_writes_nothing(tmp_path: Path) -> None:
    sent: list[tuple[str, str, str]] = []

    def opener(camera: str, user: str, reason: str) -> tuple[str, str | None]:
        sent.append((camera, user, reason))
        return "manual-x", None

    with web_site(tmp_path, opener=opener) as site, site.client() as c:
        token = site.login(c)
        for forged in ("", "x" * 43, token[:-1] + ("A" if token[-1] != "A" else "B")):
            r = c.post("/gates/entry-1/open", data={"reason": "intercom", "csrf": forged})
            assert r.status_code == 403 and "security token" in r.text
        r = c.post("/api/gates/entry-1/open", json={"reason": "x"},
                   headers={"X-CSRF-Token": "forged"})
        assert r.status_code == 403
        assert sent == [] and manual_open_log(site.store) == []
        r = c.post("/gates/entry-1/open", data={"reason": "intercom", "csrf": token})
        assert r.status_code == 303 and sent == [("entry-1", USER, "intercom")]
        assert "open command sent" in c.get(r.headers["location"]).text
        assert [m.reason for m in manual_open_log(site.store)] == ["intercom"]


@pytest.mark.parametrize("path", [
    "/snapshots/../g.db", "/snapshots/..%2Fg.db", "/snapshots/entry-1/../../g.db",
    "/snapshots/%2e%2e/%2e%2e/etc/passwd", "/snapshots//etc/passwd",
    "/passages/..%2F..%2Fg.db/snapshot.jpg", "/passages/ev-0001%00/plate.jpg",
])
def test_paths_with_dotdot_are_404(tmp_path: Path, path: str) -> None:
    with web_site(tmp_path) as site, site.client() as c:
        site.login(c)
        r = c.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert b"SQLite" not in r.content
        assert c.get("/passages/ev-0001/snapshot.jpg").status_code == 200  # still serving


def test_snapshot_row_pointing_outside_is_404(tmp_path: Path) -> None:
    with web_site(tmp_path) as site, site.client() as c:
        site.login(c)
        (tmp_path / "secret.jpg").write_bytes(b"\xff\xd8secret")
        with site.store.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE passages SET snapshot='../secret.jpg' WHERE event_id='ev-0001'")
        assert c.get("/passages/ev-0001/snapshot.jpg").status_code == 404
        assert c.get("/passages/ev-0001/plate.jpg").status_code == 404


@pytest.mark.parametrize("plate", ["京A\x00F0236", "京A\nF0236", "\x1b[31mX", "A" * 1000])
def test_bad_plate_filter_is_400(tmp_path: Path, plate: str) -> None:
    with web_site(tmp_path) as site, site.client() as c:
        site.login(c)
        for path in ("/", "/passages.csv", "/passages/rows", "/api/passages"):
            r = c.get(path, params={"plate": plate})
            assert r.status_code == 400, (path, r.status_code)
            assert "plate" in r.text
        assert c.get("/").status_code == 200


def test_bad_reason_is_400_and_not_sent(tmp_path: Path) -> None:
    sent: list[str] = []

    def opener(camera: str, user: str, reason: str) -> tuple[str, str | None]:
        sent.append(reason)
        return "manual-x", None

    with web_site(tmp_path, opener=opener) as site, site.client() as c:
        token = site.login(c)
        for reason in ("", "a\x07b", "r" * 1000):
            r = c.post("/gates/entry-1/open", data={"reason": reason, "csrf": token})
            assert r.status_code == 400 and "reason" in r.text
        assert c.post("/gates/nope/open", data={"reason": "x", "csrf": token}).status_code == 404
        r = c.post("/gates/entry-1/open", data={"reason": "x" * 20_000, "csrf": token})
        assert r.status_code == 413
        assert sent == [] and manual_open_log(site.store) == []


def test_filters_and_csv(tmp_path: Path) -> None:
    from tests.support.web import add_passage

    with web_site(tmp_path, passages=2) as site, site.client() as c:
        add_passage(site.store, site.snap, 7, plate="京B12345", camera="exit-1")
        site.login(c)
        # confusable-tolerant: O for 0 finds the stored 京AF0236
        r = c.get("/api/passages", params={"plate": "京a·fO236"})
        assert {p["event_id"] for p in r.json()["passages"]} == {"ev-0000", "ev-0001"}
        r = c.get("/api/passages", params={"camera": "exit-1"})
        assert [p["plate"] for p in r.json()["passages"]] == ["京B12345"]
        assert c.get("/", params={"camera": "nope"}).status_code == 400
        csv = c.get("/passages.csv", params={"plate": "*12345"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert lines[0].startswith("event_id,captured_at") and len(lines) == 2
        assert "ev-0007" in lines[1]


def test_api_login_and_passage_detail(tmp_path: Path) -> None:
    with web_site(tmp_path) as site, site.client() as c:
        assert c.post("/api/login", json={"name": USER, "password": "no"}).status_code == 401
        r = c.post("/api/login", json={"name": USER, "password": PASSWORD})
        assert r.status_code == 200 and r.json()["user"] == USER and r.json()["csrf"]
        d = c.get("/api/passages/ev-0001").json()
        assert d["passage"]["plate"] == "京AF0236" and d["delivery"] == "in outbox"
        assert d["reads"][0]["request_id"] == "req-1"
        site.store.mark_delivered([2], datetime.now(UTC))  # ev-0001's outbox row
        assert c.get("/api/passages/ev-0001").json()["delivery"] == "delivered"
        assert c.get("/api/passages/ev-9999").status_code == 404
        img = c.get("/api/passages/ev-0001/plate.jpg")
        assert img.status_code == 200 and img.content[:2] == b"\xff\xd8"


def test_server_refuses_nothing_it_cannot_parse(tmp_path: Path) -> None:
    """Junk requests get a 4xx; the server keeps serving."""
    with web_site(tmp_path) as site, site.client() as c:
        site.login(c)
        assert c.post("/api/login", content=b"\xff\xfe{",
                      headers={"Content-Type": "application/json"}).status_code == 400
        assert c.get("/", params={"since": "yesterday"}).status_code == 400
        assert c.get("/", params={"limit": "1e9"}).status_code == 400
        assert c.request("DELETE", "/").status_code == 405
        assert c.get("/").status_code == 200
        with httpx.Client(base_url=site.url) as other:
            assert other.get("/static/page.css").status_code == 200


def test_manual_open_not_sent_is_audited_with_the_reason(tmp_path: Path) -> None:
    def opener(camera: str, user: str, reason: str) -> tuple[str, str | None]:
        return "manual-y", "dropped: not connected to the broker"

    with web_site(tmp_path, opener=opener) as site, site.client() as c:
        token = site.login(c)
        r = c.post("/gates/exit-1/open", data={"reason": "visitor", "csrf": token})
        page = c.get(r.headers["location"]).text
        assert "not sent: dropped: not connected to the broker" in page
        audit = c.get("/api/audit").json()["manual_opens"]
        assert audit[0]["operator"] == USER and audit[0]["outcome"].startswith("dropped")
        assert "visitor" in c.get("/audit").text


def test_lists_add_remove_and_bad_input_writes_nothing(tmp_path: Path) -> None:
    with web_site(tmp_path) as site, site.client() as c:
        token = site.login(c)
        for bad in ({"plate": "NOTAPLATE"}, {"plate": "京A\x00F0236"}, {"plate": ""},
                    {"plate": "京AF0236", "kind": "maybe"},
                    {"plate": "京AF0236", "note": "n" * 300}):
            r = c.post("/lists/add", data={**bad, "csrf": token})
            assert r.status_code == 400, bad
        assert c.post("/lists/add", data={"plate": "京AF0236", "csrf": "x"}).status_code == 403
        assert site.store.access_entries() == []
        r = c.post("/lists/add", data={"plate": "京a·f0236", "kind": "allow",
                                       "note": "permit, Dec", "csrf": token})
        assert r.status_code == 303
        [e] = site.store.access_entries()
        assert (e.plate, e.kind, e.note) == ("京AF0236", "allow", "permit, Dec")
        assert "permit, Dec" in c.get("/lists", params={"q": "permit"}).text
        assert c.get("/lists.csv").text.splitlines()[1:] == ['京AF0236,allow,"permit, Dec",,,,,any']
        assert c.get("/api/lists").json()["entries"][0]["plate"] == "京AF0236"
        c.post("/lists/remove", data={"plate": "京AF0236", "kind": "allow", "csrf": token})
        assert site.store.access_entries() == []
