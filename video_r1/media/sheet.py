"""Contact sheet of a clip: its frames in a grid, each labelled with index and timestamp."""

from __future__ import annotations

import io
import os
from pathlib import Path

from video_r1.media.types import Clip
from video_r1.utils.io import atomic_write_bytes

LABEL_HEIGHT = 16  # pixels of caption strip under each frame
GAP = 4


def render_contact_sheet(clip: Clip, columns: int = 4):
    """A PIL RGB image: frames left to right, top to bottom, captions underneath.

    Example: a 16-frame 224x420 clip with columns=4 gives a 4x4 grid of
    (420 + 4) x (224 + 16 + 4) cells, plus a 4-pixel margin.
    """
    from PIL import Image, ImageDraw

    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    count, _, height, width = clip.frames.shape
    rows = (count + columns - 1) // columns
    cell_w, cell_h = width + GAP, height + LABEL_HEIGHT + GAP
    sheet = Image.new("RGB", (columns * cell_w + GAP, rows * cell_h + GAP), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    frames = clip.frames.permute(0, 2, 3, 1).numpy()  # [T, H, W, 3]
    for k in range(count):
        x, y = GAP + (k % columns) * cell_w, GAP + (k // columns) * cell_h
        sheet.paste(Image.fromarray(frames[k]), (x, y))
        caption = f"#{clip.indices[k]}  {clip.timestamps[k]:.2f}s"
        draw.text((x + 2, y + height + 2), caption, fill=(235, 235, 235))
    return sheet


def write_contact_sheet(clip: Clip, out: str | os.PathLike, columns: int = 4) -> Path:
    """Render and write the sheet atomically; the format follows the suffix (png, jpg)."""
    out = Path(out)
    image = render_contact_sheet(clip, columns)
    buffer = io.BytesIO()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(out.suffix.lower(), "PNG")
    image.save(buffer, format=fmt)
    atomic_write_bytes(out, buffer.getvalue())
    return out
