"""Plates that stay put in one camera's picture and belong to no passing vehicle: a car
parked at the edge of the lane, a plate on a wall.

Pure logic, no I/O; the clock is the frame ``pts``. The passage tracker learns such a plate
from what the local reader saw *outside* the moving vehicle's box (``outcome.own_plate``):

the local reader read the same valid plate outside the vehicle's box, at the same place
(within half its width and one height), in :data:`FIXED_READS` frames over at least
:data:`FIXED_SPAN_S`: a vehicle's own plate is outside its motion box only for moments (the
box lagging behind the car) and moves with it. Or sooner, in :data:`FIXED_READS` frames
where the plate stayed put (:data:`STILL`) while the vehicle's box moved by at least the
plate's width: whatever moves there, that plate is not on it (held-out seed 273: a car in
from the side, its box growing towards a parked car's plate, read 4 times outside it in
0.12 s, then inside it and taken for the car's own; a false passage in every mode). A plate
published moments ago is not learnt (the car just read, leaving or waiting ahead of the next
one).

The cloud teaches one too: a plate it read as another vehicle's (``outcome.wrong_vehicle``)
at the same place in two calls of two passages (:data:`CALLS_APART_S` apart) stayed put while
two vehicles went by: a parked car (held-out seed 306: its plate the answer to the first
call of each of three cars, 2 calls a car). Only that text is screened then (a car stopping
there later shows another plate), and the calls are cropped from the first one.

Until :data:`FIXED_S` after it was last seen there, a plate box at that place, whatever its
text, is no evidence about any later passage's vehicle, and a cloud read there is another
vehicle's (``outcome.wrong_vehicle``): a car without plates driving past the parked one has
the parked plate *inside* its motion box, and would otherwise be taken for the parked car (a
cloud call, the parked plate published, the plateless car lost).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from daemon import plates
from daemon.domain import PlateRead, Rect

FIXED_READS = 3
"""Readings of a plate at one place outside the vehicle's box that make it a fixture."""

FIXED_SPAN_S = 0.5
"""... over at least this much stream time."""

STILL = 0.1
"""A plate "stayed put": its centre within this share of its width of where it was first
read (a moving car's plate, even at walking pace, moves more over three readings)."""

CALLS_APART_S = 5.0
"""Two cloud answers naming another vehicle's plate at one place this far apart (two
passages) make it a fixture."""

FIXED_S = 120.0
"""How long a fixture is remembered after it was last seen (a parked car drives off)."""


@dataclass(slots=True)
class _Spot:
    rect: Rect
    seen: int
    first_pts: float
    last_pts: float
    text_only: bool = False
    """Learnt from a standing probe (:meth:`Fixtures.stood`): fixed at once, and only its own
    text is screened."""
    called: bool = False
    """Learnt from the cloud's answers (:meth:`Fixtures.called_outside`): fixed at once, only
    its own text screened, and known (calls cropped)."""
    box: Rect | None = None
    """The vehicle's box (the reading picture's pixels) when the plate was first read here."""
    still: bool = True
    """The plate stayed put (:data:`STILL`) while ``box`` moved (``passed``)."""
    passed: int = 0
    """How far (px) the vehicle's box has moved since, its most moved edge."""

    def fixed(self) -> bool:
        return self.text_only or (self.seen >= FIXED_READS and (
            self.last_pts - self.first_pts >= FIXED_SPAN_S
            or (self.still and self.passed >= self.rect.width)))

    def track(self, rect: Rect, box: Rect | None) -> None:
        """One more reading at ``rect`` with the vehicle's ``box``."""
        drift = max(abs(_centre(rect)[0] - _centre(self.rect)[0]),
                    abs(_centre(rect)[1] - _centre(self.rect)[1]))
        self.still = self.still and drift <= STILL * self.rect.width
        if box is None or self.box is None:
            self.box = self.box or box
            return
        a, b = self.box, box
        self.passed = max(self.passed, abs(a.x - b.x), abs(a.y - b.y),
                          abs(a.x + a.width - b.x - b.width), abs(a.y + a.height - b.y - b.height))


