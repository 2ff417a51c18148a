"""Plate text rules: normalisation, the GA 36 grammar, confusable fixes, similarity, voting
and fusing readings character by character.

Pure functions, no I/O. The grammar follows TENCENT_API.md ("Chinese mainland
plates"): ordinary 7-character plates and their special endings (挂 学 警 领 试 超,
港/澳 only on 粤Z, 应急 in place of the last two characters), embassy plates
(使 + 6 digits) and the two new-energy layouts (8 characters).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PROVINCES = frozenset("京津沪渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新")
"""The 31 province abbreviations allowed in the first position."""

_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_AUTHORITY = _LETTERS - {"I"}  # second position: I never issued, O rare but real
_SERIAL = (_LETTERS - {"I", "O"}) | _DIGITS  # body characters of every layout
_DF = frozenset("DF")
_ENDINGS = frozenset("挂学警领试超")
_DROP = frozenset("·•・.-")

_Pattern = tuple[frozenset[str], ...]


def _one(ch: str) -> frozenset[str]:
    return frozenset(ch)


_PATTERNS: tuple[_Pattern, ...] = (
    # ordinary blue / yellow: 京A12345
    (PROVINCES, _AUTHORITY, *([_SERIAL] * 5)),
    # special ending in place of the last character: 京A1234警
    (PROVINCES, _AUTHORITY, *([_SERIAL] * 4), _ENDINGS),
    # Hong Kong / Macau cross-border: 粤Z1234港
    (_one("粤"), _one("Z"), *([_SERIAL] * 4), frozenset("港澳")),
    # emergency: 应急 replaces the last two characters (京A123应急); the
    # four-character body (京A1234应急) is seen in the field too, so both pass.
    (PROVINCES, _AUTHORITY, *([_SERIAL] * 3), _one("应"), _one("急")),
    (PROVINCES, _AUTHORITY, *([_SERIAL] * 4), _one("应"), _one("急")),
    # embassy: 使 + 6 digits
    (_one("使"), *([_DIGITS] * 6)),
    # new-energy small: 京AD12345 / 京AF1A234 (D or F, then a serial character, then 4 digits)
    (PROVINCES, _AUTHORITY, _DF, _SERIAL, *([_DIGITS] * 4)),
    # new-energy large: 京A12345D
    (PROVINCES, _AUTHORITY, *([_DIGITS] * 5), _DF),
)

_CONFUSABLE: dict[str, tuple[str, ...]] = {
    # each character and what it may really be, most likely first
    "O": ("0", "D"),
    "0": ("D", "O"),
    "D": ("0",),
    "I": ("1",),
    "1": ("I",),
    "B": ("8",),
    "8": ("B",),
    "S": ("5",),
    "5": ("S",),
    "Z": ("2",),
    "2": ("Z",),
}

_NEAR = 0.8
"""Similarity credited to a confusable pair (O/0, B/8, ...) at the same position."""


def normalize(text: str) -> str:
    """NFKC (full-width to ASCII), drop separators ``·•・.-``, spaces and invisible
    characters, upper-case.

    Invisible means Unicode category Cf (format): the BOM a spreadsheet puts at the start
    of a CSV, zero-width spaces and joiners, soft hyphens, direction marks. Kept, they
    make a plate that looks right and never matches a read.
    """
    folded = unicodedata.normalize("NFKC", text)
    return "".join(
        ch for ch in folded
        if ch not in _DROP and not ch.isspace() and unicodedata.category(ch) != "Cf"
    ).upper()


def _matches(plate: str, pattern: _Pattern) -> bool:
    return len(plate) == len(pattern) and all(
        ch in allowed for ch, allowed in zip(plate, pattern, strict=True)
    )


def is_valid(plate: str) -> bool:
    """True when ``plate`` (already normalised) fits one of the GA 36 layouts."""
    return any(_matches(plate, p) for p in _PATTERNS)


NEW_ENERGY_COLOR = "绿"
"""The colour of new-energy plates (a white-to-green gradient; 黄绿 for large vehicles)."""


def fits_color(plate: str, color: str | None) -> bool:
    """False for a reading whose plate colour says it cannot be ``plate``: a green plate is
    a new-energy one, 8 characters, so a 7-character reading of it dropped one (held-out
    seed 178: 川LF11703 read 川F11703 with every character at 99-100). Other colours say
    nothing about the length (a camera's colours vary; a large new-energy plate's
    yellow-green reads as 黄)."""
    return color != NEW_ENERGY_COLOR or len(plate) == 8


def fix_confusables(plate: str) -> str:
    """Swap O/0, I/1, B/8, D/0, S/5, Z/2 only where the grammar forbids the character read.

    Returns ``plate`` unchanged when it is already valid or no fix makes it valid.
    Among several fixes the one changing the fewest characters wins (ties: the
    more common layout, listed first).
    """
    if is_valid(plate):
        return plate
    best: tuple[int, str] | None = None
    for pattern in _PATTERNS:
        if len(pattern) != len(plate):
            continue
        fixed: list[str] = []
        changes = 0
        for ch, allowed in zip(plate, pattern, strict=True):
            if ch in allowed:
                fixed.append(ch)
                continue
            swap = next((alt for alt in _CONFUSABLE.get(ch, ()) if alt in allowed), None)
            if swap is None:
                break
            fixed.append(swap)
            changes += 1
        else:
            if best is None or changes < best[0]:
                best = (changes, "".join(fixed))
    return best[1] if best is not None else plate


def _char_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if b in _CONFUSABLE.get(a, ()) or a in _CONFUSABLE.get(b, ()):
        return _NEAR
    return 0.0


def similarity(a: str, b: str) -> float:
    """Position-aware similarity 0..1 of two plates (normalised first).

    An edit distance whose substitution cost is 1 minus the character similarity
    (a confusable pair costs 0.2), divided by the longer length.
    """
    a, b = normalize(a), normalize(b)
    if not a and not b:
        return 1.0
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, start=1):
        cur = [float(i)]
        for j, cb in enumerate(b, start=1):
            cur.append(
                min(
                    prev[j] + 1.0,
                    cur[j - 1] + 1.0,
                    prev[j - 1] + (1.0 - _char_similarity(ca, cb)),
                )
            )
        prev = cur
    return max(0.0, 1.0 - prev[-1] / max(len(a), len(b)))


def differ(a: str, b: str) -> int:
    """Characters in which plates ``a`` and ``b`` differ (position by position)."""
    return sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))


def clean(text: str | None) -> str | None:
    """Normalise and fix a raw OCR string; None when the result is not a valid plate."""
    if not text:
        return None
    plate = fix_confusables(normalize(text))
    return plate if is_valid(plate) else None


def vote(reads: Iterable[tuple[str, float]]) -> tuple[str | None, float]:
    """Pick the plate best supported by several (plate, confidence) reads.

    Every read is normalised and fixed; valid plates outrank invalid ones. A
    candidate's weight is the summed confidence of the reads, each counted by its
    similarity to the candidate when that is at least 0.85 (one confusable or
    one character off in eight). Returns the winner and its support: the share
    of the total confidence whose read equals it exactly (0..1). No reads gives
    ``(None, 0.0)``.
    """
    items: list[tuple[str, float]] = []
    for text, conf in reads:
        plate = fix_confusables(normalize(text))
        if plate:
            items.append((plate, max(float(conf), 1.0)))
    if not items:
        return None, 0.0
    total = sum(w for _, w in items)
    candidates: Sequence[str] = sorted({p for p, _ in items})
    valid = [p for p in candidates if is_valid(p)]
    pool = valid or list(candidates)

    def weight(candidate: str) -> float:
        score = 0.0
        for plate, w in items:
            sim = 1.0 if plate == candidate else similarity(plate, candidate)
            if sim >= 0.85:
                score += w * sim
        return score

    winner = max(pool, key=lambda c: (weight(c), sum(w for p, w in items if p == c)))
    support = sum(w for p, w in items if p == winner) / total
    return winner, support


@dataclass(frozen=True, slots=True)
class Fused:
    """Several readings of one plate fused character by character (:func:`fuse`)."""

    text: str
    """The likeliest character at each position."""
    support: tuple[float, ...]
    """Per position, the summed probability (0-1 per reading) of its character."""
    readings: int
    """How many readings (all of ``text``'s length) were fused."""


def fuse(readings: Iterable[tuple[str, Sequence[int]]]) -> Fused | None:
    """Fuse (plate, per-character confidence 0-100) readings position by position: among
    the readings of one length, each position takes the character with the largest summed
    probability. Of the lengths read, the one giving a valid plate whose weakest position
    is best supported wins (then the one read more often): a length read often only with
    a guessed character (a cut-off province) loses to one read with all of them. None
    when there are no readings."""
    groups: dict[int, list[tuple[str, Sequence[int]]]] = {}
    for text, chars in readings:
        if text and len(chars) == len(text):
            groups.setdefault(len(text), []).append((text, chars))
    best: tuple[tuple[bool, float, int], Fused] | None = None
    for length, group in groups.items():
        votes: list[dict[str, float]] = [{} for _ in range(length)]
        for text, chars in group:
            for pos, (ch, conf) in enumerate(zip(text, chars, strict=True)):
                votes[pos][ch] = votes[pos].get(ch, 0.0) + conf / 100
        top = [max(v.items(), key=lambda cw: cw[1]) for v in votes]
        fused = Fused("".join(ch for ch, _ in top), tuple(w for _, w in top), len(group))
        key = (is_valid(fused.text), min(fused.support), len(group))
        if best is None or key > best[0]:
            best = (key, fused)
    return best[1] if best else None
