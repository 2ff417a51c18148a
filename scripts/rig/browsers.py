"""Simulated browsers on the operator page, over plain HTTP on loopback (for benches).

:func:`form_login` logs in as Chromium does: ``GET /login`` for the form's CSRF token and
its cookie, then the ``POST``. :class:`Browser` is one attendant's passages page: it loads
``/`` with its script, style sheet and plate crops, then does what ``live.js`` does, every
``POLL_S`` seconds on one kept-alive connection: fetch ``/passages/rows`` and, when the
newest passage changed, the crops it has not cached yet.
"""

from __future__ import annotations

import http.client
import random
import re
import threading
import time
import urllib.parse

from daemon.web.routes import POLL_S

CROP = re.compile(r'src="(/passages/[^"/]+/plate\.jpg)"')


def form_login(port: int, name: str, password: str) -> str:
    """The session cookie after a form login (the form's token first, as a browser does)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    form = resp.read().decode()
    form_cookie = (resp.getheader("Set-Cookie") or "").split(";")[0]
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    if resp.status != 200 or not token or not form_cookie:
        raise RuntimeError(f"login form: HTTP {resp.status}")
    body = urllib.parse.urlencode({"name": name, "password": password, "csrf": token[1]})
    conn.request("POST", "/login", body,
                 {"Content-Type": "application/x-www-form-urlencoded", "Cookie": form_cookie})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    cookies = [v.split(";")[0] for k, v in resp.getheaders() if k.lower() == "set-cookie"]
    cookie = next((c for c in cookies if c.startswith("gatecam_session=")), "")
    if resp.status != 303 or not cookie:
        raise RuntimeError(f"login failed: HTTP {resp.status}")
    return cookie


class Browser(threading.Thread):
    """One attendant's passages page: opened (logged in) on creation, then polling
    ``/passages/rows`` every ``POLL_S`` while ``active`` is set."""

    def __init__(self, port: int, user: str, password: str, active: threading.Event,
                 stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.active, self.stop_event = port, active, stop
        self._login = (user, password)
        self.requests = 0
        self.errors = 0
        self.seconds: list[float] = []
        self._conn: http.client.HTTPConnection | None = None
        self._cookie = ""
        self.seen: set[str] = set()
        self.newest = ""
        self.poll_url = self.open_page()
        self.offset_s = random.uniform(0, POLL_S)  # browsers are not in step
        self.requests, self.seconds = 0, []  # count the polling only

    def get(self, path: str) -> tuple[int, str, str]:
        """(status, X-Newest, body) over the kept-alive connection (reopened if closed)."""
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                t0 = time.perf_counter()
                self._conn.request("GET", path, headers={"Cookie": self._cookie})
                resp = self._conn.getresponse()
                body = resp.read()
                self.seconds.append(time.perf_counter() - t0)
                self.requests += 1
                text = body.decode("utf-8", "replace") if path[-4:] != ".jpg" else ""
                return resp.status, resp.getheader("X-Newest") or "", text
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    self.errors += 1
        return 0, "", ""

    def crops(self, html: str) -> None:
        """Fetch the plate crops a browser has not cached yet."""
        for src in CROP.findall(html):
            if src not in self.seen:
                self.seen.add(src)
                self.get(src)

    def open_page(self) -> str:
        """Log in and load the passages page as Chromium does; the rows' poll URL."""
        self._cookie = form_login(self.port, *self._login)
        status, _, page = self.get("/")
        if status != 200:
            raise RuntimeError(f"passages page: HTTP {status}")
        self.get("/static/live.js")
        self.get("/static/page.css")
        self.crops(page)
        tbody = re.search(r'data-poll="([^"]+)"[^>]*data-newest="([^"]*)"', page)
        if tbody is None:
            raise RuntimeError("passages page: no live table body")
        self.newest = tbody[2]
        return tbody[1].replace("&amp;", "&")

    def run(self) -> None:
        """Poll on this browser's own schedule (offset in the interval) while active."""
        next_at = time.monotonic() + self.offset_s
        while not self.stop_event.wait(max(0.0, next_at - time.monotonic())):
            next_at += POLL_S
            if not self.active.is_set():
                continue
            status, newest, rows = self.get(self.poll_url)
            if status == 200 and newest != self.newest:
                self.newest = newest
                self.crops(rows)
            elif status != 200:
                self.errors += 1
