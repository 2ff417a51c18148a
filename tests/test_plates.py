"""Plate grammar, normalisation, confusable fixes, similarity and voting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon import plates

VALID = [
    "京AF0236",  # ordinary blue
    "粤B12345",
    "沪A01234",
    "京A1234挂",
    "京A1234学",
    "京A0001警",
    "沪A1234领",
    "粤Z1234港",
    "粤Z1234澳",
    "京A1234试",
    "京A1234超",
    "京A123应急",
    "京A1234应急",
    "使123456",
    "京AD12345",  # new-energy small
    "京AFA2345",
    "京A12345D",  # new-energy large
    "京A12345F",
    "京O12345",  # O is rare in the authority position, but real
]

INVALID = [
    "",
    "20261125",  # a timestamp overlay
    "2026-11-25",
    "京A1234",  # too short
    "京A123456",  # 8 characters, not new-energy
    "京I12345",  # I is never an authority letter
    "京AI2345",  # I in the body
    "京AO2345",  # O in the body
    "港A12345",  # not a province
    "京Z1234港",  # 港 only on 粤Z
    "京A12345应急",  # too long
    "使12345",  # embassy needs 6 digits
    "京AX12345",  # new-energy small needs D or F
    "京A1234XD",  # new-energy large needs 5 digits
    "京A12345G",
    "京1B2345",  # digit in the authority position
    "ABCDEFG",
]


@pytest.mark.parametrize("plate", VALID)
def test_valid_plates_accepted(plate: str) -> None:
    assert plates.is_valid(plate), plate


@pytest.mark.parametrize("plate", INVALID)
def test_invalid_plates_rejected(plate: str) -> None:
    assert not plates.is_valid(plates.normalize(plate)), plate


def test_normalize_full_width_separators_and_case() -> None:
    assert plates.normalize("京ＡＦ·０２３６") == "京AF0236"
    assert plates.normalize(" 粤b・12 345 ") == "粤B12345"
    assert plates.normalize("沪A-1234.5") == "沪A12345"
    assert plates.normalize("京A•F0236") == "京AF0236"
    assert plates.normalize("京Ａ－１２３４５") == "京A12345"


@pytest.mark.parametrize(
    ("raw", "fixed"),
    [
        ("京AO1234", "京A01234"),  # O forbidden in the body -> 0
        ("京AI2345", "京A12345"),  # I -> 1
        ("京812345", "京B12345"),  # digit in the authority position -> letter
        ("京A12345", "京A12345"),  # already valid: untouched
        ("京AB1234", "京AB1234"),  # B is allowed in the body: not changed to 8
        ("京A0A123S", "京ADA1235"),  # new-energy small: 0 -> D at position 3, S -> 5 in digits
        ("京A1234SD", "京A12345D"),  # new-energy large: S -> 5 in the digit run
        ("使12345O", "使123450"),
        ("2026112", "2026112"),  # nothing makes it valid: returned as is
    ],
)
def test_fix_confusables(raw: str, fixed: str) -> None:
    assert plates.fix_confusables(raw) == fixed


def test_clean_rejects_timestamps_and_fixes_plates() -> None:
    assert plates.clean("2026-11-25") is None
    assert plates.clean("12:30:45") is None
    assert plates.clean(None) is None
    assert plates.clean("京ＡＯ·1234") == "京A01234"


def test_similarity() -> None:
    assert plates.similarity("京A12345", "京A12345") == 1.0
    near = plates.similarity("京A1234O", "京A12340")  # a confusable pair
    far = plates.similarity("京A12347", "京A12340")  # a plain substitution
    assert 0.9 < near < 1.0
    assert far < near
    assert plates.similarity("京A12345", "京A1234") < 1.0
    assert plates.similarity("京A12345", "沪B67890") < 0.3
    assert plates.similarity("京A·12345", "京a12345") == 1.0
    assert plates.similarity("", "") == 1.0


@given(st.text(max_size=10), st.text(max_size=10))
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    s = plates.similarity(a, b)
    assert 0.0 <= s <= 1.0
    assert s == pytest.approx(plates.similarity(b, a))


@given(st.text(max_size=12))
def test_fix_never_breaks_a_valid_plate(text: str) -> None:
    plate = plates.normalize(text)
    fixed = plates.fix_confusables(plate)
    assert len(fixed) == len(plate)
    if plates.is_valid(plate):
        assert fixed == plate


def test_vote_majority_and_confusables() -> None:
    plate, support = plates.vote([("京A12345", 90), ("京A12345", 85), ("京A12346", 95)])
    assert plate == "京A12345"
    assert support == pytest.approx(175 / 270)
    # a confusable spelling is fixed before counting
    plate, support = plates.vote([("京AI2345", 70), ("京A12345", 60)])
    assert (plate, support) == ("京A12345", 1.0)


def test_vote_prefers_valid_plates() -> None:
    plate, _ = plates.vote([("2026-11-25", 99), ("京A12345", 40)])
    assert plate == "京A12345"
    assert plates.vote([]) == (None, 0.0)
    plate, support = plates.vote([("HELLO", 50)])
    assert plate == "HELLO"
    assert support == 1.0


@pytest.mark.parametrize("invisible", ["\ufeff", "\u200b", "\u200d", "\u2060", "\u00ad", "\u200e"])
def test_normalize_drops_unicode_format_characters(invisible: str) -> None:
    assert plates.normalize(f"{invisible}京A{invisible}12345{invisible}") == "京A12345"


def test_fuse_takes_the_likeliest_character_per_position() -> None:
    """A province read 鲁 at 50 % once and 青 at 60-90 % three times: 青, each position with
    its summed probability."""
    reads = [("鲁ZHJ788", (50, 99, 99, 99, 99, 99, 99)), ("青ZHJ788", (90, 99, 99, 99, 99, 99, 99)),
             ("青ZHJ788", (60, 99, 99, 99, 99, 99, 99)), ("青ZHJ788", (70, 99, 99, 99, 99, 99, 99))]
    fused = plates.fuse(reads)
    assert fused is not None and fused.text == "青ZHJ788" and fused.readings == 4
    assert fused.support[0] == pytest.approx(2.2) and fused.support[1] == pytest.approx(3.96)


def test_fuse_prefers_the_length_whose_weakest_position_is_supported() -> None:
    """A green plate read often with its province cut off and guessed at 0 % (川DB6505)
    and once whole (赣JDB6505): the whole one wins."""
    cut = [("川DB6505", (0, 100, 100, 100, 100, 100, 100))] * 5
    whole = [("赣JDB6505", (99, 100, 100, 99, 100, 100, 100, 100))]
    fused = plates.fuse([*cut, *whole])
    assert fused is not None and fused.text == "赣JDB6505"
    assert plates.fuse([]) is None


def test_a_green_plate_reading_needs_eight_characters() -> None:
    assert not plates.fits_color("川F11703", "绿")  # new energy: one character dropped
    assert plates.fits_color("川LF11703", "绿")
    assert plates.fits_color("川F11703", "蓝") and plates.fits_color("川LF11703", "黄")
    assert plates.fits_color("川F11703", None)  # no colour: nothing to say
