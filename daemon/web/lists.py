"""The allow / deny lists on the operator page: forms and files into entries, with the same
fields, rules and CSV format as ``gatecam allow`` (:mod:`daemon.store.listfile`), read by
the running daemon within ``access.refresh_s``. Pure: the zone and the cameras are given.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, tzinfo

from werkzeug.datastructures import MultiDict

from daemon import plates
from daemon.store import listfile
from daemon.store.listfile import EntryError, Fields, Parsed
from daemon.store.records import ACCESS_KINDS, AccessEntry
from daemon.web import forms
from daemon.web.forms import ParamError

MAX_FILE = 1024 * 1024
"""Largest CSV the page imports (about 15,000 entries)."""


def key(form: Mapping[str, str]) -> tuple[str, str]:
    """(plate, kind) naming an existing entry (no grammar check: an old entry may break it)."""
    text = forms.clean_text("plate", form.get("plate", ""), forms.MAX_PLATE, required=True)
    kind = form.get("kind", "allow")
    if kind not in ACCESS_KINDS:
        raise ParamError(f"kind: one of {', '.join(ACCESS_KINDS)}")
    return plates.normalize(text), kind


def entry(form: MultiDict[str, str], tz: tzinfo, cameras: Collection[str], *,
          check_grammar: bool = True) -> AccessEntry:
    """The entry a form describes; ParamError names the bad field."""
    forms.clean_text("plate", form.get("plate", ""), forms.MAX_PLATE, required=True)
    values = {name: form.get(name, "") for name in
              ("note", "owner", "valid_from", "valid_until", "direction")}
    for name, value in values.items():  # control characters, 1,000-character fields
        forms.clean_text(name, value, listfile.MAX_NOTE)
    try:
        return listfile.parse_entry(
            Fields(form.get("plate", ""), form.get("kind", "allow"),
                   cameras=" ".join(form.getlist("cameras")), **values),
            force=not check_grammar, tz=tz, cameras=cameras)
    except EntryError as exc:
        raise ParamError(str(exc).replace(" (use --force to keep it anyway)", "")) from None


def read_file(data: bytes, tz: tzinfo, cameras: Collection[str]) -> Parsed:
    """The entries of an uploaded CSV file; ParamError when it is too big or not UTF-8."""
    if len(data) > MAX_FILE:
        raise ParamError(f"file: at most {MAX_FILE // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParamError(f"file: not UTF-8 (byte {exc.start})") from None
    return listfile.parse_file(text, tz=tz, cameras=cameras)


def local_text(when: datetime | None, tz: tzinfo) -> str:
    """A bound as a form shows it (local, to the second; the form reads it back the same)."""
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if when else ""


def camera_choices(configured: Sequence[str], e: AccessEntry | None) -> list[str]:
    """The cameras a form offers: the configured ones, and any the entry names besides."""
    extra = [c for c in (e.cameras if e else ()) if c not in configured]
    return [*configured, *extra]
