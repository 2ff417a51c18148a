"""The allow / deny lists on the operator page: the same table and plate rules as
``gatecam allow`` (normalised, GA 36 grammar), read by the running daemon within
``access.refresh_s``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from daemon import plates
from daemon.store.db import ACCESS_KINDS, Store
from daemon.store.records import AccessEntry
from daemon.web import forms
from daemon.web.forms import ParamError

MAX_NOTE = 255


def entry(form: Mapping[str, str], *, check_grammar: bool = True) -> tuple[str, str, str]:
    """(plate, kind, note) from a form; ParamError names the bad field."""
    text = forms.clean_text("plate", form.get("plate", ""), forms.MAX_PLATE, required=True)
    plate = plates.normalize(text)
    if check_grammar and not plates.is_valid(plate):
        raise ParamError(f"plate: {plate!r} is not a plate of the GA 36 layouts")
    kind = form.get("kind", "allow")
    if kind not in ACCESS_KINDS:
        raise ParamError(f"kind: one of {', '.join(ACCESS_KINDS)}")
    note = forms.clean_text("note", form.get("note", ""), MAX_NOTE)
    return plate, kind, note


def search(store: Store, q: str) -> list[AccessEntry]:
    """Entries whose plate (normalised) or note contains ``q``; all when empty."""
    entries = store.access_entries()
    if not q:
        return entries
    norm, low = plates.normalize(q), q.lower()
    return [e for e in entries if (norm and norm in e.plate) or low in (e.note or "").lower()]


def to_csv(store: Store) -> str:
    """``plate,kind,note`` lines, as ``gatecam allow import`` reads them."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for e in store.access_entries():
        w.writerow([e.plate, e.kind, e.note or ""])
    return out.getvalue()
