"""Query and form parameters of the operator page, checked before anything is read or written.

Pure: the clock and the local zone are arguments. Every problem is a :class:`ParamError`
whose message names the parameter (the page shows it with a 400).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from urllib.parse import urlencode

EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
"""What an event id in a URL may look like (anything else is a 404 before any query)."""
MAX_PLATE = 32
"""Longest plate filter (the stored column is 32 characters)."""
MAX_REASON = 200
"""Longest manual-open reason kept in the audit."""
MAX_LIMIT = 1000
"""Most rows one request returns (the CSV export: :data:`MAX_EXPORT`)."""
MAX_EXPORT = 100_000


class ParamError(ValueError):
    """A parameter the page refuses (400); the message names it."""


def clean_text(name: str, value: str, max_len: int, *, required: bool = False) -> str:
    """``value`` stripped; ParamError when too long, holding a control character, or missing."""
    if len(value) > max_len:
        raise ParamError(f"{name}: at most {max_len} characters (got {len(value)})")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ParamError(f"{name}: control characters are not allowed")
    value = value.strip()
    if required and not value:
        raise ParamError(f"{name}: required")
    return value


def parse_time(name: str, value: str, tz: tzinfo) -> datetime | None:
    """``2026-12-04T16:30`` (a browser's datetime-local, zone ``tz``) or with an offset; None
    when empty."""
    value = clean_text(name, value, 40)
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ParamError(f"{name}: {value!r} is not a date and time (2026-12-04T16:30)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class PassageFilter:
    """What the passages page and API show."""

    plate: str = ""
    camera: str = ""
    since: datetime | None = None
    until: datetime | None = None
    since_text: str = ""
    until_text: str = ""
    limit: int = 50

    def cameras(self) -> list[str] | None:
        """The camera filter as a list for the query (None: all)."""
        return [self.camera] if self.camera else None

    def query_string(self) -> str:
        """The filter as URL parameters (for the CSV link and the live poll)."""
        pairs = [("plate", self.plate), ("camera", self.camera), ("since", self.since_text),
                 ("until", self.until_text)]
        return urlencode([(k, v) for k, v in pairs if v])


def passage_filter(args: Mapping[str, str], cameras: Sequence[str], tz: tzinfo, *,
                   max_limit: int = MAX_LIMIT) -> PassageFilter:
    """The filter from request arguments; ParamError names the first bad one."""
    plate = clean_text("plate", args.get("plate", ""), MAX_PLATE)
    camera = clean_text("camera", args.get("camera", ""), 64)
    if camera and camera not in cameras:
        raise ParamError(f"camera: no camera {camera!r}")
    since_text = args.get("since", "")
    until_text = args.get("until", "")
    since = parse_time("since", since_text, tz)
    until = parse_time("until", until_text, tz)
    if since and until and since >= until:
        raise ParamError("since: must be before until")
    raw = args.get("limit", "") or "50"
    try:
        limit = int(raw)
    except ValueError:
        raise ParamError(f"limit: {raw[:20]!r} is not a number") from None
    if not 1 <= limit <= max_limit:
        raise ParamError(f"limit: between 1 and {max_limit}")
    return PassageFilter(plate, camera, since, until, since_text.strip(), until_text.strip(),
                         limit)
