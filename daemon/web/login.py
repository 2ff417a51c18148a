"""The way into the operator page: the login form and its CSRF token, the password check
(throttled, logged) and the session cookie; :class:`daemon.web.routes.WebApp` inherits it.

There is no session to bind a CSRF token to before a login, so the form carries a signed
double-submit token (:class:`daemon.web.auth.LoginTokens`): ``GET /login`` sets it in the
cookie ``gatecam_login`` (HttpOnly, SameSite=Strict, path ``/login``, expires with the
token) and in the form's ``csrf`` field; a ``POST /login`` whose field is missing, differs
from the cookie, is not signed by this process or is stale is refused with 403 and a fresh
form before any password is checked: no session starts and the login throttle is not
charged (a forged form must not lock the attendant out). ``POST /api/login`` takes JSON
only (415 otherwise): a cross-site HTML form cannot send ``application/json``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

from werkzeug.wrappers import Request, Response

from daemon.web import api
from daemon.web.auth import LoginThrottle, LoginTokens, Session, Sessions
from daemon.web.context import WebContext

log = logging.getLogger(__name__)

COOKIE = "gatecam_session"
LOGIN_COOKIE = "gatecam_login"
LOGIN_FORM_TTL_S = 3600.0
"""How long a login form stays usable (then: reload it)."""


class LoginFlow:
    """Login, the login form's token and the session cookie (a mixin of the WSGI app)."""

    render: Callable[..., Response]
    """The app's template renderer (``render(name, code, **values)``)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.sessions = Sessions(ctx.cfg.session_idle_s, ctx.cfg.session_max_s, ctx.monotonic)
        self.throttle = LoginThrottle(ctx.cfg.login_failures, ctx.cfg.login_lockout_s,
                                      ctx.monotonic)
        self.login_tokens = LoginTokens(LOGIN_FORM_TTL_S, ctx.monotonic)

    def on_login(self, request: Request, _session: Session | None) -> Response:
        """The login form; POST checks its token, then the password (throttled, logged)."""
        nxt = request.args.get("next", "/")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"  # never an open redirect
        cookie = request.cookies.get(LOGIN_COOKIE)
        if request.method == "GET":
            return self._login_form(nxt, 200, "", cookie)
        problem = self.login_tokens.problem(cookie, request.form.get("csrf"))
        if problem is not None:
            log.warning("web: login form from %s refused: %s (no password checked)",
                        request.remote_addr or "?", problem)
            return self._login_form(nxt, 403, "this login form has expired or did not come "
                                    "from this page: it has been reloaded, log in again", None)
        user, status, message = self.login(request)
        if user is None:
            return self._login_form(nxt, status, message, cookie)
        response = Response("", status=303, headers={"Location": nxt})
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        self.set_cookie(response, user)
        return response

    def _login_form(self, nxt: str, status: int, error: str, cookie: str | None) -> Response:
        """The form with a token: the visitor's own while fresh, else a new one (set)."""
        fresh = not self.login_tokens.reusable(cookie)
        token = self.login_tokens.issue() if fresh or cookie is None else cookie
        response = self.render("login.html", status, next=nxt, error=error, session=None,
                               login_token=token)
        if fresh:
            response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict",
                                secure=self.ctx.cfg.secure_cookie, path="/login",
                                max_age=int(LOGIN_FORM_TTL_S))
        return response

    def on_api_login(self, request: Request) -> Response:
        """``POST /api/login``: JSON only, then :func:`daemon.web.api.api_login`."""
        if request.mimetype != "application/json":
            log.warning("web: API login from %s refused: Content-Type %r",
                        request.remote_addr or "?", request.mimetype)
            return api.error(415, "POST /api/login takes Content-Type: application/json")
        return api.api_login(cast(api.WebApp, self), request, None)  # a WebApp's mixin

    def login(self, request: Request, name: str | None = None, password: str | None = None
              ) -> tuple[str | None, int, str]:
        """(user, 200, "") on success, else (None, status, message); failures counted."""
        client = request.remote_addr or "?"
        wait = self.throttle.retry_after(client)
        if wait > 0:
            log.warning("web: login from %s refused: locked out for %.0f s more", client, wait)
            return None, 429, f"too many failed logins: try again in {int(wait) + 1} s"
        name = request.form.get("name", "") if name is None else name
        password = request.form.get("password", "") if password is None else password
        if len(name) > 64 or len(password) > 1024 or not self.ctx.users.check(name, password):
            n = self.throttle.failed(client)
            log.warning("web: failed login for %r from %s (%d in %.0f s)", name[:64], client,
                        n, self.ctx.cfg.login_lockout_s)
            return None, 401, "wrong name or password"
        self.throttle.succeeded(client)
        log.info("web: %s logged in from %s", name, client)
        return name, 200, ""

    def set_cookie(self, response: Response, user: str) -> Session:
        """Start a session for ``user`` and put its cookie on ``response``."""
        session = self.sessions.create(user)
        response.set_cookie(COOKIE, session.sid, httponly=True, samesite="Strict",
                            secure=self.ctx.cfg.secure_cookie, path="/")
        return session

