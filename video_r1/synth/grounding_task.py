"""A temporal grounding task: when is the lamp on? (opt-in: `video-r1 synth --tasks lamp_window`)

The clip is 8 equal segments, each at least half a second long, so the media stage's 2-fps
sampling puts a frame in every segment (8 segments -> at least 8 frames; linspace sampling of
n = 8 or 16 frames gives segment k frame k, or frames 2k and 2k + 1). A big lamp is on for a
window of 2 or 3 consecutive segments starting in segment 0 to 5 (12 windows), grey otherwise;
the answer is the window's start and end in seconds, `[start, end]`, as a temporal grounding
record has it, and a frame is lit exactly when its time (index / fps) lies in [start, end).

Shortcut, as in the other order-dependent tasks: a single-frame cue, the lamp's colour, says
where the window lies in 75% of records (green: it starts in segment 0-2, red: in 3-5).
Frames in random order show the colour and how many frames are lit (the window's length) but
not where the window is: an order-blind viewer finds the half 3 times in 4, then must guess
among 3 starts (exact-match 0.25 against a chance of 1/12; as mean IoU in `extras`).
"""

from __future__ import annotations

import json
import math
from itertools import product

import numpy as np

from video_r1.synth.render import COLOURS, LAMP_OFF, blank, draw
from video_r1.synth.tasks import CUE_RATE, CUE_SLOTS, Sample, SynthConfig, Task, cue_agrees

SEGMENTS = 8
MIN_SEGMENT_SECONDS = 0.5  # one frame of the media stage's 2-fps sampling per segment
STARTS = tuple(range(6))  # the window's first segment
LENGTHS = (2, 3)  # its length in segments
WINDOWS = tuple(product(STARTS, LENGTHS))  # the answer classes: (start, length)
WINDOW_CUE = {"early": "green", "late": "red"}  # the colour usually shown (CUE_RATE)
QUERY = "the lamp is on"
# Time-R1's question, as `video-r1 data convert --from charades-sta` writes it
PROBLEM = (
    f'To accurately pinpoint the event "{QUERY}" in the video, determine the precise time '
    "period of the event."
)


def segment_frames(cfg: SynthConfig) -> int:
    """Frames per segment: the clip config's quarter, stretched to last at least 0.5 s.

    Example: SynthConfig() (8 frames at 4 fps) -> 2 (0.5 s); at 8 fps -> 4
    """
    return max(cfg.segment, math.ceil(MIN_SEGMENT_SECONDS * cfg.fps))


def window_seconds(start: int, length: int, cfg: SynthConfig) -> tuple[float, float]:
    """(start, end) in seconds of a window of segments.

    Example: window_seconds(2, 3, SynthConfig()) == (1.0, 2.5)
    """
    seconds = segment_frames(cfg) / cfg.fps
    return round(start * seconds, 6), round((start + length) * seconds, 6)


def _half(start: int) -> str:
    return "early" if start < len(STARTS) // 2 else "late"


def make_lamp_window(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    start, length = WINDOWS[slot % len(WINDOWS)]
    agrees = cue_agrees(slot, len(WINDOWS))
    half = _half(start)
    colour = WINDOW_CUE[half if agrees else ("late" if half == "early" else "early")]
    per_segment = segment_frames(cfg)
    frames = SEGMENTS * per_segment
    lit = range(start * per_segment, (start + length) * per_segment)
    # the lamp's place and size vary per record, so no two records share a clip
    radius = cfg.size * float(rng.uniform(0.25, 0.35))
    cx, cy = (float(rng.uniform(radius, cfg.size - radius)) for _ in range(2))
    video = blank(cfg.size, frames)
    for t in range(frames):
        draw(video[t], "circle", COLOURS[colour] if t in lit else LAMP_OFF, cx, cy, radius)
    begin, end = window_seconds(start, length, cfg)
    return Sample(
        problem=PROBLEM,
        answer=json.dumps([begin, end]),
        rationale=f"The lamp is lit {colour} from {begin:.2f} s to {end:.2f} s.",
        media=video,
        cue_agrees=agrees,
    )


def joint_lamp_window(cfg: SynthConfig | None = None) -> list:
    """(what frames in random order show: length and colour, answer, probability)."""
    cfg = cfg or SynthConfig()
    rows = []
    for start, length in WINDOWS:
        for agrees, p in ((True, CUE_RATE), (False, 1 - CUE_RATE)):
            half = _half(start)
            colour = WINDOW_CUE[half if agrees else ("late" if half == "early" else "early")]
            answer = json.dumps(list(window_seconds(start, length, cfg)))
            rows.append(((length, colour), answer, p / len(WINDOWS)))
    return rows


def interval_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal IoU of two intervals.

    Example:
        >>> interval_iou((0.0, 2.0), (1.0, 3.0))
        0.3333333333333333
    """
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def iou_figures(joint: list) -> dict[str, float]:
    """Mean IoU of a uniform guess among the answers (`chance_miou`) and of the best guess per
    order-blind observation among every window of whole segments (`order_blind_miou`).

    Example: one answer, always seen -> both 1.0
        >>> iou_figures([((2,), "[0.0, 1.0]", 1.0)])
        {'chance_miou': 1.0, 'order_blind_miou': 1.0}
    """
    answers = sorted({answer for _, answer, _ in joint})
    spans = {a: tuple(json.loads(a)) for a in answers}
    total = sum(p for _, _, p in joint)
    chance = sum(
        p * interval_iou(spans[truth], spans[guess]) / len(answers)
        for _, truth, p in joint
        for guess in answers
    )
    step = min(e - s for s, e in spans.values()) / min(LENGTHS)  # one segment, in seconds
    candidates = [(i * step, j * step) for i in range(SEGMENTS) for j in range(i + 1, SEGMENTS + 1)]
    best = 0.0
    for seen in {obs for obs, _, _ in joint}:
        rows = [(spans[a], p) for obs, a, p in joint if obs == seen]
        best += max(sum(p * interval_iou(span, c) for span, p in rows) for c in candidates)
    return {
        "chance_miou": round(chance / total, 6),
        "order_blind_miou": round(best / total, 6),
    }


LAMP_WINDOW = Task(
    "lamp_window",
    "A lamp is on for 2-3 of the clip's 8 segments; when (start and end in seconds)?",
    "temporal grounding",
    "video",
    True,
    1,
    len(WINDOWS) * CUE_SLOTS,
    make_lamp_window,
    joint_lamp_window,
    shortcut="the lamp is green when the window starts in the first 3 segments and red when "
    "in the last 3, in 75% of records",
    default=False,  # opt-in: --tasks lamp_window (its clips are twice the default's length)
    extras=iou_figures(joint_lamp_window()),
)