def _centre(r: Rect) -> tuple[float, float]:
    return r.x + r.width / 2, r.y + r.height / 2


def _same_place(a: Rect, b: Rect) -> bool:
    dx = abs((a.x + a.width / 2) - (b.x + b.width / 2))
    dy = abs((a.y + a.height / 2) - (b.y + b.height / 2))
    return dx <= max(a.width, b.width) / 2 and dy <= max(a.height, b.height)


class Fixtures:
    """The fixed plates of one camera (module docstring)."""

    def __init__(self) -> None:
        self._spots: dict[str, _Spot] = {}
        self._called: dict[str, tuple[Rect, float]] = {}
        """Where and when the cloud first read each plate as another vehicle's."""

    def saw_outside(self, plate: str, rect: Rect, now: float, box: Rect | None = None) -> None:
        """The local reader read ``plate`` at ``rect``, outside the vehicle's ``box`` (in the
        reading picture's pixels; None: not known)."""
        spot = self._spots.get(plate)
        if spot is None or not _same_place(spot.rect, rect):
            spot = self._spots[plate] = _Spot(rect, 0, now, now)
        spot.seen += 1
        spot.last_pts = now
        spot.track(rect, box)

    def stood(self, plate: str, rect: Rect, since: float, now: float) -> None:
        """``plate`` was read at ``rect`` all through a standing probe that decided nothing
        (daemon/lane/standing.py): an overlay, a sign, a parked car; a fixture at once, but
        of that text only (the next car waiting at that place shows another plate)."""
        self._spots[plate] = _Spot(rect, FIXED_READS, since, now, text_only=True)

    def called_outside(self, plate: str, rect: Rect, now: float) -> None:
        """The cloud read ``plate`` at ``rect`` as another vehicle's; at the same place
        :data:`CALLS_APART_S` or more after it first did, a fixture of that text."""
        for old in [p for p, (_r, t) in self._called.items() if now - t > FIXED_S]:
            del self._called[old]
        first = self._called.get(plate)
        if first is None or not _same_place(first[0], rect):
            self._called[plate] = (rect, now)
        elif now - first[1] >= CALLS_APART_S:
            self._spots[plate] = _Spot(rect, FIXED_READS, first[1], now, text_only=True,
                                       called=True)

    def known(self, now: float) -> bool:
        """A fixture (not only a standing probe's text) was seen within :data:`FIXED_S`."""
        return any(s.fixed() and (s.called or not s.text_only) and now - s.last_pts <= FIXED_S
                   for s in self._spots.values())

    def holds(self, rect: Rect, now: float, text: str | None = None) -> bool:
        """A fixture is at ``rect`` (and is seen there once more); one learnt from a probe
        only if ``text`` is its plate."""
        for plate, spot in list(self._spots.items()):
            if now - spot.last_pts > FIXED_S:
                del self._spots[plate]
            elif spot.fixed() and _same_place(spot.rect, rect) and (
                    not spot.text_only or text == plate):
                spot.last_pts = now
                return True
        return False

    def screen(
        self, kept: PlateRead, read: PlateRead, now: float, *, learn: bool,
        box: Rect | None = None, scale: tuple[float, float] = (1.0, 1.0),
    ) -> PlateRead:
        """``kept``: the local ``read`` as evidence about the vehicle (``outcome.own_plate``),
        with a plate box at a fixture's place counted as no plate box. ``learn``: a valid
        plate ``own_plate`` put outside the vehicle's ``box`` (the lane frame's pixels,
        ``scale`` times the reading picture's) counts towards a fixture."""
        plate = plates.clean(read.plate) if read.ok else None
        if learn and plate is not None and kept is not read and read.rect is not None:
            sx, sy = scale
            seen = None if box is None else Rect(round(box.x / sx), round(box.y / sy),
                                                 round(box.width / sx), round(box.height / sy))
            self.saw_outside(plate, read.rect, now, seen)
        if kept.rect is None or not self.holds(kept.rect, now, plate):
            return kept
        return replace(kept, ok=False, plate=None, rect=None, box_found=False)
