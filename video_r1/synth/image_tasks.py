"""Image tasks: colour (multiple choice), a word (OCR) and colour + shape (free-form)."""

from __future__ import annotations

import numpy as np

from video_r1.synth.render import COLOURS, SHAPES, TEXT_COLOUR, blank, draw, text_mask
from video_r1.synth.tasks import LETTERS, Sample, SynthConfig, Task, lettered
from video_r1.synth.video_tasks import visible_answer_joint

VOCABULARY = ("CAT", "DOG", "SUN", "BOX", "TREE", "FISH", "BIRD", "STAR")
COLOUR_NAMES = tuple(COLOURS)


def _place(rng: np.random.Generator, cfg: SynthConfig, radius: float) -> tuple[float, float]:
    lo, hi = radius + 2, cfg.size - radius - 2
    return float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))


def make_color_image(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    colour = COLOUR_NAMES[slot % len(COLOUR_NAMES)]
    shape = str(rng.choice(SHAPES))
    radius = cfg.size / 6
    image = blank(cfg.size)
    draw(image, shape, colour, *_place(rng, cfg, radius), radius)
    return Sample(
        problem=f"What colour is the {shape}?",
        answer=LETTERS[slot % len(COLOUR_NAMES)],
        rationale=f"The {shape} is filled with {colour}, so its colour is {colour}.",
        media=image,
        options=lettered(COLOUR_NAMES),
    )


def make_ocr_image(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    word = VOCABULARY[slot % len(VOCABULARY)]
    mask = text_mask(word, cfg.size)
    rows, cols = np.nonzero(mask)
    # shift the centred word by up to its free margin, so position carries no information
    dy = int(rng.integers(-rows.min() + 2, cfg.size - rows.max() - 2))
    dx = int(rng.integers(-cols.min() + 2, cfg.size - cols.max() - 2))
    image = blank(cfg.size)
    image[np.roll(mask, (dy, dx), axis=(0, 1))] = TEXT_COLOUR
    return Sample(
        problem="What word is written in the image?",
        answer=word,
        rationale=f"The letters are {', '.join(word)}, so the word is {word}.",
        media=image,
    )


def make_shape_image(rng: np.random.Generator, slot: int, cfg: SynthConfig) -> Sample:
    colour = COLOUR_NAMES[slot % len(COLOUR_NAMES)]
    shape = SHAPES[(slot // len(COLOUR_NAMES)) % len(SHAPES)]
    radius = cfg.size / 6
    image = blank(cfg.size)
    draw(image, shape, colour, *_place(rng, cfg, radius), radius)
    return Sample(
        problem="What is in the image? Answer with its colour and shape, e.g. 'green square'.",
        answer=f"{colour} {shape}",
        rationale=f"There is one object; it is {colour} and it is a {shape}.",
        media=image,
    )


IMAGE_TASKS: tuple[Task, ...] = (
    Task(
        "color_image",
        "One shape in an image; what colour is it (4 options)?",
        "multiple choice",
        "image",
        False,
        1,
        len(COLOUR_NAMES),
        make_color_image,
        lambda: visible_answer_joint(tuple(LETTERS[: len(COLOUR_NAMES)])),
    ),
    Task(
        "ocr_image",
        f"A 3-4 letter word from a vocabulary of {len(VOCABULARY)}; transcribe it.",
        "OCR",
        "image",
        False,
        1,
        len(VOCABULARY),
        make_ocr_image,
        lambda: visible_answer_joint(VOCABULARY),
    ),
    Task(
        "shape_image",
        "One shape in an image; name its colour and shape (e.g. 'red circle').",
        "free-form",
        "image",
        False,
        1,
        len(COLOUR_NAMES) * len(SHAPES),
        make_shape_image,
        lambda: visible_answer_joint(tuple(f"{c} {s}" for s in SHAPES for c in COLOUR_NAMES)),
    ),
)
