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
6. anything else                                   -> ``unknown`` / ``not_listed``

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from daemon import plates
from daemon.config.models import AccessConfig
from daemon.domain import Passage
from daemon.store.db import Store
from daemon.store.records import AccessEntry

log = logging.getLogger(__name__)

NOT_PHYSICAL = "非实体车牌"
"""Tencent's LicensePlateCategory for a plate shown on a screen or a photo."""

REASONS = frozenset({
    "no_plate", "deny_list", "not_physical", "allow_list", "allow_list_confusable",
    "low_confidence", "not_listed", "not_evaluated",
})
"""Every value ``access_reason`` can take (the event schema lists the same)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """An access decision: ``allow``, ``deny`` or ``unknown``, why, and the entry that matched."""

    access: str
    reason: str
    matched: str | None = None


@dataclass(frozen=True, slots=True)
class AccessLists:
    """Normalised plates on each list."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()

    @classmethod
    def from_entries(cls, entries: Iterable[AccessEntry]) -> AccessLists:
        """Build from store entries."""
        allow: set[str] = set()
        deny: set[str] = set()
        for e in entries:
            (allow if e.kind == "allow" else deny).add(plates.normalize(e.plate))
        return cls(frozenset(allow), frozenset(deny))


def confusable_swaps(read: str, entry: str) -> int | None:
    """Positions where ``read`` and ``entry`` differ by a confusable pair; None if not alike.

    Both must be grammar-valid and of equal length, and every differing
    position must be a confusable pair (the grammar allows both characters there,
    or one of the plates would not be valid).
    """
    if len(read) != len(entry) or not (plates.is_valid(read) and plates.is_valid(entry)):
        return None
    swaps = 0
    for a, b in zip(read, entry, strict=True):
        if a == b:
            continue
        if plates.similarity(a, b) < 0.8:  # 0.8 is the credit of a confusable pair
            return None
        swaps += 1
    return swaps


def _best(read: str, candidates: Iterable[str], max_swaps: int | None) -> tuple[str, int] | None:
    """The entry needing fewest swaps (exact first), within ``max_swaps`` (None: any)."""
    if read in candidates:
        return read, 0
    best: tuple[str, int] | None = None
    for entry in candidates:
        swaps = confusable_swaps(read, entry)
        if swaps is None or (max_swaps is not None and swaps > max_swaps):
            continue
        if best is None or (swaps, entry) < (best[1], best[0]):
            best = (entry, swaps)
    return best


def decide(
    plate: str | None,
    category: str | None,
    confidence: int,
    lists: AccessLists,
    *,
    allow_confusables: int = 1,
    min_confidence: int = 80,
    local: bool = False,
    local_min_confidence: int = 95,
) -> Decision:
    """The access decision for one read (pure; see the module docstring for the rules).

    ``local``: the plate comes from the local reader, not the cloud; deny and the
    non-physical refusal (the cloud's category, carried over) apply all the same."""
    if not plate:
        return Decision("unknown", "no_plate")
    read = plates.normalize(plate)
    deny = _best(read, lists.deny, None)
    if deny is not None:
        return Decision("deny", "deny_list", deny[0])
    if category is not None and NOT_PHYSICAL in category:
        return Decision("deny", "not_physical")
    allow = _best(read, lists.allow, allow_confusables)
    if allow is None:
        return Decision("unknown", "not_listed")
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
            allow_confusables=self._cfg.allow_confusables,
            min_confidence=self._cfg.min_confidence,
            local=passage.provider == "local",
            local_min_confidence=self._cfg.local_min_confidence,
        )
        if d.matched is not None and d.matched != passage.plate:
            log.debug("access %s for %s: %s via list entry %s",
                     d.access, passage.plate, d.reason, d.matched)
        return passage.replace(access=d.access, access_reason=d.reason)
