"""The access lists as text: an entry's fields parsed and checked, the CSV file (import and
export, the same format for ``gatecam allow`` and the operator page), search. Pure: the
local time zone is an argument (None: the system's own rules, daylight saving included).

One entry a line, ``PLATE[,allow|deny[,note[,owner[,valid_from[,valid_until[,cameras[,
direction]]]]]]]`` (UTF-8, a BOM is fine; a line whose first non-blank character is ``#``
is a comment, a ``#`` in a field is text; quote a field that has commas). The list
defaults to ``allow``; empty fields mean no note, no owner, no bound, every camera, either
direction. Times are ``2026-12-01`` (a day: valid_from its first second, valid_until its
last), ``2026-12-01T08:00[:SS]`` in local time, or with an offset (``+08:00``, ``Z``); both
bounds are inclusive, to the second. Cameras are camera ids separated by spaces, commas or
semicolons. The export writes all eight fields (times in local time with their offset)
under a ``#`` header line, so an exported file imports back to the same entries.

A spreadsheet runs a cell that starts with ``= + - @`` (or a tab, a carriage return) as a
formula: an exported note or owner starting so gets a leading ``'`` (shown as text there),
which the import takes off again (:func:`guard`, :func:`unguard`); a ``'`` before any other
character is the text's own.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any

from daemon import plates
from daemon.store.records import ACCESS_KINDS, ANY_DIRECTION, DIRECTIONS, AccessEntry

FIELDS = ("plate", "list", "note", "owner", "valid_from", "valid_until", "cameras",
          "direction")
FORMAT = "PLATE[,allow|deny[,note[,owner[,valid_from[,valid_until[,cameras[,direction]]]]]]]"
HEADER = "# " + ",".join(FIELDS)
MAX_NOTE = 255
MAX_OWNER = 100
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SPLIT = re.compile(r"[\s,;]+")


class EntryError(ValueError):
    """A field gatecam refuses; the message names the field and says what is expected."""


def visible(text: str) -> str:
    """``text`` without Unicode format characters (BOM, zero-width), stripped."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()


def _text(name: str, value: str | None, max_len: int) -> str | None:
    value = visible(value or "")
    if len(value) > max_len:
        raise EntryError(f"{name}: at most {max_len} characters (got {len(value)})")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise EntryError(f"{name}: control characters are not allowed")
    return value or None


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def guard(text: str) -> str:
    """``text`` safe in a spreadsheet cell: a leading formula character (or a ``'`` that
    :func:`unguard` would take off) gets a ``'`` in front."""
    starts = text[:1] in _FORMULA or (text[:1] == "'" and text[1:2] in (*_FORMULA, "'"))
    return "'" + text if starts else text


def unguard(text: str) -> str:
    """A cell as :func:`guard` wrote it, back to its text."""
    return text[1:] if text[:1] == "'" and text[1:2] in (*_FORMULA, "'") else text


def _local(naive: datetime, tz: tzinfo | None) -> datetime:
    return naive.astimezone() if tz is None else naive.replace(tzinfo=tz)


def parse_when(name: str, text: str | None, tz: tzinfo | None, *, end: bool) -> datetime | None:
    """A bound of the window (aware, to the second); None when empty. A day alone is its
    first second, or its last when ``end`` (valid_until ``2026-11-30`` holds all that day)."""
    value = visible(text or "")
    if not value:
        return None
    try:
        if _DAY.match(value):
            day = date.fromisoformat(value)
            return _local(datetime.combine(day, time(23, 59, 59) if end else time()), tz)
        when = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise EntryError(f"{name}: {value!r} is not a day or a time (2026-12-01, "
                         "2026-12-01T08:00, 2026-12-01T08:00+08:00)") from None
    when = when.replace(microsecond=0)
    return _local(when, tz) if when.tzinfo is None else when


def parse_cameras(text: str | None, known: Collection[str] | None) -> tuple[str, ...]:
    """Camera ids (empty: every camera); EntryError naming one not in ``known`` (if given)."""
    found: list[str] = []
    for cam in _SPLIT.split(visible(text or "")):
        if cam and cam not in found:
            if known is not None and cam not in known:
                raise EntryError(f"cameras: no camera {cam!r} (cameras: {', '.join(known)})")
            found.append(cam)
    return tuple(found)


