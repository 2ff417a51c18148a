"""The lists pages of the operator page: list and search, add, edit, remove, CSV import and
export of the allow / deny lists (the same entries and rules as ``gatecam allow``).

Routed by :mod:`daemon.web.routes` (session and CSRF are checked there, before any
handler here runs). Every change is logged with the operator's name. A bad field or a bad
import line is a 400 that names it, and nothing is written; an import is one transaction.
``--replace`` of the CLI is the form's "replace" box, and like it, it refuses to drop a
deny entry the file does not list unless "drop deny" is ticked too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, Protocol

from werkzeug.exceptions import NotFound
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from daemon.access import entry_state
from daemon.store import listfile
from daemon.store.db import Store
from daemon.web import forms, lists
from daemon.web.auth import Session
from daemon.web.forms import ParamError

log = logging.getLogger(__name__)

RULES = [
    Rule("/lists", endpoint="lists_page", methods=["GET"]),
    Rule("/lists.csv", endpoint="lists_csv", methods=["GET"]),
    Rule("/lists/add", endpoint="lists_add", methods=["POST"]),
    Rule("/lists/edit", endpoint="lists_edit", methods=["GET", "POST"]),
    Rule("/lists/remove", endpoint="lists_remove", methods=["POST"]),
    Rule("/lists/import", endpoint="lists_import", methods=["POST"]),
]
IMPORT_PATH = "/lists/import"
"""The one route whose body may be a file (up to :data:`daemon.web.lists.MAX_FILE`)."""


class _Context(Protocol):
    store: Store
    cameras: Sequence[str]
    list_cameras: Sequence[str]
    tz: tzinfo

    def now(self) -> datetime: ...


class WebApp(Protocol):
    """What these pages need of :class:`daemon.web.routes.WebApp` (which imports this)."""

    @property
    def ctx(self) -> _Context: ...
    def render(self, name: str, code: int = 200, **values: Any) -> Response: ...


def _redirect(location: str) -> Response:
    return Response("", status=303, headers={"Location": location})


def _cameras(app: WebApp) -> Sequence[str]:
    return app.ctx.list_cameras or app.ctx.cameras


def lists_page(app: WebApp, request: Request, session: Session) -> Response:
    """Both lists, deny first; ``?q=`` searches plate, owner, note and cameras."""
    q = forms.clean_text("q", request.args.get("q", ""), 64)
    entries = listfile.search(app.ctx.store.access_entries(), q)
    done = {k: int(v) for k in ("added", "updated", "removed")
            if (v := request.args.get(k, "")).isdigit()}
    now = app.ctx.now()
    return app.render("lists.html", session=session, entries=entries, q=q, done=done,
                      states={(e.plate, e.kind): entry_state(e, now) for e in entries},
                      cameras=_cameras(app), window=listfile.window_text,
                      scope=listfile.scope_text, tz=app.ctx.tz)


def lists_csv(app: WebApp, _request: Request, _session: Session) -> Response:
    """Both lists as the CSV ``gatecam allow import`` and this page's import read."""
    text = listfile.to_csv(app.ctx.store.access_entries(), app.ctx.tz)
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="access-lists.csv"'
    return response


def lists_add(app: WebApp, request: Request, session: Session) -> Response:
    """POST: a new entry (one already on that list is left as it is: edit changes it)."""
    e = lists.entry(request.form, app.ctx.tz, _cameras(app))
    if not app.ctx.store.access_put(e, overwrite=False):
        raise ParamError(f"plate: {e.plate} is on the {e.kind} list already (edit it there)")
    log.warning("web: %s put %s on the %s list (%s, %s)", session.user, e.plate, e.kind,
                listfile.window_text(e, app.ctx.tz), listfile.scope_text(e))
    return _redirect("/lists")


def lists_edit(app: WebApp, request: Request, session: Session) -> Response:
    """GET: the entry's form; POST: its new fields (plate and list stay)."""
    source = request.form if request.method == "POST" else request.args
    plate, kind = lists.key(source)
    old = next((e for e in app.ctx.store.access_entries()
                if (e.plate, e.kind) == (plate, kind)), None)
    if old is None:
        raise NotFound
    choices = lists.camera_choices(_cameras(app), old)
    if request.method == "GET":
        return app.render("list_edit.html", session=session, e=old, cameras=choices,
                          when=lambda w: lists.local_text(w, app.ctx.tz))
    new = lists.entry(request.form, app.ctx.tz, choices, check_grammar=False)
    if (new.plate, new.kind) != (plate, kind):
        raise ParamError("plate: cannot be changed (remove the entry and add another)")
    app.ctx.store.access_put(new)
    log.warning("web: %s changed %s on the %s list (%s, %s)", session.user, plate, kind,
                listfile.window_text(new, app.ctx.tz), listfile.scope_text(new))
    return _redirect("/lists")


def lists_remove(app: WebApp, request: Request, session: Session) -> Response:
    """POST: take a plate off one list."""
    plate, kind = lists.key(request.form)
    removed = app.ctx.store.access_remove(plate, kind)
    log.warning("web: %s took %s off the %s list (%d removed)", session.user, plate, kind,
                removed)
    return _redirect(f"/lists?removed={removed}")


def lists_import(app: WebApp, request: Request, session: Session) -> Response:
    """POST a CSV file: add (or with ``replace``, swap both lists for) its entries; any bad
    line is a 400 listing every problem, and nothing is written."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ParamError("file: choose a CSV file")
    got = lists.read_file(upload.read(lists.MAX_FILE + 1), app.ctx.tz, _cameras(app))
    store = app.ctx.store
    current = store.access_entries()
    gone = listfile.dropped(current, got.entries) if request.form.get("replace") else []
    if not got.errors and not request.form.get("drop_deny"):
        got.errors += [f"{e.plate}: on the deny list and not in the file; tick \"drop deny "
                       "entries\" to remove it" for e in gone if e.kind == "deny"]
    if got.errors:
        return app.render("error.html", 400, session=session, status=400,
                          message=f"{upload.filename}: nothing imported", details=got.errors)
    if request.form.get("replace"):
        had = {(e.plate, e.kind) for e in current}
        store.access_replace(got.entries)
        added = sum((e.plate, e.kind) not in had for e in got.entries)
    else:
        added = store.access_put_all(got.entries)
    updated = len(got.entries) - added
    log.warning("web: %s imported %s: %d added, %d updated, %d removed", session.user,
                upload.filename[:100], added, updated, len(gone))
    return _redirect(f"/lists?added={added}&updated={updated}&removed={len(gone)}")
