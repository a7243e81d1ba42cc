"""Video tasks: four that depend on frame order and three that do not.

Order-dependent tasks need the frame order to be answered beyond what a static cue gives;
order-independent ones (shape, count, lamp fraction) can be answered from the frames in
any order. Every order-dependent task carries a colour cue that agrees with the answer in 75%
of records: a single-frame shortcut a model can learn instead of watching the order.
`event_order` and `appear` live in event_tasks.py (built for what a tiny model can see).
"""

from __future__ import annotations

import numpy as np

from video_r1.synth.event_tasks import (
    joint_appear,
    joint_event_order,
    make_appear,
    make_event_order,
)
from video_r1.synth.render import COLOURS, LAMP_OFF, SHAPES, blank, draw
from video_r1.synth.tasks import (
    CUE_RATE,
    CUE_SLOTS,
    LETTERS,
    Sample,
    SynthConfig,
    Task,
    cue_agrees,
    lettered,
)

DIRECTIONS = ("left", "right", "up", "down")
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}
# the colour that usually (CUE_RATE) goes with each direction: the shortcut
DIRECTION_CUE = {"right": "red", "left": "blue", "up": "green", "down": "yellow"}
FROM_TO = {
    "left": ("right", "left"),
    "right": ("left", "right"),
    "up": ("bottom", "top"),
    "down": ("top", "bottom"),
}
PLAYBACK = ("forward", "backward")
PLAYBACK_CUE = {"forward": "green", "backward": "red"}


def _radius(cfg: SynthConfig) -> float:
    return cfg.size / 8


def _coordinate(rng: np.random.Generator, cfg: SynthConfig) -> float:
    margin = _radius(cfg) + 2
    return float(rng.uniform(margin, cfg.size - margin))


