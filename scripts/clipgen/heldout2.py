"""Held-out profile v2: the camera, the picture and the lane behaviour drawn per seed too.

``heldout_v2(seed)`` (reached as ``heldout_scenario(seed, "v2")``) draws, with its own
random stream (v1 draws are untouched), a :class:`Scenario` named ``heldout_v2_<seed>``:

- frame: 1280x720 (40 %), 1920x1080 (30 %), 960x540 (30 %), fixed by the scenario;
- camera: plate width at the barrier 95-300 px at 1280 wide (so ~71 px in a 960 frame
  up to ~450 px in a 1920 one), barrier 4-10 m away, camera 1.3-4.5 m high, the stopped
  car's wheels at 80-97 % of the frame height (tilt follows), lane half-width 1.6-2.4 m;
  where the road leaves the frame beyond 26 m, cars appear at 16-26 m (a bend);
- legibility: ``legible_px`` = 120 px, or 80 % of the plate's width at the barrier
  for a camera that never shows it that big (never below 56 px);
- motion blur: shutter 1/250-1/50 s (half the clips), defocus sigma 0.6-1.5 px (20 %);
- night (25 %): dim with headlights, IR monochrome for the whole clip in 60 % of them;
- rain (25 %): streak density 0.25-1; sensor noise 1.5-8; shake (15 %) 1.5-6 px;
- compression: x264 CRF 23-36 (at most 30 when plates are under 90 px);
- lane: an exit lane (15 %: every car drives away, rear plates); else per car a side
  street entry (20 %: side view before the plate shows), turning away after its halt
  (15 % of stopping cars, rear plate fitted half the time), no plate at all (7 %);
- walkers and a parked car as in v1.

Every plated car's plate is legible (``legible_px``, in frame, blur-bounded) for at
least ``MIN_LEGIBLE_FRAMES`` frames: cars that fail are drawn again.
"""

from __future__ import annotations

import random
from dataclasses import replace

from clipgen.heldout import FPS, MIN_LEGIBLE_FRAMES, Vary, _cars, extras
from clipgen.motion import clip_duration
from clipgen.scene import BRAKE_M, LEGIBLE_PX, Camera, Car, Scenario

__all__ = ["MIN_LEGIBLE_FRAMES", "SIZES", "draw_camera", "heldout_v2"]

SIZES: tuple[tuple[int, int], ...] = ((1280, 720), (1920, 1080), (960, 540))
MIN_LEGIBLE_PX = 56
FAR_M = 26.0


def draw_camera(rng: random.Random) -> tuple[Camera, tuple[int, int], int]:
    """A camera, its frame size and the legible plate width in that frame."""
    size = rng.choices(SIZES, weights=(0.4, 0.3, 0.3))[0]
    k = size[0] / 1280.0
    for _ in range(1000):
        plate_px = rng.uniform(95.0, 300.0)
        d_barrier = rng.uniform(4.0, 10.0)
        focal = plate_px / 0.44 * d_barrier
        height_m = rng.uniform(1.3, 4.5)
        y_stop = rng.uniform(0.80, 0.97) * 720.0
        y_horizon = y_stop - focal * height_m / d_barrier
        if y_horizon > -20.0:  # the horizon would be in the picture
            continue
        cam = Camera(focal, height_m, y_horizon, d_barrier, rng.uniform(1.6, 2.4))
        if cam.d_enter > FAR_M:
            cam = replace(cam, enter_m=round(rng.uniform(16.0, FAR_M), 1))
        if cam.d_enter >= d_barrier + BRAKE_M + 2.5:
            legible = min(LEGIBLE_PX, max(MIN_LEGIBLE_PX, round(0.8 * plate_px * k)))
            return cam, size, legible
    raise AssertionError("could not draw a camera")


def _vary(exit_lane: bool) -> Vary:
    def vary(rng: random.Random, car: Car) -> Car:
        if exit_lane:
            return replace(car, direction="out")
        side = rng.random() < 0.2
        turn = car.stop_s > 0 and rng.random() < 0.15
        rear = rng.random() < 0.5
        plateless = rng.random() < 0.07
        return replace(
            car,
            plate=None if plateless else car.plate,
            enter_from=rng.choice(("left", "right")) if side else "top",
            leave="turn" if turn else "ahead",
            rear_plate=rear,
        )

    return vary


def heldout_v2(seed: int) -> Scenario:
    """The v2 held-out clip ``heldout_v2_<seed>`` (ranges in the module docstring)."""
    rng = random.Random(f"heldout-v2-{seed}")
    cam, size, legible_px = draw_camera(rng)
    exposure = round(rng.uniform(1 / 250, 1 / 50), 4) if rng.random() < 0.5 else 0.0
    ctx = Scenario("probe", (), camera=cam, size=size, legible_px=legible_px, exposure_s=exposure)
    exit_lane = rng.random() < 0.15
    cars, _ = _cars(rng, ctx, _vary(exit_lane))
    span = clip_duration(replace(ctx, cars=cars), size[0], size[1], FPS)
    night = rng.random() < 0.25
    ir = (0.0,) if night and rng.random() < 0.6 else ()
    rain = round(rng.uniform(0.25, 1.0), 2) if rng.random() < 0.25 else 0.0
    defocus = round(rng.uniform(0.6, 1.5), 2) if rng.random() < 0.2 else 0.0
    crf = rng.randint(23, 30 if legible_px < 90 else 36)
    walkers, parked = extras(rng, span)
    return replace(
        ctx,
        name=f"heldout_v2_{seed}",
        cars=cars,
        noise=round(rng.uniform(4.0, 8.0) if night else rng.uniform(1.5, 6.0), 1),
        light=round(rng.uniform(0.35, 0.6) if night else rng.uniform(0.8, 1.15), 2),
        walkers=walkers,
        parked=parked,
        ir_switch_s=ir,
        headlights=night,
        shake_px=round(rng.uniform(1.5, 6.0), 1) if rng.random() < 0.15 else 0.0,
        overlay=rng.random() < 0.2,
        defocus_px=defocus,
        rain=rain,
        crf=crf,
    )
