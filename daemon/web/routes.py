"""The operator page as a WSGI application (werkzeug routing, Jinja2 templates).

Every route but ``/login`` needs a live session; every POST needs the session's CSRF token
(form field ``csrf`` or header ``X-CSRF-Token``), checked before anything is written (the
login form's own token: :mod:`daemon.web.login`).
HTML pages redirect a visitor without a session to ``/login``; the JSON API
(:mod:`daemon.web.api`) answers 401. Bad parameters are a 400 naming the parameter
(:mod:`daemon.web.forms`); a snapshot path leaving the snapshot directory is a 404.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from daemon.domain import Passage
from daemon.store import listfile
from daemon.store.audit import ManualOpen, manual_open_log, record_manual_open
from daemon.store.corrections import corrections_for
from daemon.store.queries import find_passages, passage_detail, write_csv
from daemon.web import api, forms, listpages, lists
from daemon.web.auth import Session, csrf_ok
from daemon.web.context import WebContext
from daemon.web.forms import ParamError
from daemon.web.health import health_doc
from daemon.web.images import boxed_jpeg, confine, crop_path
from daemon.web.login import COOKIE, LoginFlow

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
"""Largest request body (a login or a manual open is a few hundred bytes)."""
POLL_S = 3
"""How often the passages page asks for new rows."""

_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


_URLS = Map([
    Rule("/login", endpoint="login", methods=["GET", "POST"]),
    Rule("/logout", endpoint="logout", methods=["POST"]),
    Rule("/", endpoint="passages", methods=["GET"]),
    Rule("/passages/rows", endpoint="rows", methods=["GET"]),
    Rule("/passages.csv", endpoint="csv", methods=["GET"]),
    Rule("/passages/<event_id>", endpoint="passage", methods=["GET"]),
    Rule("/passages/<event_id>/snapshot.jpg", endpoint="snapshot", methods=["GET"]),
    Rule("/passages/<event_id>/plate.jpg", endpoint="crop", methods=["GET"]),
    Rule("/passages/<event_id>/correct", endpoint="correct", methods=["POST"]),
    Rule("/snapshots/<path:rel>", endpoint="snapfile", methods=["GET"]),
    Rule("/health", endpoint="health", methods=["GET"]),
    Rule("/gates", endpoint="gates", methods=["GET"]),
    Rule("/gates/<camera>/open", endpoint="open", methods=["POST"]),
    Rule("/audit", endpoint="audit", methods=["GET"]),
    *listpages.RULES,
    Rule("/static/<name>", endpoint="static", methods=["GET"]),
    *api.RULES,
], strict_slashes=False, merge_slashes=False)

_STATIC = {"live.js": "application/javascript", "page.css": "text/css"}


class WebApp(LoginFlow):
    """The WSGI callable: ``waitress.serve(WebApp(ctx))``; logging in is :class:`LoginFlow`."""

    def __init__(self, ctx: WebContext) -> None:
        super().__init__(ctx)
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("daemon.web", "templates"),
            autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self._env.filters["local"] = self._local
        self._env.filters["isolocal"] = self._isolocal
        self._env.globals["poll_s"] = POLL_S
        self._env.globals["format"] = listfile.FORMAT

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = (lists.MAX_FILE + MAX_BODY
                                      if request.path == listpages.IMPORT_PATH else MAX_BODY)
        request.max_form_memory_size = MAX_BODY
        response = self.dispatch(request)
        for k, v in _SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Route and call the handler; every failure becomes a clear status, never a crash."""
        try:
            return self._route(request)
        except ParamError as exc:
            return self._error(request, 400, str(exc), request.path.startswith("/api/"))
        except MethodNotAllowed as exc:
            return exc.get_response()
        except NotFound:
            return self._error(request, 404, "not found", request.path.startswith("/api/"))
        except HTTPException as exc:  # 413 body too large, 400 bad form encoding
            return exc.get_response()
        except Exception:  # a page must never take the daemon down; say so and log it
            log.exception("web: %s %s failed", request.method, request.path)
            return self._error(request, 500, "internal error (logged)",
                               request.path.startswith("/api/"))

    def _route(self, request: Request) -> Response:
        """Check the session and (for a POST) the CSRF token, then call the handler."""
        endpoint, args = _URLS.bind_to_environ(request.environ).match()
        if endpoint == "api_login":
            return self.on_api_login(request)
        if endpoint in ("login", "static"):
            return getattr(self, f"on_{endpoint}")(request, None, **args)  # type: ignore[no-any-return]
        session = self.sessions.get(request.cookies.get(COOKIE))
        is_api = endpoint.startswith("api_")
        if session is None:
            if is_api:
                return api.error(401, "login required (POST /api/login)")
            nxt = quote(request.full_path if request.method == "GET" else "/")
            return _redirect(f"/login?next={nxt}")
        if request.method == "POST" and not csrf_ok(
                session, request.headers.get("X-CSRF-Token") or request.form.get("csrf")):
            log.warning("web: %s %s refused: bad CSRF token (user %s, %s)",
                        request.method, request.path, session.user, request.remote_addr)
            return self._error(request, 403, "the form's security token is missing or "
                               "wrong: reload the page and try again", is_api)
        handler = (partial(getattr(api, endpoint), self) if is_api
                   else partial(getattr(listpages, endpoint), self)
                   if endpoint.startswith("lists") else getattr(self, f"on_{endpoint}"))
        return handler(request, session, **args)  # type: ignore[no-any-return]

    # -- helpers --
    def render(self, name: str, code: int = 200, **values: Any) -> Response:
        """A template as an HTML response with status ``code``."""
        html = self._env.get_template(name).render(**values)
        return Response(html, status=code, mimetype="text/html")

    def _error(self, request: Request, status: int, message: str, is_api: bool) -> Response:
        if is_api:
            return api.error(status, message)
        session = self.sessions.get(request.cookies.get(COOKIE))
        return self.render("error.html", status, message=message, status=status,
                           session=session)

    def _local(self, when: datetime | None) -> str:
        return when.astimezone(self.ctx.tz).strftime("%Y-%m-%d %H:%M:%S") if when else "-"

    def _isolocal(self, text: str | None) -> str:
        try:
            return self._local(datetime.fromisoformat(text)) if text else "-"
        except (TypeError, ValueError):
            return str(text)

    def passage_filter(self, request: Request, max_limit: int = forms.MAX_LIMIT
                       ) -> forms.PassageFilter:
        """The request's filter (ParamError on a bad parameter)."""
        return forms.passage_filter(request.args, self.ctx.cameras, self.ctx.tz,
                                    max_limit=max_limit)

    def find(self, f: forms.PassageFilter, limit: int | None = None) -> list[Passage]:
        """Passages of a filter, newest first."""
        return find_passages(self.ctx.store, plate=f.plate or None, cameras=f.cameras(),
                             since=f.since, until=f.until,
                             limit=f.limit if limit is None else limit)

    def image(self, event_id: str, which: str) -> Response:
        """The snapshot (plate box drawn) or the plate crop of a passage; 404 if none."""
        if not forms.EVENT_ID.match(event_id) or self.ctx.snapshots is None:
            raise NotFound
        detail = passage_detail(self.ctx.store, event_id)
        path = confine(self.ctx.snapshots, detail.passage.snapshot) if detail else None
        if path is None or detail is None:
            raise NotFound
        if which == "crop":
            crop = confine(self.ctx.snapshots, crop_path(path).relative_to(
                self.ctx.snapshots.resolve()).as_posix())
            if crop is None:
                raise NotFound
            return _jpeg(crop.read_bytes())
        return _jpeg(boxed_jpeg(path, detail.passage.rect))

    # -- pages --
    def on_logout(self, request: Request, session: Session) -> Response:
        """End the session."""
        self.sessions.drop(session.sid)
        response = _redirect("/login")
        response.delete_cookie(COOKIE, path="/")
        return response

    def on_static(self, _request: Request, _session: Session | None, name: str) -> Response:
        """The page's one script and one style sheet (no login: they hold nothing)."""
        if name not in _STATIC:
            raise NotFound
        text = (Path(__file__).parent / "static" / name).read_text(encoding="utf-8")
        response = Response(text, mimetype=_STATIC[name])
        response.headers["Cache-Control"] = "max-age=3600"
        return response

    def on_passages(self, request: Request, session: Session) -> Response:
        """The passages page, newest first, with filters and live rows."""
        f = self.passage_filter(request)
        return self.render("passages.html", session=session, f=f, rows=self.find(f),
                           cameras=self.ctx.cameras, qs=f.query_string())

    def on_rows(self, request: Request, session: Session) -> Response:
        """Just the table body (the page's poll replaces its rows with these)."""
        f = self.passage_filter(request)
        rows = self.find(f)
        response = self.render("rows.html", session=session, rows=rows)
        response.headers["X-Newest"] = rows[0].event_id if rows else ""
        return response

    def on_csv(self, request: Request, _session: Session) -> Response:
        """The filtered view as CSV (up to :data:`forms.MAX_EXPORT` rows)."""
        f = self.passage_filter(request)
        out = io.StringIO()
        write_csv(self.find(f, limit=forms.MAX_EXPORT), out)
        response = Response(out.getvalue(), mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="passages.csv"'
        return response

    def on_passage(self, _request: Request, session: Session, event_id: str) -> Response:
        """One passage: snapshot with the plate box, every read, the MQTT delivery state."""
        ok = forms.EVENT_ID.match(event_id)
        detail = passage_detail(self.ctx.store, event_id) if ok else None
        if detail is None:
            raise NotFound
        return self.render("passage.html", session=session, d=detail, p=detail.passage,
                           corrections=corrections_for(self.ctx.store, event_id),
                           can_correct=self.ctx.corrector is not None)

    def on_correct(self, request: Request, session: Session, event_id: str) -> Response:
        """POST: correct the passage's plate, then show the passage again."""
        ok = forms.EVENT_ID.match(event_id)
        detail = passage_detail(self.ctx.store, event_id) if ok else None
        if detail is None or self.ctx.corrector is None:
            raise NotFound
        c = self.ctx.corrector.correct(detail.passage, request.form.get("plate", ""),
                                       session.user, self.ctx.now())
        log.warning("web: %s corrected %s from %s to %s (%s)", session.user, event_id,
                    detail.passage.plate, c.plate, c.access)
        return _redirect(f"/passages/{quote(event_id)}")

    def on_snapshot(self, _request: Request, _session: Session, event_id: str) -> Response:
        """The snapshot JPEG with the plate box drawn."""
        return self.image(event_id, "snapshot")

    def on_crop(self, _request: Request, _session: Session, event_id: str) -> Response:
        """The plate crop JPEG."""
        return self.image(event_id, "crop")

    def on_snapfile(self, _request: Request, _session: Session, rel: str) -> Response:
        """A snapshot file by its stored relative path (confined to the directory)."""
        path = confine(self.ctx.snapshots, rel) if self.ctx.snapshots else None
        if path is None or path.suffix != ".jpg":
            raise NotFound
        return _jpeg(path.read_bytes())

    def health(self) -> dict[str, Any]:
        """The health figures (empty when no App is attached)."""
        if self.ctx.stages is None:
            return {}
        now = self.ctx.now()
        midnight = now.astimezone(self.ctx.tz).replace(hour=0, minute=0, second=0,
                                                        microsecond=0)
        return health_doc(self.ctx.stages(), now, midnight)

    def on_health(self, _request: Request, session: Session) -> Response:
        """Cameras, OCR circuit, calls today, storage, broker."""
        return self.render("health.html", session=session, h=self.health())

    def on_gates(self, request: Request, session: Session) -> Response:
        """A manual open button per gate camera (``?done=<event id>``: the last one's outcome)."""
        done = request.args.get("done", "")
        found = (manual_open_log(self.ctx.store, 1, done)
                 if forms.EVENT_ID.match(done) else [])
        return self.render("gates.html", session=session, gates=self.ctx.gate_cameras,
                           enabled=self.ctx.opener is not None,
                           result=found[0] if found else None)

    def open_gate(self, session: Session, camera: str, reason_text: str) -> ManualOpen:
        """Send a manual open through the gate rules and audit it (ParamError first)."""
        reason = forms.clean_text("reason", reason_text, forms.MAX_REASON, required=True)
        if camera not in self.ctx.gate_cameras or self.ctx.opener is None:
            raise NotFound
        event_id, why = self.ctx.opener(camera, session.user, reason)
        entry = ManualOpen(self.ctx.now(), session.user, camera, reason, event_id,
                           why or "sent")
        record_manual_open(self.ctx.store, entry)
        log.warning("web: manual open of %s by %s (%s): %s", camera, session.user, reason,
                    entry.outcome)
        return entry

    def on_open(self, request: Request, session: Session, camera: str) -> Response:
        """POST: open ``camera``'s gate now, then show the outcome on a GET (so a reload
        never sends a second open)."""
        entry = self.open_gate(session, camera, request.form.get("reason", ""))
        return _redirect(f"/gates?done={quote(entry.event_id)}")

    def on_audit(self, _request: Request, session: Session) -> Response:
        """Manual opens, newest first."""
        return self.render("audit.html", session=session,
                           rows=manual_open_log(self.ctx.store))


def _redirect(location: str) -> Response:
    return Response("", status=303, headers={"Location": location})


def _jpeg(data: bytes) -> Response:
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
