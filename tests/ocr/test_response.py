"""daemon.ocr.response on its own: envelope, plates, and hostile text fields (issue 12, 17).

``Number`` goes into log lines, the database and MQTT payloads: it must be a short,
printable string whatever the server sends. (The broad fuzz and type tests of
parse_response live in test_tencent.py, through its re-export.)
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from daemon.domain import Rect
from daemon.ocr.errors import Action, OcrError
from daemon.ocr.response import (
    MAX_MESSAGE,
    MAX_NUMBER,
    PlateInfo,
    parse_response,
    server_time,
)

JSON = "application/json"
BEST: dict[str, Any] = {
    "Number": "京A·F0236", "Confidence": 99, "Color": "蓝", "LicensePlateCategory": "实体车牌",
    "Rect": {"X": 426, "Y": 423, "Width": 135, "Height": 66}, "RequestId": "req-1",
}


def _parse(response: dict[str, Any], status: int = 200) -> Any:
    body = json.dumps({"Response": response}, ensure_ascii=False).encode("utf-8")
    return parse_response(status, JSON, body)


def _with(**fields: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BEST)
    doc.update(fields)
    return doc


def test_best_plate_without_infos_is_the_only_plate() -> None:
    res = _parse(BEST)
    assert (res.plate, res.color, res.confidence, res.category) == ("京AF0236", "蓝", 99,
                                                                    "实体车牌")
    assert res.plates == (PlateInfo("京AF0236", "蓝", 99, "实体车牌", Rect(426, 423, 135, 66)),)
    assert _parse(_with(LicensePlateInfos=[])).plates == res.plates


def test_float_integers_are_accepted() -> None:
    assert _parse(_with(Confidence=98.0)).confidence == 98


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("京A\u200bF0236", "京AF0236"),  # zero-width space
        ("\ufeff京AF0236", "京AF0236"),  # BOM
        ("京AF0236\x00", "京AF0236"),  # NUL
        ("京A\x1bF0236\r\n", "京AF0236"),  # escape, CR LF: no forged log lines
        ("\u202e京AF0236", "京AF0236"),  # right-to-left override
        ("  京A·F0236 ", "京AF0236"),
        ("粤B·D12345", "粤BD12345"),  # new-energy plates are 8 characters
    ],
)
def test_number_is_stripped_of_control_and_format_characters(raw: str, clean: str) -> None:
    assert _parse(_with(Number=raw)).plate == clean


@pytest.mark.parametrize("raw", ["京" + "A" * MAX_NUMBER, "x" * 60_000])
def test_overlong_number_is_a_bad_response_and_is_not_echoed(raw: str) -> None:
    with pytest.raises(OcrError) as info:
        _parse(_with(Number=raw))
    assert info.value.code == "BadResponse" and info.value.action is Action.RETRY_ONCE
    assert len(str(info.value)) < 200


def test_number_of_exactly_the_limit_is_kept() -> None:
    assert len(_parse(_with(Number="A" * MAX_NUMBER)).plate) == MAX_NUMBER


def test_number_of_only_invisible_characters_is_empty() -> None:
    with pytest.raises(OcrError, match="empty Number"):
        _parse(_with(Number="\u200b\x00·"))


def test_long_or_dirty_plate_in_infos_is_refused_too() -> None:
    info = {k: BEST[k] for k in ("Number", "Confidence", "Color", "Rect")}
    with pytest.raises(OcrError):
        _parse(_with(LicensePlateInfos=[{**info, "Number": "沪" * 40}]))
    res = _parse(_with(LicensePlateInfos=[{**info, "Number": "沪B\x0712345"}]))
    assert res.plates[0].plate == "沪B12345"


def test_color_and_category_are_bounded_and_cleaned() -> None:
    assert _parse(_with(Color="蓝\u200d")).color == "蓝"
    with pytest.raises(OcrError):
        _parse(_with(Color="蓝" * 100))
    with pytest.raises(OcrError):
        _parse(_with(LicensePlateCategory="x" * 1000))


def test_error_code_must_look_like_a_code() -> None:
    for code in ("Bad\nCode", "X" * 200, "Code With Spaces", ".Leading"):
        doc = {"Error": {"Code": code, "Message": "m"}, "RequestId": "r"}
        with pytest.raises(OcrError) as info:
            _parse(doc)
        assert info.value.code == "BadResponse", code


def test_error_message_is_truncated_and_cleaned() -> None:
    doc = {"Error": {"Code": "InternalError", "Message": "a\nb\x1b" + "m" * 10_000},
           "RequestId": "r"}
    with pytest.raises(OcrError) as info:
        _parse(doc)
    assert info.value.code == "InternalError"
    assert len(info.value.message) <= MAX_MESSAGE
    assert "\n" not in info.value.message and "\x1b" not in info.value.message


def test_request_id_with_control_characters_or_too_long_is_dropped() -> None:
    for rid in ("r\nforged log line", "r" * 500):
        doc = {"Error": {"Code": "InternalError", "Message": ""}, "RequestId": rid}
        with pytest.raises(OcrError) as info:
            _parse(doc)
        assert info.value.request_id is None
        with pytest.raises(OcrError, match="RequestId"):
            _parse(_with(RequestId=rid))


def test_server_time_from_date_header() -> None:
    assert server_time("Tue, 14 Nov 2023 22:13:20 GMT") == 1_700_000_000
    for bad in (None, "", "yesterday", "Tue, 99 Nov 2023 99:99:99 GMT"):
        assert server_time(bad) is None
