"""Allow / deny decisions: which plates open the gate, and why, carried in every event.

Rules, in order (the first that applies wins):

1. no plate read                                   -> ``unknown`` / ``no_plate``
2. on the deny list (exact, or confusable swaps)   -> ``deny``    / ``deny_list``
3. category 非实体车牌 (a plate on a screen/photo)  -> ``deny``    / ``not_physical``
4. on the allow list, exact                        -> ``allow``   / ``allow_list``
5. on the allow list within ``allow_confusables``  -> ``allow``   / ``allow_list_confusable``
   (4 and 5 need ``confidence >= min_confidence``, else ``unknown`` / ``low_confidence``;
   a plate the local reader produced (``provider`` local: cloud offline, ``local_first``,
   ``local``) needs ``local_min_confidence`` instead)
6. on the allow list, but the entry does not hold  -> ``unknown`` / ``allow_expired``,
   for this passage (the nearest such entry says  ``allow_not_yet_valid``,
   why)                                               ``allow_other_camera``,
                                                      ``allow_other_direction``
7. anything else                                   -> ``unknown`` / ``not_listed``

An entry holds for a passage when the passage's time (``captured_at``) is inside its
validity window (both bounds inclusive, to the second; no bound: open on that side), its
camera is one of the entry's cameras (none: every camera) and the camera's configured
direction is the entry's (``any``: both). A deny entry that holds always wins; one that
does not hold (a ban that ended, another lane's) is ignored. :class:`Decision` carries a
human detail too ("allow entry 京AF0236 expired 2026-11-30T15:59:59Z"), logged.

Confusable tolerance: a read and an entry of the same length, both valid under
the plate grammar, that differ only in confusable pairs (O/0, D/0, I/1, B/8,
S/5, Z/2). Where the grammar forbids a character, :func:`daemon.plates.clean`
has already fixed it before voting; what is left is the ambiguity the grammar
cannot settle (B or 8 in a serial position), which is exactly what is tolerated
here. A deny entry matches with any number of such swaps (deny is the safe
side); an allow entry with at most ``allow_confusables``.

:func:`decide` is pure; :class:`AccessControl` adds the cache over the store
(re-read every ``refresh_s`` so ``gatecam allow`` edits apply without a restart)
and runs in the recorder's writer thread, before the passage is committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from daemon import plates
from daemon.config.models import AccessConfig
from daemon.domain import Passage, utc_iso
from daemon.store.db import Store
from daemon.store.records import ANY_DIRECTION, AccessEntry

log = logging.getLogger(__name__)

NOT_PHYSICAL = "非实体车牌"
"""Tencent's LicensePlateCategory for a plate shown on a screen or a photo."""

