"""What the local reader saw decides, per passage, which frames it reads, when the cloud is
called and when a local reading is final (``ocr.mode``; issue 11).

Pure logic, no I/O; the clock is the frame ``pts`` passed in.

- **Local reads, at the reader's pace**: while the passage is undecided the lane offers
  every frame showing the vehicle; one is with the reader at a time and the best frame
  offered meanwhile (by selection score, at most :data:`RECENT_S` old) goes next.
- **Plate evidence**: a local read whose box looks like a plate (``box_found``). A
  plateless passage is published only with ``evidence_frames`` of them: motion alone
  never publishes (a walker, a car's rear, a shadow close silently).
- **Cloud calls** (modes ``cloud`` and ``local_first``) only for a frame in which the
  reader found a plate box at least ``min_plate_width_px`` wide; the frame sent is the one
  where it saw the best plate (valid reading, then sure, then confidence, then width). A
  camera that never shows a plate that wide (held-out seed 31: 960x540, 50-56 px plates)
  gets its first call for the best valid reading of the widest plate it shows, once the box
  stopped growing for ``settle_s`` (:data:`SMALL_FLOOR`, :data:`GREW`).
  ``cloud``: at once on a sure valid local reading (a frame the cloud should read as
  surely), else ``settle_s`` after the first box (the best frame seen by then);
  ``local_first``: only when no local reading became final ``settle_s`` after the first box;
  both later while the plate still grows (daemon/lane/growth.py), and even when no reading
  comes any more (:meth:`PlateGate.tick`: the vehicle left).
  A further call (after a cloud read that was not trusted) needs a newer boxed frame,
  :data:`RESEND_GAP_S` after the last call with a valid local reading, else ``settle_s``;
  after the cloud found *no plate* in the frame sent, only a frame that is clearly better
  (:func:`clearly_better`: the plate box :data:`RESEND_WIDER` times as wide, or read
  surely where the one sent was not) is worth paying for: a frame like the last one gets
  the same answer (held-out seed 14, a night IR plate: 3 calls per vehicle, all "no plate"),
  and after :data:`NO_PLATE_ANSWERS` of them none is.
  In ``local_first`` a "no plate" answer ends the calls: the cloud was asked to confirm a
  reading the reader could not settle and could not see the plate either, so the reader's
  most frequent reading closes the passage at :func:`honest_confidence` (seed 14 again).
- **Final local reading** (modes ``local_first`` and ``local``, and in ``cloud`` mode once
  the cloud is unreachable, refused or its circuit open): the same valid reading in
  ``agree_frames`` frames and in most of them, or one at ``final_confidence`` or above;
  only *sure* readings count (``sureness.weakest`` at ``char_min_confidence`` or above). The
  reading's confidence is the mean of its characters' and hides a misread one: on the
  held-out night clips the province of a small plate read 鲁 for 青 or 苏 for 琼 at 40-80
  with the other characters at 99 (mean 90-97), and two such frames agreed. And the
  passage's valid readings fused character by character (:func:`daemon.plates.fuse`) must
  give the same plate, each character with :data:`FUSED_SHARE` of the probability: one
  sure 苏 after ten frames guessing the province at 5-40 % is not final (how often sure and
  other readings are wrong: README, bench_reader). A passage with no final reading calls
  the cloud (``local_first``) or closes with its most frequent reading (``local``, offline)
  carrying no more confidence than its weakest character (``sureness.honest_confidence``), so an
  allow on it needs that character at ``access.local_min_confidence``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from daemon import plates
from daemon.config.models import OcrConfig, PassageConfig
from daemon.domain import Frame, PlateRead
from daemon.lane.growth import GROW_WAIT_S, PlateGrowth
from daemon.lane.sureness import honest_confidence, weakest

RECENT_S = 0.3
"""A frame waiting for the reader is replaced by any newer one once it is this old."""

RESEND_GAP_S = 0.2
"""A further cloud call with a valid local reading may go this long after the last one."""

RESEND_WIDER = 1.25
"""After a "no plate" answer, a further call needs the plate box this many times as wide."""

NO_PLATE = "FailedOperation.OcrFailed"
"""The cloud's "no plate in this picture": it was reached, so this is not offline."""

NO_PLATE_ANSWERS = 2
"""``cloud`` mode: after this many "no plate" answers the passage calls no more."""

SMALL_FLOOR = 0.5
"""A camera that never shows a plate ``min_plate_width_px`` wide gets a call for the widest
valid plate box it shows at least this share of it wide, once it stopped growing."""

GREW = 1.05
"""... "growing": a box this many times as wide as the widest before it (not box jitter)."""

