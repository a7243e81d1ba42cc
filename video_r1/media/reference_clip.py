"""The clip that tests and benchmarks decode: video1.mp4 when present, else a generated stand-in.

video1.mp4, a real 22-second clip, sits beside the repository at `../shared/media/` on the
machines this project is built on; the environment variable VIDEO_R1_TEST_VIDEO names another
file instead. Where the named file does not exist (a fresh clone elsewhere), `reference_clip`
writes a stand-in with the project's own encoder that has what the frame-sampling and decoding
tests depend on: 491 frames at 22.29 fps, 640x360 H.264 with B-frames, keyframes at frames
0, 67, 167, 226, 320 and 426. Its content is synthetic (moving shapes over a drifting
gradient), so tests compare decoders and samplers on it, never what it shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_VAR = "VIDEO_R1_TEST_VIDEO"
# <repository>/../shared/media/video1.mp4 (this file is <repository>/video_r1/media/...).
SHARED_CLIP = Path(__file__).resolve().parents[3] / "shared" / "media" / "video1.mp4"


@dataclass(frozen=True)
class ClipGeometry:
    """What the stand-in copies from video1.mp4 (measured with PyAV)."""

    frames: int = 491
    fps: float = 22.29
    height: int = 360
    width: int = 640
    keyframes: tuple[int, ...] = (0, 67, 167, 226, 320, 426)


VIDEO1 = ClipGeometry()


def named_clip() -> Path:
    """The clip asked for: $VIDEO_R1_TEST_VIDEO if set, else <repository>/../shared/media/."""
    named = os.environ.get(ENV_VAR)
    return Path(named) if named else SHARED_CLIP


def reference_clip(workdir: str | os.PathLike) -> Path:
    """`named_clip()` if it exists, else the stand-in in `workdir` (written once, then reused).

    Example:
        reference_clip(tmp_path) -> Path(".../shared/media/video1.mp4") on the build machines,
        tmp_path / "video1_standin.mp4" (491 frames, 22.29 fps, 640x360) elsewhere
    """
    named = named_clip()
    if named.is_file():
        return named
    standin = Path(workdir) / "video1_standin.mp4"
    if not standin.is_file():  # write_video renames into place: an existing file is whole
        write_standin(standin)
    return standin


def write_standin(path: str | os.PathLike, geometry: ClipGeometry = VIDEO1) -> Path:
    """Encode the synthetic stand-in clip of `geometry` (about 6 s of CPU for VIDEO1)."""
    from video_r1.media.encode import write_video

    frames = _standin_frames(geometry)
    return write_video(path, frames, fps=geometry.fps, keyframes=set(geometry.keyframes))


def _standin_frames(geometry: ClipGeometry) -> Iterator[np.ndarray]:
    """uint8 [H, W, 3] frames: a slowly drifting colour gradient, a disc and a bar in motion."""
    h, w = geometry.height, geometry.width
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for t in range(geometry.frames):
        frame = np.empty((h, w, 3), dtype=np.uint8)
        frame[..., 0] = 120 + 80 * np.sin((xs + 2.0 * t) / 53.0)
        frame[..., 1] = 120 + 80 * np.cos((ys - 1.5 * t) / 41.0)
        frame[..., 2] = 120 + 60 * np.sin((xs + ys) / 97.0 + t / 30.0)
        cx, cy = (37 + 5 * t) % w, h / 2 + h / 3 * np.sin(t / 25.0)
        frame[(xs - cx) ** 2 + (ys - cy) ** 2 < 40**2] = (250, 220, 30)
        bar = int((3 * t) % (h - 24))
        frame[bar : bar + 24, w // 4 : w // 2] = (20, 20, 200)
        yield frame
