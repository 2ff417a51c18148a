"""Whether a cloud answer names the passage's own plate: the checks between the OCR's reading
and the tracker's decision (split out of passage.py).

A valid plate at ``min_confidence`` is trusted unless it cannot be this passage's vehicle's:
a standing probe's plate where no waiting car's plate is (daemon/lane/standing.py), or
another vehicle's (``outcome.wrong_vehicle``: outside the vehicle's box, at a fixture's
place, or away from the plate the local reader read in that frame). Another vehicle's plate
is told to the camera's fixtures (``Fixtures.called_outside``): read there again by a later
passage's call, it is a parked car's, and calls are cropped from the first one. Pure.
"""

from __future__ import annotations

import logging

from daemon import plates
from daemon.config.models import CameraConfig, PassageConfig
from daemon.domain import PlateRead
from daemon.lane import outcome, standing
from daemon.lane.fixtures import Fixtures
from daemon.lane.outcome import OpenPassage

log = logging.getLogger(__name__)


def screen(  # noqa: PLR0917 - the tracker's one call site
    op: OpenPassage, read: PlateRead, plate: str | None, trusted: bool, fixtures: Fixtures,
    camera: CameraConfig, cfg: PassageConfig, wide: int, now_pts: float,
) -> tuple[str | None, bool]:
    """(plate, trusted) of the cloud's ``read`` for ``op`` (``wide``: the gate's
    ``min_plate_width_px``): unchanged, or (None, False) when it is not this vehicle's."""
    rect = read.rect
    fixture = rect is not None and fixtures.holds(rect, now_pts, plate)
    if op.standing and rect is not None and not standing.fits(
            rect, op.read_size, camera, cfg, wide):
        return None, False  # not where a waiting car's plate is
    if not outcome.wrong_vehicle(op, read, fixture):
        return plate, trusted
    log.debug("%s: %s read outside the vehicle's box, another vehicle's; calls cropped to the "
              "vehicle", camera.id, read.plate)
    foreign = plates.clean(read.plate)
    if foreign is not None and rect is not None and not fixture:
        fixtures.called_outside(foreign, rect, now_pts)
    return None, False