REASONS = frozenset({
    "no_plate", "deny_list", "not_physical", "allow_list", "allow_list_confusable",
    "low_confidence", "not_listed", "not_evaluated",
    "allow_expired", "allow_not_yet_valid", "allow_other_camera", "allow_other_direction",
})
"""Every value ``access_reason`` can take (the event schema lists the same)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """An access decision: ``allow``, ``deny`` or ``unknown``, why, and the entry that matched
    (``detail``: the same in words, when an entry did not hold)."""

    access: str
    reason: str
    matched: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """When and where one list entry holds (nothing set: always, on every lane)."""

    valid_from: datetime | None = None
    valid_until: datetime | None = None
    cameras: frozenset[str] = frozenset()
    direction: str = ANY_DIRECTION

    @classmethod
    def of(cls, e: AccessEntry) -> Rule:
        """The rule of a stored entry."""
        return cls(e.valid_from, e.valid_until, frozenset(e.cameras), e.direction)

    def window(self, at: datetime) -> tuple[str, str] | None:
        """None inside the window, else (``expired`` | ``not_yet_valid``, words)."""
        if self.valid_from is not None and at < self.valid_from:
            return "not_yet_valid", f"not valid before {utc_iso(self.valid_from)}"
        if self.valid_until is not None and at.replace(microsecond=0) > self.valid_until:
            return "expired", f"expired {utc_iso(self.valid_until)}"
        return None

    def why_not(self, at: datetime, camera: str, direction: str) -> tuple[str, str] | None:
        """None when the entry holds for a passage at ``at`` on ``camera`` going
        ``direction``; else why not (a reason suffix, words)."""
        outside = self.window(at)
        if outside is not None:
            return outside
        if self.cameras and camera not in self.cameras:
            return "other_camera", f"holds on {', '.join(sorted(self.cameras))} only"
        if self.direction not in (ANY_DIRECTION, direction):
            return "other_direction", f"holds on {self.direction} lanes only"
        return None


ALWAYS = Rule()


def entry_state(e: AccessEntry, now: datetime) -> str:
    """``holds``, ``expired`` or ``not_yet_valid`` at ``now``: its window only (whether its
    scope holds depends on the lane)."""
    outside = Rule.of(e).window(now)
    return "holds" if outside is None else outside[0]


def entry_doc(e: AccessEntry, now: datetime) -> dict[str, Any]:
    """An entry as JSON (the API, ``gatecam allow list --json``): times UTC ISO 8601 or
    None, ``state`` its window's at ``now``."""
    def iso(w: datetime | None) -> str | None:
        return utc_iso(w) if w else None
    return {"plate": e.plate, "kind": e.kind, "note": e.note, "owner": e.owner,
            "valid_from": iso(e.valid_from), "valid_until": iso(e.valid_until),
            "cameras": list(e.cameras), "direction": e.direction,
            "state": entry_state(e, now), "created_at": iso(e.created_at)}


@dataclass(frozen=True, slots=True)
class AccessLists:
    """Each list: normalised plate -> the rules of its entries (one per stored entry)."""

    allow: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    deny: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> AccessLists:
        """Plates that hold always, everywhere (tests, simple lists)."""
        return cls({plates.normalize(p): (ALWAYS,) for p in allow},
                   {plates.normalize(p): (ALWAYS,) for p in deny})

    @classmethod
    def from_entries(cls, entries: Iterable[AccessEntry]) -> AccessLists:
        """Build from store entries."""
        lists: dict[str, dict[str, tuple[Rule, ...]]] = {"allow": {}, "deny": {}}
        for e in entries:
            which = lists["allow" if e.kind == "allow" else "deny"]
            plate = plates.normalize(e.plate)
            which[plate] = (*which.get(plate, ()), Rule.of(e))
        return cls(lists["allow"], lists["deny"])


@lru_cache(maxsize=4096)
def _confusable(a: str, b: str) -> bool:
    """Two characters that are a confusable pair (cached: every decision asks per entry)."""
    return plates.similarity(a, b) >= 0.8  # 0.8 is the credit of a confusable pair


def confusable_swaps(read: str, entry: str) -> int | None:
    """Positions where ``read`` and ``entry`` differ by a confusable pair; None if not alike.

    Both must be grammar-valid and of equal length, and every differing
    position must be a confusable pair (the grammar allows both characters there,
    or one of the plates would not be valid).
    """
    if len(read) != len(entry):
        return None
    swaps = 0
    for a, b in zip(read, entry, strict=True):
        if a == b:
            continue
        if not _confusable(a, b):
            return None
        swaps += 1
    # the grammar last: most entries already differ by a character that is no confusable
    return swaps if plates.is_valid(read) and plates.is_valid(entry) else None


def _best(read: str, rules: Mapping[str, tuple[Rule, ...]], max_swaps: int | None,
          holds: Callable[[str], bool]) -> tuple[str, int] | None:
    """The entry that ``holds`` needing fewest swaps (exact first), within ``max_swaps``
    (None: any)."""
    if read in rules and holds(read):
        return read, 0
    best: tuple[str, int] | None = None
    for entry in rules:
        swaps = confusable_swaps(read, entry) if entry != read else None
        if swaps is None or (max_swaps is not None and swaps > max_swaps):
            continue
        if (best is None or (swaps, entry) < (best[1], best[0])) and holds(entry):
            best = (entry, swaps)
    return best