def parse_direction(text: str | None) -> str:
    """``entry``, ``exit`` or ``any`` (empty: any)."""
    value = visible(text or "").lower() or ANY_DIRECTION
    if value not in DIRECTIONS:
        raise EntryError(f"direction: {value!r} is not one of {', '.join(DIRECTIONS)}")
    return value


def parse_plate(text: str, force: bool) -> str:
    """The normalised plate; EntryError when empty or outside the grammar (unless force)."""
    plate = plates.normalize(text)
    if not plate:
        raise EntryError("no plate")
    if not plates.is_valid(plate) and not force:
        raise EntryError(f"{text!r} is not a valid plate (use --force to keep it anyway)")
    if len(plate) > 32:
        raise EntryError(f"plate: at most 32 characters (got {len(plate)})")
    return plate


@dataclass(frozen=True, slots=True)
class Fields:
    """An entry as text (a CSV line's cells, a form, the command line's options)."""

    plate: str
    kind: str = "allow"
    note: str | None = None
    owner: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    cameras: str | None = None
    direction: str | None = None


def parse_entry(f: Fields, *, force: bool = False, tz: tzinfo | None = None,
                cameras: Collection[str] | None = None) -> AccessEntry:
    """The entry of text fields; EntryError on the first bad one."""
    kind = visible(f.kind).lower() or "allow"
    if kind not in ACCESS_KINDS:
        raise EntryError(f"list {f.kind!r} is not allow or deny")
    plate = parse_plate(f.plate, force)
    since = parse_when("valid_from", f.valid_from, tz, end=False)
    until = parse_when("valid_until", f.valid_until, tz, end=True)
    if since and until and since > until:
        raise EntryError("valid_from: after valid_until")
    return AccessEntry(
        plate, kind, _text("note", f.note, MAX_NOTE), None, _text("owner", f.owner, MAX_OWNER),
        since, until, parse_cameras(f.cameras, cameras), parse_direction(f.direction))


def parse_changes(given: Mapping[str, str], *, tz: tzinfo | None = None,
                  cameras: Collection[str] | None = None) -> dict[str, Any]:
    """The fields of an edit (``valid_from``, ``cameras``, ...) parsed; an empty one clears
    the field. EntryError on a bad one or a field that cannot be edited."""
    parsers: dict[str, Callable[[str], Any]] = {
        "note": lambda v: _text("note", v, MAX_NOTE),
        "owner": lambda v: _text("owner", v, MAX_OWNER),
        "valid_from": lambda v: parse_when("valid_from", v, tz, end=False),
        "valid_until": lambda v: parse_when("valid_until", v, tz, end=True),
        "cameras": lambda v: parse_cameras(v, cameras),
        "direction": parse_direction,
    }
    unknown = set(given) - set(parsers)
    if unknown:
        raise EntryError(f"{', '.join(sorted(unknown))}: cannot be edited")
    return {k: parsers[k](v) for k, v in given.items()}


def lines(text: str) -> list[str]:
    """Physical lines: only line breaks break lines (str.splitlines() would also split a
    note at U+2028 or \\x1c)."""
    found = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return found[:-1] if found and found[-1] == "" else found


def _cells(line: str) -> list[str]:
    """The fields of one line; csv.Error on a quote left open or stray text after one."""
    rows = list(csv.reader([line], strict=True, skipinitialspace=True))
    return [cell.strip() for cell in rows[0]] if rows else []


def _line_entry(line: str, force: bool, tz: tzinfo | None,
                cameras: Collection[str] | None) -> AccessEntry | str:
    """The entry of one line, or why it is refused."""
    try:
        cells = _cells(line)
    except csv.Error as exc:
        return f"{exc} (a quote left open? quote a whole field: \"note, with comma\")"
    if len(cells) > len(FIELDS):
        return (f"{len(cells)} fields, expected at most {len(FIELDS)}: {FORMAT} "
                "(quote a field that has commas)")
    cells[2:4] = [unguard(c) for c in cells[2:4]]  # note, owner
    try:
        return parse_entry(Fields(*cells), force=force, tz=tz, cameras=cameras)
    except EntryError as exc:
        return str(exc)