FUSED_SHARE = 0.3
"""A final local reading must also be the passage's readings fused character by character
(:func:`daemon.plates.fuse`), each character carrying at least this share of the
probability its length's readings could give it (a sure 苏 once after ten weak guesses)."""


Candidate = tuple[Frame, PlateRead, tuple[bool, bool, int, int]]
"""A frame for the cloud, its local reading and rank (valid, sure, confidence, box width)."""


@dataclass(frozen=True, slots=True)
class GateSettings:
    """The ``ocr.mode`` and ``ocr.local`` knobs the gate uses."""

    mode: str = "cloud"
    min_plate_width_px: int = 100
    agree_frames: int = 2
    final_confidence: int = 98
    evidence_frames: int = 2
    char_min_confidence: int = 85
    fused_share: float = FUSED_SHARE

    @classmethod
    def from_config(cls, ocr: OcrConfig) -> GateSettings:
        """From the validated config."""
        loc = ocr.local
        return cls(ocr.mode, loc.min_plate_width_px, loc.agree_frames, loc.final_confidence,
                   loc.evidence_frames, loc.char_min_confidence)


def clearly_better(sent: tuple[bool, int], sure: bool, width: int) -> bool:
    """A frame read ``sure``ly with a ``width`` px plate box is worth another call after the
    cloud found no plate in a frame ``sent`` = (read surely, plate box width)."""
    return (sure and not sent[0]) or width >= RESEND_WIDER * sent[1]


@dataclass(frozen=True, slots=True, eq=False)
class GateStep:
    """What a read led to: a frame for the cloud, a final local reading, or nothing."""

    cloud: Frame | None = None
    final: PlateRead | None = None


