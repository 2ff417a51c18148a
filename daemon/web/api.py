"""The JSON half of the operator page, under the same login (README "Operator page API").

``POST /api/login`` with ``{"name", "password"}`` sets the session cookie and returns the
CSRF token that any later POST sends as ``X-CSRF-Token``. Passages are the MQTT event
shape (``Passage.as_event``). Errors are ``{"error": message}`` with the status code.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from werkzeug.exceptions import NotFound
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from daemon.access import entry_doc
from daemon.domain import Passage, utc_iso
from daemon.store import listfile
from daemon.store.audit import ManualOpen, manual_open_log
from daemon.store.corrections import corrections_for
from daemon.store.db import Store
from daemon.store.queries import passage_detail
from daemon.web import forms
from daemon.web.auth import Session


class _Context(Protocol):
    store: Store

    def now(self) -> datetime: ...


class WebApp(Protocol):
    """What the API needs of :class:`daemon.web.routes.WebApp` (which imports this module)."""

    @property
    def ctx(self) -> _Context: ...
    def login(self, request: Request, name: str | None = None, password: str | None = None
              ) -> tuple[str | None, int, str]: ...

    def set_cookie(self, response: Response, user: str) -> Session: ...
    def passage_filter(self, request: Request) -> forms.PassageFilter: ...
    def find(self, f: forms.PassageFilter) -> list[Passage]: ...
    def image(self, event_id: str, which: str) -> Response: ...
    def health(self) -> dict[str, Any]: ...
    def open_gate(self, session: Session, camera: str, reason_text: str) -> ManualOpen: ...

RULES = [
    Rule("/api/login", endpoint="api_login", methods=["POST"]),
    Rule("/api/passages", endpoint="api_passages", methods=["GET"]),
    Rule("/api/passages/<event_id>", endpoint="api_passage", methods=["GET"]),
    Rule("/api/passages/<event_id>/snapshot.jpg", endpoint="api_snapshot", methods=["GET"]),
    Rule("/api/passages/<event_id>/plate.jpg", endpoint="api_crop", methods=["GET"]),
    Rule("/api/health", endpoint="api_health", methods=["GET"]),
    Rule("/api/audit", endpoint="api_audit", methods=["GET"]),
    Rule("/api/lists", endpoint="api_lists", methods=["GET"]),
    Rule("/api/gates/<camera>/open", endpoint="api_open", methods=["POST"]),
]


def reply(doc: Any, status: int = 200) -> Response:
    """A JSON response (UTF-8, plates as characters)."""
    return Response(json.dumps(doc, ensure_ascii=False, default=str), status=status,
                    mimetype="application/json")


def error(status: int, message: str) -> Response:
    """``{"error": message}`` with ``status``."""
    return reply({"error": message}, status)


def api_login(app: WebApp, request: Request, _session: None) -> Response:
    """Check a JSON ``{"name", "password"}``; the cookie and ``{"user", "csrf"}`` on success."""
    try:
        body = json.loads(request.get_data(cache=False, as_text=True) or "{}")
    except ValueError:
        return error(400, "body: not JSON")
    if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("name", "password")):
        return error(400, "body: expected {\"name\": ..., \"password\": ...}")
    user, status, message = app.login(request, body["name"], body["password"])
    if user is None:
        return error(status, message)
    response = reply({"user": user})
    session = app.set_cookie(response, user)
    response.set_data(json.dumps({"user": user, "csrf": session.csrf}))
    return response


def api_passages(app: WebApp, request: Request, _session: Session) -> Response:
    """``?plate=&camera=&since=&until=&limit=``: passages newest first."""
    f = app.passage_filter(request)
    return reply({"passages": [p.as_event() for p in app.find(f)]})


def api_passage(app: WebApp, _request: Request, _session: Session, event_id: str) -> Response:
    """One passage with its reads and MQTT delivery state."""
    d = passage_detail(app.ctx.store, event_id) if forms.EVENT_ID.match(event_id) else None
    if d is None:
        raise NotFound
    reads = [{**r, "created_at": utc_iso(r["created_at"])} for r in d.reads]
    return reply({
        "passage": d.passage.as_event(), "reads": reads, "delivery": d.delivery_state,
        "messages": [{"topic": m.topic, "attempts": m.attempts,
                      "delivered_at": utc_iso(m.delivered_at) if m.delivered_at else None}
                     for m in d.deliveries],
        "corrections": [{"plate": c.plate, "operator": c.operator, "at": utc_iso(c.at),
                         "event_id": c.corrected_event_id, "access": c.access,
                         "access_reason": c.access_reason}
                        for c in corrections_for(app.ctx.store, event_id)],
    })


def api_snapshot(app: WebApp, _request: Request, _session: Session, event_id: str) -> Response:
    """The snapshot JPEG, plate box drawn."""
    return app.image(event_id, "snapshot")


def api_crop(app: WebApp, _request: Request, _session: Session, event_id: str) -> Response:
    """The plate crop JPEG."""
    return app.image(event_id, "crop")


def api_health(app: WebApp, _request: Request, _session: Session) -> Response:
    """Cameras, OCR circuit, calls today, storage, broker."""
    return reply(app.health())


def api_audit(app: WebApp, _request: Request, _session: Session) -> Response:
    """Manual opens, newest first."""
    return reply({"manual_opens": [
        {"at": utc_iso(m.at), "operator": m.operator, "camera": m.camera, "reason": m.reason,
         "event_id": m.event_id, "outcome": m.outcome}
        for m in manual_open_log(app.ctx.store)]})


def api_lists(app: WebApp, request: Request, _session: Session) -> Response:
    """Both access lists, deny first, every field (``?q=``: search as the page does)."""
    q = forms.clean_text("q", request.args.get("q", ""), 64)
    now = app.ctx.now()
    return reply({"entries": [entry_doc(e, now) for e in
                              listfile.search(app.ctx.store.access_entries(), q)]})


def api_open(app: WebApp, request: Request, session: Session, camera: str) -> Response:
    """``{"reason": ...}``: open ``camera``'s gate (the same rules and audit as the page)."""
    try:
        body = json.loads(request.get_data(cache=False, as_text=True) or "{}")
    except ValueError:
        return error(400, "body: not JSON")
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str):
        return error(400, "reason: required")
    entry = app.open_gate(session, camera, reason)
    return reply({"event_id": entry.event_id, "outcome": entry.outcome},
                 200 if entry.outcome == "sent" else 503)