@dataclass
class Parsed:
    """What a file holds: entries, errors (``line N: problem``), skipped lines (N, why)."""

    entries: list[AccessEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def parse_file(text: str, *, force: bool = False, tz: tzinfo | None = None,
               cameras: Collection[str] | None = None) -> Parsed:
    """Every line of a file's text, checked.

    Each physical line is one entry, parsed with the csv module on its own, so a quote
    left open is an error on its line and never swallows the lines after it. A BOM and
    other invisible characters never reach a plate (daemon.plates.normalize). The same
    plate on both lists, or twice with different fields, is an error; an exact duplicate
    line is skipped and reported.
    """
    out = Parsed()
    seen: dict[str, tuple[int, AccessEntry]] = {}
    for n, line in enumerate(lines(text.removeprefix("\ufeff")), start=1):
        shown = visible(line)
        if not shown or shown.startswith("#"):
            out.skipped.append((n, "comment" if shown else "blank line"))
            continue
        got = _line_entry(line, force, tz, cameras)
        if isinstance(got, str):
            out.errors.append(f"line {n}: {got}")
            continue
        first = seen.get(got.plate)
        if first is None:
            seen[got.plate] = (n, got)
            out.entries.append(got)
        elif first[1] == got:
            out.skipped.append((n, f"duplicate of line {first[0]}"))
        elif first[1].kind != got.kind:
            out.errors.append(f"line {n}: {got.plate} is on the {got.kind} list here and on "
                              f"the {first[1].kind} list at line {first[0]}")
        else:
            out.errors.append(f"line {n}: {got.plate} again with other fields (line "
                              f"{first[0]})")
    return out


def show_when(when: datetime | None, tz: tzinfo | None) -> str:
    """A bound as the file writes it: local time with its offset, to the second ('' if none)."""
    if when is None:
        return ""
    return (when.astimezone() if tz is None else when.astimezone(tz)).isoformat("T", "seconds")


def row(e: AccessEntry, tz: tzinfo | None) -> list[str]:
    """The eight fields of one entry."""
    return [e.plate, e.kind, guard(e.note or ""), guard(e.owner or ""),
            show_when(e.valid_from, tz), show_when(e.valid_until, tz), " ".join(e.cameras),
            e.direction]


def to_csv(entries: Iterable[AccessEntry], tz: tzinfo | None) -> str:
    """The file ``parse_file`` reads back to the same entries, under a ``#`` header line."""
    out = io.StringIO()
    out.write(HEADER + "\n")
    w = csv.writer(out, lineterminator="\n")
    for e in entries:
        w.writerow(row(e, tz))
    return out.getvalue()


def search(entries: Iterable[AccessEntry], q: str) -> list[AccessEntry]:
    """Entries whose plate (normalised) holds ``q``, or whose note, owner or cameras do
    (any case); all when ``q`` is empty."""
    q = visible(q)
    norm, low = plates.normalize(q), q.lower()
    return [e for e in entries if not q or (norm and norm in e.plate) or any(
        low in (text or "").lower() for text in (e.note, e.owner, " ".join(e.cameras)))]


def dropped(current: Iterable[AccessEntry], new: Iterable[AccessEntry]) -> list[AccessEntry]:
    """The entries of ``current`` that replacing the lists with ``new`` would remove."""
    wanted = {(e.plate, e.kind) for e in new}
    return [e for e in current if (plates.normalize(e.plate), e.kind) not in wanted]


def window_text(e: AccessEntry, tz: tzinfo | None) -> str:
    """``always``, ``from X``, ``until Y`` or ``X – Y`` (local time, to the minute)."""
    def fmt(w: datetime) -> str:
        return (w.astimezone() if tz is None else w.astimezone(tz)).strftime("%Y-%m-%d %H:%M")
    if e.valid_from and e.valid_until:
        return f"{fmt(e.valid_from)} – {fmt(e.valid_until)}"
    if e.valid_from:
        return f"from {fmt(e.valid_from)}"
    return f"until {fmt(e.valid_until)}" if e.valid_until else "always"


def scope_text(e: AccessEntry) -> str:
    """``all lanes``, or the cameras and/or the direction the entry holds on."""
    parts = [" ".join(e.cameras)] if e.cameras else []
    if e.direction != ANY_DIRECTION:
        parts.append(f"{e.direction} only")
    return ", ".join(parts) or "all lanes"