class PlateGate:
    """The local-reader-driven policy of one passage (see the module docstring)."""

    def __init__(self, settings: GateSettings, cfg: PassageConfig) -> None:
        self.settings = settings
        self.cfg = cfg
        self.attempts = 0
        """Cloud calls made."""
        self.in_flight = False
        """A cloud call is out."""
        self.trusted = False
        self.offline = settings.mode == "local"
        """No (more) cloud calls: mode ``local``, or the cloud is unreachable or refusing."""
        self.local_in_flight = False
        self.evidence = 0
        """Local reads that saw a plate box."""
        self._reading: dict[int, Frame] = {}
        self._pending: tuple[Frame, float] | None = None
        self._boxed: Candidate | None = None
        self._small: Candidate | None = None
        """The best frame with a valid plate box under ``min_plate_width_px``
        (:data:`SMALL_FLOOR`)."""
        self._widest = (0, 0.0)
        """(px, pts): the widest such box and when a box grew to it (:data:`GREW`); a box
        ``min_plate_width_px`` wide ends the fallback (and the picture ``_small`` pins)."""
        self._first_box_pts: float | None = None
        self._last_sent_pts: float | None = None
        self._sent: tuple[bool, int] = (False, 0)
        """(read surely, plate box width) of the frame last sent to the cloud."""
        self._no_plate, self._no_plates = False, 0
        """The cloud found no plate in the frame last sent; the "no plate" answers it got."""
        self.valid: Counter[str] = Counter()  # valid local readings per plate (nextplate too)
        self._sure: Counter[str] = Counter()
        self._best: dict[str, tuple[PlateRead, Frame | None]] = {}
        self._chars: list[tuple[str, tuple[int, ...]]] = []
        """(plate, per-character confidence) of every valid local reading, for fusing."""
        self._growth = PlateGrowth()
        self.sent_reads: dict[int, PlateRead] = {}
        """The local reading of each frame sent to the cloud (``outcome.wrong_vehicle``)."""

    @property
    def done(self) -> bool:
        """Nothing more to read for this passage (a trusted cloud read decided it)."""
        return self.trusted

    @property
    def engaged(self) -> bool:
        """The passage is about a vehicle with a plate: the reader saw one, or a call went."""
        return self.evidence > 0 or self.attempts > 0

    @property
    def has_evidence(self) -> bool:
        """Enough plate boxes for a plateless passage to be worth publishing."""
        return self.evidence >= self.settings.evidence_frames or (
            self.evidence > 0 and self.attempts > 0
        )

    def local_readings(self) -> list[tuple[str, PlateRead]]:
        """(plate, its most confident read) of every valid local reading, the most often
        read first (then the most often read surely, the more confident); a read that is
        not sure carries no more confidence than its weakest character
        (``sureness.honest_confidence``). Frequency first: a small plate's weak province read
        苏 surely once loses to 琼 read in 29 frames at 5-73 %."""
        order = sorted(self.valid, key=lambda p: (
            -self.valid[p], -self._sure[p], -self._best[p][0].confidence))
        sure_at = self.settings.char_min_confidence
        best = [(p, self._best[p][0]) for p in order]
        return [(p, replace(r, confidence=honest_confidence(r, sure_at))) for p, r in best]

    def local_confidence(self, plate: str | None) -> int | None:
        """The reader's best confidence in ``plate`` (``sureness.honest_confidence``); None if it
        never read it."""
        best = self._best.get(plate) if plate else None
        return honest_confidence(best[0], self.settings.char_min_confidence) if best else None

    def frame_of(self, plate: str) -> Frame | None:
        """The frame of the most confident local reading of ``plate`` (for the snapshot)."""
        best = self._best.get(plate)
        return best[1] if best else None

    def reading_frame(self, seq: int) -> Frame | None:
        """The frame ``seq`` the reader has, until :meth:`on_local` takes its reading."""
        return self._reading.get(seq)

    def release_frames(self) -> None:
        """The passage is decided: keep the readings, let go of the pictures (each pins a
        decoded picture, 3 MB at 1080p, while the car stays in view; a waiting car's
        misreads would hold several)."""
        self._best = {plate: (read, None) for plate, (read, _frame) in self._best.items()}
        self._pending = self._boxed = self._small = None

    def offer(self, frame: Frame, score: float, now_pts: float) -> Frame | None:
        """Consider ``frame`` for the local reader; returns the frame to read now, if any."""
        if self.trusted:
            self._pending = None
            return None
        best = self._pending
        if best is None or score >= best[1] or now_pts - best[0].pts > RECENT_S:
            self._pending = (frame, score)
        if self.local_in_flight or self._pending is None:
            return None
        chosen = self._pending[0]
        self._pending = None
        self.local_in_flight = True
        self._reading[chosen.seq] = chosen
        return chosen

    def on_local(
        self, read: PlateRead, now_pts: float, recent: Callable[[str], bool] = lambda _p: False
    ) -> GateStep:
        """Take one local reading (or a ``Dropped``/``LocalError`` non-reading).

        ``recent(plate)``: the plate was published moments ago (dedup window): a valid
        local reading of it is final at once, without a cloud call (a car leaving after
        its read, a car reversing and coming back)."""
        frame = self._reading.pop(read.frame_seq, None)
        self.local_in_flight = bool(self._reading)
        if self.trusted:
            return GateStep()
        if read.box_found:
            self.evidence += 1
            self._first_box_pts = now_pts if self._first_box_pts is None else self._first_box_pts
        plate = plates.clean(read.plate) if read.ok else None
        if plate is not None:
            self.valid[plate] += 1
            self._sure[plate] += self._is_sure(read)
            chars = read.chars if len(read.chars) == len(plate) else (read.confidence,) * len(plate)
            self._chars.append((plate, chars))
            if plate not in self._best or self._rank(read) > self._rank(self._best[plate][0]):
                self._best[plate] = (read, frame)
            if read.rect is not None:
                self._growth.add(frame.pts if frame else now_pts, read.rect.width)
            if recent(plate):
                return GateStep(final=read)
        self._remember_boxed(frame, read, plate is not None)
        if self.settings.mode != "cloud" or self.offline:
            final = self._agreed(plate)
            if final is not None:
                return GateStep(final=final)
        return GateStep(cloud=self._cloud_due(now_pts))

    def on_cloud(self, read: PlateRead, trusted: bool) -> GateStep:
        """The cloud's answer; when it was not reached or refused, the local reading decides."""
        self.in_flight = False
        self.trusted = self.trusted or trusted
        if self.trusted:
            self._boxed = self._pending = self._small = None
            return GateStep()
        reached = read.called and read.error_code in (None, NO_PLATE)
        self._no_plate = read.called and read.error_code == NO_PLATE
        self._no_plates += self._no_plate
        boxed = self._boxed
        if self._no_plate and boxed is not None and not self._worth_resend(boxed[2]):
            self._boxed = None  # remembered while the call was out; no better than it
        if not read.ok and not reached:
            self.offline = True
            best = self.local_readings()
            if best:
                return GateStep(final=self._agreed(best[0][0]))
        return GateStep()

    def tick(self, now_pts: float) -> GateStep:
        """No local reading comes (the vehicle left): a first call due by time goes now, not
        never (held-out seed 89: a plate in view for 0.24 s, read unsure, closed uncalled)."""
        if self.trusted or self.local_in_flight or self.attempts:
            return GateStep()
        return GateStep(cloud=self._cloud_due(now_pts))

    # -- internals -----------------------------------------------------------------

    def _is_sure(self, read: PlateRead) -> bool:
        """Every character of ``read`` at ``char_min_confidence`` or above."""
        return weakest(read) >= self.settings.char_min_confidence

    def _rank(self, read: PlateRead) -> tuple[bool, int]:
        """Which of two readings of one plate is the better: a sure one, then the surer."""
        return self._is_sure(read), read.confidence

    def _remember_boxed(self, frame: Frame | None, read: PlateRead, valid: bool) -> None:
        rect = read.rect
        if frame is None or not read.box_found or rect is None:
            return
        if self._last_sent_pts is not None and frame.pts <= self._last_sent_pts:
            return
        rank = (valid, valid and self._is_sure(read), read.confidence, rect.width)
        wide = self.settings.min_plate_width_px
        if rect.width < wide:
            if valid and rect.width >= SMALL_FLOOR * wide and self._widest[0] < wide:
                if rect.width >= GREW * self._widest[0]:
                    self._widest = (rect.width, frame.pts)
                self._small = self._better(self._small, frame, read, rank)
            return
        self._widest, self._small = (rect.width, frame.pts), None  # wide enough: no fallback
        if self._worth_resend(rank):
            self._boxed = self._better(self._boxed, frame, read, rank)

    def _better(
        self, cur: Candidate | None, frame: Frame,
        read: PlateRead, rank: tuple[bool, bool, int, int],
    ) -> Candidate | None:
        """The candidate to keep of ``cur`` and ``frame``: the better ranked unless stale."""
        stale = cur is not None and frame.pts - cur[0].pts > self.cfg.candidate_max_age_s
        return (frame, read, rank) if cur is None or stale or rank >= cur[2] else cur

    def _worth_resend(self, rank: tuple[bool, bool, int, int]) -> bool:
        """A boxed frame of this ``rank`` may be sent (after the cloud found no plate: in
        ``cloud`` mode only a clearly better one, and not after :data:`NO_PLATE_ANSWERS`; in
        ``local_first`` none)."""
        if not self._no_plate:
            return True
        most = NO_PLATE_ANSWERS if self.settings.mode == "cloud" else 1
        return self._no_plates < most and clearly_better(self._sent, rank[1], rank[3])

    def _agreed(self, plate: str | None) -> PlateRead | None:
        """The final reading of ``plate``, if its sure readings make it final."""
        if plate is None:
            return None
        read = self._best[plate][0]
        seen = self._sure[plate]
        agreed = seen >= self.settings.agree_frames and 2 * seen > sum(self._sure.values())
        # the same sure reading in enough frames and most of them, or one very confident
        final = agreed or (
            self._is_sure(read) and read.confidence >= self.settings.final_confidence)
        return read if final and self._fused_agrees(plate) else None

    def _fused_agrees(self, plate: str) -> bool:
        """The readings fused character by character give ``plate``, each character with
        ``fused_share`` (:data:`FUSED_SHARE`) of its length's readings' probability."""
        fused = plates.fuse(self._chars)
        share = self.settings.fused_share
        return fused is not None and fused.text == plate and all(
            w >= share * fused.readings for w in fused.support)

    def _small_due(self, now_pts: float) -> Candidate | None:
        """The small plate's frame (:data:`SMALL_FLOOR`) when it is the first call's and the
        plate stopped growing ``settle_s`` ago (the car stopped, or drives away)."""
        small = self._small
        if small is None or self.attempts > 0 or now_pts - self._widest[1] < self.cfg.settle_s \
                or now_pts - small[0].pts > self.cfg.candidate_max_age_s:
            return None
        self._small = None
        return small

    def _cloud_due(self, now_pts: float) -> Frame | None:
        if (
            self.offline or self.in_flight
            or self.attempts >= self.cfg.max_calls or self._first_box_pts is None
        ):
            return None
        boxed = self._boxed or self._small_due(now_pts)
        if boxed is None:
            return None
        valid, sure = boxed[2][0], boxed[2][1]
        if self.attempts == 0:
            since = now_pts - self._first_box_pts
            waited = since >= self.cfg.settle_s and not (
                since < GROW_WAIT_S and self._growth.growing(now_pts, self.cfg.settle_s))
            due = waited or (sure and self.settings.mode == "cloud")
        else:
            last = self._last_sent_pts
            since = now_pts - (last if last is not None else now_pts)
            due = since >= self.cfg.settle_s or (since >= RESEND_GAP_S and valid)
        if not due:
            return None
        self._boxed = self._small = None  # neither pins a picture once a call went
        self.attempts += 1
        self.in_flight = True
        self._last_sent_pts = boxed[0].pts
        self.sent_reads[boxed[0].seq] = boxed[1]
        self._sent = (boxed[2][1], boxed[2][3])
        return boxed[0]