def make_direction(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    direction = DIRECTIONS[slot % 4]
    agrees = cue_agrees(slot, 4)
    colour = DIRECTION_CUE[direction if agrees else OPPOSITE[direction]]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    radius, lo = _radius(cfg), _radius(cfg) + 2
    hi = cfg.size - lo
    start, end = {"left": (hi, lo), "right": (lo, hi), "up": (hi, lo), "down": (lo, hi)}[direction]
    along = np.linspace(start, end, cfg.frames)
    across = _coordinate(rng, cfg)
    video = blank(cfg.size, cfg.frames)
    for t in range(cfg.frames):
        cx, cy = (along[t], across) if direction in ("left", "right") else (across, along[t])
        draw(video[t], shape, colour, cx, cy, radius)
    source, target = FROM_TO[direction]
    return Sample(
        problem=f"In which direction does the {colour} {shape} move?",
        answer=LETTERS[DIRECTIONS.index(direction)],
        rationale=f"The {colour} {shape} starts at the {source} and ends at the {target}, "
        f"so it moves {direction}.",
        media=video,
        options=lettered(DIRECTIONS),
        cue_agrees=agrees,
    )


def joint_direction() -> list:
    rows = []
    for i, direction in enumerate(DIRECTIONS):
        axis = "horizontal" if direction in ("left", "right") else "vertical"
        for agrees, p in ((True, CUE_RATE), (False, 1 - CUE_RATE)):
            colour = DIRECTION_CUE[direction if agrees else OPPOSITE[direction]]
            rows.append(((axis, colour), LETTERS[i], 0.25 * p))  # the path's axis is visible
    return rows


def make_reverse(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    playback = PLAYBACK[slot % 2]
    agrees = cue_agrees(slot, 2)
    colour = PLAYBACK_CUE[playback if agrees else PLAYBACK[1 - slot % 2]]
    block = cfg.size // 6  # 4 blocks stack to 2/3 of the frame height
    width = 2 * block
    left = int(rng.integers(2, cfg.size - width - 2))
    rgb = COLOURS[colour]
    video = blank(cfg.size, cfg.frames)
    for t in range(cfg.frames):
        quarter = t // cfg.segment
        n_blocks = quarter + 1 if playback == "forward" else 4 - quarter
        for b in range(n_blocks):
            bottom = cfg.size - 4 - b * block
            # a 1-pixel gap between blocks keeps them countable
            video[t, bottom - block + 1 : bottom, left : left + width] = rgb
    story = (
        "The tower grows from 1 block to 4 blocks, so blocks are being stacked: the video "
        "plays forward."
        if playback == "forward"
        else "The tower shrinks from 4 blocks to 1 block, which is stacking seen in reverse: "
        "the video plays backward."
    )
    return Sample(
        problem="Someone stacks blocks into a tower. Is the video played forward or backward?",
        answer=LETTERS[PLAYBACK.index(playback)],
        rationale=story,
        media=video,
        options=lettered(PLAYBACK),
        cue_agrees=agrees,
    )


def joint_reverse() -> list:
    rows = []
    for i, playback in enumerate(PLAYBACK):
        for agrees, p in ((True, CUE_RATE), (False, 1 - CUE_RATE)):
            colour = PLAYBACK_CUE[playback if agrees else PLAYBACK[1 - i]]
            rows.append(((colour,), LETTERS[i], 0.5 * p))  # same frames, other order
    return rows


def make_shape_video(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    shape = SHAPES[slot % 3]
    colour = str(rng.choice(list(COLOURS)))
    start = np.array([_coordinate(rng, cfg), _coordinate(rng, cfg)])
    end = np.array([_coordinate(rng, cfg), _coordinate(rng, cfg)])
    video = blank(cfg.size, cfg.frames)
    for t, (cx, cy) in enumerate(np.linspace(start, end, cfg.frames)):
        draw(video[t], shape, colour, cx, cy, _radius(cfg))
    return Sample(
        problem="Which shape moves in the video?",
        answer=LETTERS[slot % 3],
        rationale=f"The object moving across the video is a {colour} {shape}.",
        media=video,
        options=lettered(SHAPES),
    )


def make_count_video(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    count = slot % 4 + 1
    quarter = cfg.size / 4
    cells = rng.permutation(4)[:count]  # one shape per quadrant, so shapes never overlap
    video = blank(cfg.size, cfg.frames)
    names = []
    for cell in sorted(int(c) for c in cells):
        shape, colour = str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS)))
        names.append(f"a {colour} {shape}")
        centre = np.array([(2 * (cell % 2) + 1) * quarter, (2 * (cell // 2) + 1) * quarter])
        drift = rng.uniform(-quarter / 4, quarter / 4, size=2)
        for t, (cx, cy) in enumerate(np.linspace(centre - drift, centre + drift, cfg.frames)):
            draw(video[t], shape, colour, cx, cy, quarter * 0.6)
    listed = names[0] if count == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return Sample(
        problem="How many shapes are in the video?",
        answer=str(count),
        rationale=f"I can see {listed}: {count} shape{'s' if count > 1 else ''}.",
        media=video,
    )


LAMP_FRACTIONS = ("0.25", "0.5", "0.75")


def make_light_fraction(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    on_quarters = slot % 3 + 1
    lit = set(int(q) for q in rng.permutation(4)[:on_quarters])
    video = blank(cfg.size, cfg.frames)
    centre = cfg.size / 2
    for t in range(cfg.frames):
        colour = COLOURS["yellow"] if t // cfg.segment in lit else LAMP_OFF
        draw(video[t], "circle", colour, centre, centre, cfg.size / 4)
    answer = LAMP_FRACTIONS[on_quarters - 1]
    return Sample(
        problem="A lamp switches on (yellow) and off (grey). For what fraction of the video "
        "is the lamp on? Answer with a number between 0 and 1.",
        answer=answer,
        rationale=f"The lamp is on in {on_quarters} of the 4 quarters of the video, so it is "
        f"on for {answer} of the time.",
        media=video,
    )


def visible_answer_joint(answers: tuple[str, ...]) -> list:
    """Order-independent task: any frame order shows the answer (observation = answer)."""
    return [((a,), a, 1.0 / len(answers)) for a in answers]


VIDEO_TASKS: tuple[Task, ...] = (
    Task(
        "direction",
        "A shape crosses the frame; which way does it move (left/right/up/down)?",
        "multiple choice",
        "video",
        True,
        3,
        4 * CUE_SLOTS,
        make_direction,
        joint_direction,
        shortcut="the shape's colour matches its direction (red right, blue left, green up, "
        "yellow down) in 75% of records",
    ),
    Task(
        "event_order",
        "A red and a blue lamp (side by side or stacked) light up in turn; which first?",
        "multiple choice",
        "video",
        True,
        2,
        4 * CUE_SLOTS,
        make_event_order,
        joint_event_order,
        shortcut="the lamp that lights first sits on the left (or top) in 75% of records",
    ),
    Task(
        "reverse",
        "A tower of blocks is built or unbuilt; is the video played forward or backward?",
        "multiple choice",
        "video",
        True,
        2,
        2 * CUE_SLOTS,
        make_reverse,
        joint_reverse,
        shortcut="green blocks mean forward and red blocks backward in 75% of records",
    ),
    Task(
        "appear",
        "One big shape is there in one half of the clip only; does it appear or disappear?",
        "multiple choice",
        "video",
        True,
        2,
        2 * CUE_SLOTS,
        make_appear,
        joint_appear,
        shortcut="a green shape appears and a red one disappears in 75% of records",
        default=False,  # opt-in: --tasks appear (the temporal experiment uses it)
    ),
    Task(
        "shape_video",
        "One shape moves around; which shape is it (circle/square/triangle)?",
        "multiple choice",
        "video",
        False,
        2,
        3,
        make_shape_video,
        lambda: visible_answer_joint(("A", "B", "C")),
    ),
    Task(
        "count_video",
        "1-4 shapes drift in place; how many are there?",
        "numerical",
        "video",
        False,
        1,
        4,
        make_count_video,
        lambda: visible_answer_joint(("1", "2", "3", "4")),
    ),
    Task(
        "light_fraction",
        "A lamp is on in 1-3 of the 4 quarters of the clip; for what fraction of the time?",
        "regression",
        "video",
        False,
        1,
        3,
        make_light_fraction,
        lambda: visible_answer_joint(LAMP_FRACTIONS),
    ),
)
