"""Parse a LicensePlateOCR answer: the envelope, an error code, or the plates; pure, no I/O.

:func:`parse_response` never raises anything but :class:`daemon.ocr.errors.OcrError`
subclasses, whatever the status, content type or body (tests fuzz it with thousands
of hostile answers). Text that goes on into logs, the database and MQTT is bounded and
printable: control and format characters (NUL, CR/LF, escapes, zero-width, BOM, bidi
overrides) are removed from ``Number``, ``Color`` and the category, which must then fit
:data:`MAX_NUMBER` / :data:`MAX_LABEL` characters; an error ``Code`` must look like one;
its ``Message`` is cut to :data:`MAX_MESSAGE`; a ``RequestId`` that is not short and
printable counts as absent. :func:`server_time` reads the ``Date`` header for clock resync.
"""

from __future__ import annotations

import email.utils
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.domain import Rect
from daemon.ocr.errors import OcrBadResponseError, OcrServiceError, OcrTransportError

JSON_CONTENT = "application/json"
MAX_NUMBER = 16
"""Longest plate text kept (Chinese plates are 7-8 characters, special ones ~10)."""
MAX_LABEL = 32
"""Longest colour or category label kept."""
MAX_MESSAGE = 200
"""An error message is cut to this many characters."""
MAX_REQUEST_ID = 64
_CODE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
_MAX_CODE = 80
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories dropped from text: controls, format (zero-width, BOM, bidi),
surrogates, private use, unassigned, line and paragraph separators."""


def clean_text(value: str) -> str:
    """``value`` without control/format/unassigned characters and surrounding spaces."""
    return "".join(ch for ch in value if unicodedata.category(ch) not in _INVISIBLE).strip()


@dataclass(frozen=True, slots=True)
class PlateInfo:
    """One plate in a LicensePlateInfos entry; rect in the sent image's pixels."""

    plate: str
    color: str
    confidence: int
    category: str
    rect: Rect


@dataclass(frozen=True, slots=True)
class OcrResult:
    """A successful LicensePlateOCR answer; rect is in the *sent image's* pixels."""

    plate: str
    """The best plate, without "·"."""
    color: str
    confidence: int
    category: str
    rect: Rect
    request_id: str
    plates: tuple[PlateInfo, ...]
    """Every plate the service found (at least the best one)."""


def _field(obj: Mapping[str, Any], key: str, kind: type, request_id: str | None) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise OcrBadResponseError(f"field {key} is not {kind.__name__}", request_id=request_id)
    return value


def _int(obj: Mapping[str, Any], key: str, request_id: str | None, lo: int, hi: int) -> int:
    value = obj.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise OcrBadResponseError(f"{key} not an integer in [{lo}, {hi}]", request_id=request_id)
    return value


_MAX_PX = 1 << 20


def _rect(obj: Mapping[str, Any], request_id: str | None) -> Rect:
    raw = _field(obj, "Rect", dict, request_id)
    return Rect(
        x=_int(raw, "X", request_id, -_MAX_PX, _MAX_PX),
        y=_int(raw, "Y", request_id, -_MAX_PX, _MAX_PX),
        width=_int(raw, "Width", request_id, 0, _MAX_PX),
        height=_int(raw, "Height", request_id, 0, _MAX_PX),
    )


def _label(value: str, key: str, limit: int, request_id: str | None) -> str:
    """A cleaned text field, refused (without echoing it) when longer than ``limit``."""
    clean = clean_text(value[: limit * 4 + 64])  # never scan more than a plausible value
    if len(clean) > limit or len(value) > limit * 4 + 64:
        raise OcrBadResponseError(f"{key} longer than {limit} characters", request_id=request_id)
    return clean


def _plate_info(obj: Mapping[str, Any], request_id: str | None) -> PlateInfo:
    raw = _field(obj, "Number", str, request_id)
    number = _label(raw, "Number", MAX_NUMBER, request_id).replace("·", "").strip()
    if not number:
        raise OcrBadResponseError("empty Number", request_id=request_id)
    category = obj.get("LicensePlateCategory", "")
    if not isinstance(category, str):
        raise OcrBadResponseError("LicensePlateCategory is not str", request_id=request_id)
    return PlateInfo(
        plate=number,
        color=_label(_field(obj, "Color", str, request_id), "Color", MAX_LABEL, request_id),
        confidence=_int(obj, "Confidence", request_id, 0, 100),
        category=_label(category, "LicensePlateCategory", MAX_LABEL, request_id),
        rect=_rect(obj, request_id),
    )


def _media_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower()


def _envelope(status: int, content_type: str | None, body: bytes) -> dict[str, Any]:
    """The ``Response`` object, or the transport/format error that stands in its way."""
    media = _media_type(content_type)
    problem = None
    response: Any = None
    if media not in (None, JSON_CONTENT, "text/plain"):
        problem = f"content type {media}"
    else:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            data = None
            problem = "body is not JSON"
        response = data.get("Response") if isinstance(data, dict) else None
        if problem is None and not isinstance(response, dict):
            problem = "no Response object"
    if problem is not None:
        if status != 200:
            raise OcrTransportError(f"HttpStatus.{status}", problem)
        raise OcrBadResponseError(problem)
    assert isinstance(response, dict)  # noqa: S101 - narrowed above for mypy
    return response


def parse_response(status: int, content_type: str | None, body: bytes) -> OcrResult:
    """Turn an HTTP answer into an OcrResult; anything else raises an OcrError subclass."""
    response = _envelope(status, content_type, body)
    request_id = _request_id(response.get("RequestId"))
    if "Error" in response:
        error = response["Error"]
        code = error.get("Code") if isinstance(error, dict) else None
        if not isinstance(code, str) or not code:
            raise OcrBadResponseError("Error without a Code", request_id=request_id)
        if len(code) > _MAX_CODE or not _CODE_RE.fullmatch(code):
            raise OcrBadResponseError("Error Code is not a code", request_id=request_id)
        message = error.get("Message", "")
        message = clean_text(message[: MAX_MESSAGE * 2])[:MAX_MESSAGE] if isinstance(
            message, str) else ""
        raise OcrServiceError(code, message, request_id=request_id)
    if status != 200:
        raise OcrTransportError(f"HttpStatus.{status}", "success envelope", request_id=request_id)
    if request_id is None:
        raise OcrBadResponseError("missing RequestId")
    best = _plate_info(response, request_id)
    infos = response.get("LicensePlateInfos")
    if infos is None:
        plates: tuple[PlateInfo, ...] = (best,)
    elif isinstance(infos, list) and all(isinstance(i, dict) for i in infos):
        plates = tuple(_plate_info(i, request_id) for i in infos) or (best,)
    else:
        raise OcrBadResponseError("LicensePlateInfos not a list of objects", request_id=request_id)
    return OcrResult(
        plate=best.plate,
        color=best.color,
        confidence=best.confidence,
        category=best.category,
        rect=best.rect,
        request_id=request_id,
        plates=plates,
    )


def _request_id(value: Any) -> str | None:
    """The RequestId if it is a short printable ASCII string (it goes into log lines)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REQUEST_ID:
        return None
    return value if value.isascii() and value.isprintable() else None


def server_time(date_header: str | None) -> float | None:
    """Seconds since the epoch from an HTTP ``Date`` header, or None if absent or unparsable."""
    if not date_header:
        return None
    try:
        return email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


__all__ = [
    "JSON_CONTENT", "MAX_MESSAGE", "MAX_NUMBER", "OcrResult", "PlateInfo", "clean_text",
    "parse_response", "server_time",
]
