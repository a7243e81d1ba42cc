"""Drawing the synthetic benchmark: flat-colour shapes and words on a plain background.

Everything is numpy on uint8 [H, W, 3] canvases, so a 112x112x8 clip renders in well under
a millisecond; large flat shapes in a few saturated colours keep the signal visible after
H.264 compression and the processor's resize.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

BACKGROUND: tuple[int, int, int] = (225, 225, 225)
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 90, 230),
    "yellow": (235, 195, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
LAMP_OFF: tuple[int, int, int] = (70, 70, 70)
TEXT_COLOUR: tuple[int, int, int] = (20, 20, 20)


def blank(size: int, frames: int | None = None) -> np.ndarray:
    """A background canvas: [H, W, 3], or [T, H, W, 3] when `frames` is given.

    Example:
        >>> blank(4, frames=2).shape
        (2, 4, 4, 3)
    """
    shape = (size, size, 3) if frames is None else (frames, size, size, 3)
    canvas = np.empty(shape, dtype=np.uint8)
    canvas[...] = BACKGROUND
    return canvas


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size]
    return ys.astype(np.float32), xs.astype(np.float32)


def shape_mask(size: int, shape: str, cx: float, cy: float, radius: float) -> np.ndarray:
    """Boolean [size, size] mask of a filled shape centred at (cx, cy), `radius` half-extent.

    The triangle points up, so it is told apart from the square by its outline alone.

    Example:
        >>> int(shape_mask(8, "square", 3.5, 3.5, 1.5).sum())
        16
    """
    ys, xs = _grid(size)
    dx, dy = xs - cx, ys - cy
    if shape == "circle":
        return dx * dx + dy * dy <= radius * radius
    if shape == "square":
        return (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
    if shape == "triangle":
        # half-width grows from 0 at the apex (top) to `radius` at the base (bottom)
        return (dy >= -radius) & (dy <= radius) & (np.abs(dx) <= (dy + radius) / 2)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def draw(canvas: np.ndarray, shape: str, colour: str | tuple, cx: float, cy: float, radius: float):
    """Paint a shape onto a [H, W, 3] canvas in place (colour by name or RGB)."""
    rgb = COLOURS[colour] if isinstance(colour, str) else colour
    canvas[shape_mask(canvas.shape[0], shape, cx, cy, radius)] = rgb


@lru_cache(maxsize=64)
def text_mask(word: str, size: int) -> np.ndarray:
    """Boolean [size, size] mask of `word` in PIL's default font, scaled to fill ~2/3 the width.

    Example:
        >>> text_mask("CAT", 112).shape
        (112, 112)
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=max(8, size // 4))
    left, top, right, bottom = font.getbbox(word)
    image = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(image).text((1 - left, 1 - top), word, fill=255, font=font)
    scale = min(0.75 * size / image.width, 0.5 * size / image.height)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    glyphs = np.asarray(image.resize((width, height), Image.Resampling.NEAREST)) > 127
    mask = np.zeros((size, size), dtype=bool)
    top_left = ((size - height) // 2, (size - width) // 2)
    mask[top_left[0] : top_left[0] + height, top_left[1] : top_left[1] + width] = glyphs
    return mask
