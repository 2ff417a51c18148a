"""The login form's own CSRF defence (daemon/web/login.py) over real HTTP.

No session exists before a login, so the form carries a signed double-submit token: a
POST without it, with another visitor's, with one this daemon did not sign or with a
stale one is a 403 before any password is checked: no session, the throttle not charged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from daemon.web.login import LOGIN_COOKIE, LOGIN_FORM_TTL_S
from tests.support.web import PASSWORD, USER, form_token, web_site

REFUSED = "this login form has expired or did not come from this page"


def test_forged_or_missing_login_token_is_403_and_starts_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "daemon.web")
    with web_site(tmp_path, login_failures=2) as site, site.client() as victim, \
            site.client() as attacker:
        good = {"name": USER, "password": PASSWORD}
        # a cross-site form: no cookie of ours at all, no token
        r = victim.post("/login", data=good)
        assert r.status_code == 403 and REFUSED in r.text
        site.login_form(victim)  # the victim has a login form open (its cookie is set)
        theirs = site.login_form(attacker)  # the attacker's own, valid for the attacker
        for field in ("", theirs, "é" * 20, "x" * 5000):
            r = victim.post("/login", data={**good, "csrf": field})
            assert r.status_code == 403 and REFUSED in r.text, field
            assert "gatecam_session" not in r.headers.get("set-cookie", "")
        # cookie and field equal but made up: not signed by this daemon
        made_up = "AAAAAAAAAAAAAAAAAAAAAA.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        with site.client() as forger:
            r = forger.post("/login", data={**good, "csrf": made_up},
                            headers={"Cookie": f"{LOGIN_COOKIE}={made_up}"})
            assert r.status_code == 403 and REFUSED in r.text
            assert "gatecam_session" not in forger.cookies
        assert victim.get("/").status_code == 303  # no session was started
        assert not site.server.app.sessions._by_id
        # the throttle (2 failures) was not charged: the real form still logs in
        r = victim.post("/login", data={**good, "csrf": site.login_form(victim)})
        assert r.status_code == 303 and victim.get("/").status_code == 200
    refusals = [m for m in caplog.messages if "login form from" in m]
    assert len(refusals) == 6 and all("no password checked" in m for m in refusals)
    assert any("does not match its cookie" in m for m in refusals)
    assert any("not signed by this daemon" in m for m in refusals)
    assert not any("failed login" in m for m in caplog.messages)


def test_stale_login_form_is_refused_and_replaced(tmp_path: Path) -> None:
    with web_site(tmp_path) as site, site.client() as c:
        token = site.login_form(c)
        assert site.login_form(c) == token  # a second tab gets the same, still-fresh token
        later = [site.server.app.ctx.monotonic() + LOGIN_FORM_TTL_S + 5]
        site.server.app.login_tokens._clock = lambda: later[0]
        r = c.post("/login", data={"name": USER, "password": PASSWORD, "csrf": token})
        assert r.status_code == 403 and REFUSED in r.text
        fresh = form_token(r)  # the refusal is a new form with a new token and cookie
        assert fresh != token and c.cookies[LOGIN_COOKIE] == fresh
        r = c.post("/login", data={"name": USER, "password": PASSWORD, "csrf": fresh})
        assert r.status_code == 303
        assert LOGIN_COOKIE not in c.cookies  # spent: deleted on success


def test_login_cookie_is_httponly_strict_and_scoped(tmp_path: Path) -> None:
    with web_site(tmp_path) as site, site.client() as c:
        header = c.get("/login").headers["set-cookie"]
        assert header.startswith(f"{LOGIN_COOKIE}=")
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/login", "Max-Age=3600"):
            assert attr in header, header


def test_api_login_takes_json_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "daemon.web")
    with web_site(tmp_path) as site, site.client() as c:
        # what a cross-site <form enctype="text/plain"> can send: JSON-looking text
        body = f'{{"name": "{USER}", "password": "{PASSWORD}", "x": "="}}'
        r = c.post("/api/login", content=body, headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and "application/json" in r.json()["error"]
        assert "gatecam_session" not in c.cookies
        r = c.post("/api/login", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 200 and "gatecam_session" in c.cookies
    assert any("API login from" in m and "text/plain" in m for m in caplog.messages)
