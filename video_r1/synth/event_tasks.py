"""Order-dependent tasks built for a tiny model with a frozen random vision tower.

At the demo's resolution (56x56 frames, 4 frames) a Qwen-VL video is 2 temporal patches of
2x2 tokens, each token a 28x28 region: the model can tell which token region holds colour in
which temporal patch, and how much of it, but not which shape or colour it is (the demo's shape
and colour tasks stay at chance). So these events are big, last half the clip (one temporal
patch each), differ by place or presence rather than identity, and have two options.

- event_order: a red and a blue lamp (left/right or top/bottom) light one after the other;
  which first? Shortcut: the lamp that lights first sits on the left (top) in 75% of records.
- appear: one big shape is absent in the first half and present in the second, or the reverse.
  Shortcut: a green shape appears and a red one disappears in 75% of records.

Each shortcut is a single-frame cue, as in `direction` and `reverse`: an order-blind viewer
reaches 75%, and only the frame order gives the rest.
"""

from __future__ import annotations

import numpy as np

from video_r1.synth.render import COLOURS, LAMP_OFF, SHAPES, blank, draw
from video_r1.synth.tasks import CUE_RATE, LETTERS, Sample, SynthConfig, cue_agrees, lettered

LAMP_SIDES = {"horizontal": ("left", "right"), "vertical": ("top", "bottom")}
# Fixed lamp colours, so the options never change: reading the answer is "which colour is lit
# in the first half", with no binding of an option's words to what is seen (the old
# event_order named random shapes and colours in its options and stayed at chance).
LAMP_COLOURS = ("red", "blue")
APPEAR = ("appears", "disappears")
APPEAR_CUE = {"appears": "green", "disappears": "red"}


def lamp_box(size: int, side: str, margin: int) -> tuple[slice, slice]:
    """(rows, cols) of a lamp: its half of the frame less `margin` pixels on every side.

    Example:
        >>> lamp_box(56, "left", 4)
        (slice(4, 52, None), slice(4, 24, None))
    """
    half = size // 2
    near, far = slice(margin, half - margin), slice(half + margin, size - margin)
    across = slice(margin, size - margin)
    return {
        "left": (across, near),
        "right": (across, far),
        "top": (near, across),
        "bottom": (far, across),
    }[side]


def make_event_order(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    first = slot % 2  # index in LAMP_COLOURS (= option) of the lamp that lights first
    sides = LAMP_SIDES[("horizontal", "vertical")[(slot // 2) % 2]]
    agrees = cue_agrees(slot, 4)  # 4 classes: (first, axis)
    # the shortcut: the lamp that lights first usually sits on the left (or top)
    first_side = 0 if agrees else 1
    colour_at = {first_side: LAMP_COLOURS[first], 1 - first_side: LAMP_COLOURS[1 - first]}
    # lamp sizes vary per record, so no two records share a clip
    margins = [int(m) for m in rng.integers(2, cfg.size // 7 + 1, size=2)]
    video = blank(cfg.size, cfg.frames)
    half = cfg.frames // 2
    for t in range(cfg.frames):
        lit = LAMP_COLOURS[first if t < half else 1 - first]
        for i, (side, margin) in enumerate(zip(sides, margins, strict=True)):
            box = lamp_box(cfg.size, side, margin)
            video[(t, *box)] = COLOURS[lit] if colour_at[i] == lit else LAMP_OFF
    names = [f"the {c} lamp" for c in LAMP_COLOURS]
    return Sample(
        problem=f"A {LAMP_COLOURS[0]} lamp and a {LAMP_COLOURS[1]} lamp light up one after the "
        "other. Which lamp lights up first?",
        answer=LETTERS[first],
        rationale=f"In the first half of the video {names[first]} is lit and in the second half "
        f"{names[1 - first]}, so {names[first]} lights up first.",
        media=video,
        options=lettered(names),
        cue_agrees=agrees,
    )


def joint_event_order() -> list:
    # every clip shows each lamp lit once: only the layout (which side the red lamp is on,
    # along which axis) remains, and it agrees with the answer 3 times in 4
    rows = []
    for axis in LAMP_SIDES:
        for first in (0, 1):
            for agrees, p in ((True, CUE_RATE), (False, 1 - CUE_RATE)):
                first_side = 0 if agrees else 1
                red_side = first_side if first == 0 else 1 - first_side
                rows.append(((axis, red_side), LETTERS[first], 0.25 * p))
    return rows


def make_appear(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    event = APPEAR[slot % 2]
    agrees = cue_agrees(slot, 2)
    colour = APPEAR_CUE[event if agrees else APPEAR[1 - slot % 2]]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    radius = cfg.size / 4
    margin = radius + 2
    cx, cy = (float(rng.uniform(margin, cfg.size - margin)) for _ in range(2))
    video = blank(cfg.size, cfg.frames)
    half = cfg.frames // 2
    shown = range(half, cfg.frames) if event == "appears" else range(half)
    for t in shown:
        draw(video[t], shape, colour, cx, cy, radius)
    story = (
        f"The first half of the video is empty and the {colour} {shape} is there in the second "
        "half, so it appears."
        if event == "appears"
        else f"The {colour} {shape} is there in the first half of the video and gone in the "
        "second half, so it disappears."
    )
    return Sample(
        problem="Does the shape appear or disappear during the video?",
        answer=LETTERS[slot % 2],
        rationale=story,
        media=video,
        options=lettered([f"it {e}" for e in APPEAR]),
        cue_agrees=agrees,
    )


def joint_appear() -> list:
    rows = []
    for i, event in enumerate(APPEAR):
        for agrees, p in ((True, CUE_RATE), (False, 1 - CUE_RATE)):
            colour = APPEAR_CUE[event if agrees else APPEAR[1 - i]]
            rows.append(((colour,), LETTERS[i], 0.5 * p))  # empty and full frames either way
    return rows