def _holds(rules: Mapping[str, tuple[Rule, ...]], at: datetime, camera: str,
           direction: str) -> Callable[[str], bool]:
    """Whether any entry of a plate holds for this passage."""
    return lambda plate: any(r.why_not(at, camera, direction) is None for r in rules[plate])


def _not_holding(read: str, lists: AccessLists, allow_confusables: int, *, at: datetime,
                 camera: str, direction: str) -> Decision:
    """``not_listed``, or why the nearest allow entry does not hold for this passage."""
    near = _best(read, lists.allow, allow_confusables, lambda _plate: True)
    if near is None:
        return Decision("unknown", "not_listed")
    why = [w for r in lists.allow[near[0]] if (w := r.why_not(at, camera, direction))]
    return Decision("unknown", f"allow_{why[0][0]}", near[0],
                    f"allow entry {near[0]} {why[0][1]}")


def decide(
    plate: str | None,
    category: str | None,
    confidence: int,
    lists: AccessLists,
    *,
    at: datetime,
    camera: str,
    direction: str,
    allow_confusables: int = 1,
    min_confidence: int = 80,
    local: bool = False,
    local_min_confidence: int = 95,
) -> Decision:
    """The access decision for one read of a passage at ``at`` on ``camera`` (configured
    ``direction``) (pure; see the module docstring for the rules).

    ``local``: the plate comes from the local reader, not the cloud; deny and the
    non-physical refusal (the cloud's category, carried over) apply all the same."""
    if not plate:
        return Decision("unknown", "no_plate")
    read = plates.normalize(plate)
    deny = _best(read, lists.deny, None, _holds(lists.deny, at, camera, direction))
    if deny is not None:
        return Decision("deny", "deny_list", deny[0])
    if category is not None and NOT_PHYSICAL in category:
        return Decision("deny", "not_physical")
    allow = _best(read, lists.allow, allow_confusables,
                  _holds(lists.allow, at, camera, direction))
    if allow is None:
        return _not_holding(read, lists, allow_confusables, at=at, camera=camera,
                            direction=direction)
    if confidence < (local_min_confidence if local else min_confidence):
        return Decision("unknown", "low_confidence", allow[0])
    return Decision("allow", "allow_list" if allow[1] == 0 else "allow_list_confusable", allow[0])


class AccessControl:
    """Decisions over the lists in the store, cached and refreshed every ``refresh_s``."""

    def __init__(
        self,
        store: Store,
        cfg: AccessConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Nothing is read until the first decision."""
        self._store = store
        self._cfg = cfg
        self._monotonic = monotonic
        self._lists: AccessLists | None = None
        self._loaded_at = 0.0

    def lists(self) -> AccessLists:
        """The cached lists, re-read when older than ``refresh_s``.

        If the re-read fails the previous lists stay in force (logged); with no
        lists at all the decision is made against empty lists (never ``allow``).
        """
        now = self._monotonic()
        if self._lists is None or now - self._loaded_at >= self._cfg.refresh_s:
            try:
                self._lists = AccessLists.from_entries(self._store.access_entries())
            except Exception as exc:  # a DB hiccup must not stop passages being recorded
                log.warning("access lists not re-read (%s); keeping the previous ones", exc)
                if self._lists is None:
                    return AccessLists()
            self._loaded_at = now
        return self._lists

    def apply(self, passage: Passage) -> Passage:
        """The passage with ``access`` and ``access_reason`` set."""
        d = decide(
            passage.plate, passage.category, passage.confidence, self.lists(),
            at=passage.captured_at, camera=passage.camera, direction=passage.direction,
            allow_confusables=self._cfg.allow_confusables,
            min_confidence=self._cfg.min_confidence,
            local=passage.provider == "local",
            local_min_confidence=self._cfg.local_min_confidence,
        )
        if d.detail:
            log.info("access %s for %s on %s: %s", d.access, passage.plate, passage.camera,
                     d.detail)
        elif d.matched is not None and d.matched != passage.plate:
            log.debug("access %s for %s: %s via list entry %s",
                     d.access, passage.plate, d.reason, d.matched)
        return passage.replace(access=d.access, access_reason=d.reason)
