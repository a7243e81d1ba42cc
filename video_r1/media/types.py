"""Typed contracts of the media stage: sampling settings, a decoded clip, the error type."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

# qwen-vl-utils constants (Qwen2/2.5-VL: patch 14 x spatial merge 2 = factor 28).
IMAGE_FACTOR = 28
VIDEO_MIN_PIXELS = 128 * 28 * 28
TRAIN_VIDEO_MAX_PIXELS = 128 * 28 * 28  # docs/spec.md#frames-and-pixels: training
EVAL_VIDEO_MAX_PIXELS = 256 * 28 * 28  # docs/spec.md#frames-and-pixels: evaluation
IMAGE_MIN_PIXELS = 4 * 28 * 28
IMAGE_MAX_PIXELS = 256 * 28 * 28
VIDEO_TOTAL_PIXELS = int(float(128000 * 28 * 28) * 0.9)  # qwen-vl-utils default budget
FRAME_FACTOR = 2  # frames are paired into temporal patches of 2
FPS = 2.0
FPS_MIN_FRAMES = 4


class MediaError(Exception):
    """A media file could not be used. Always names the file and the reason."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class BackendMissing(ImportError):
    """No video decoding library is installed for the backends asked for: the environment's
    fault, not the file's, so it is never a MediaError and never a bad sample (the recipes
    stop on it); the `auto` backend, the default, passes over a missing library to the next."""

    def __init__(self, missing: list[str]):
        self.missing = missing  # one line per backend: what is missing, what to install
        super().__init__("no video decoding library to read with: " + "; ".join(missing))


@dataclass(frozen=True)
class VideoSettings:
    """How frames are sampled and resized (qwen-vl-utils rules).

    Defaults are the published training settings: 2 fps, 4..16 frames, 128x28x28 pixels per
    frame. Evaluation uses max_pixels=256x28x28 and max_frames 16/32/64.
    """

    fps: float = FPS  # sampling rate; n = duration * fps, clamped to [min_frames, max_frames]
    min_frames: int = FPS_MIN_FRAMES
    max_frames: int = 16
    nframes: int | None = None  # explicit frame count (rounded to an even number); overrides fps
    min_pixels: int = VIDEO_MIN_PIXELS  # per frame
    max_pixels: int = TRAIN_VIDEO_MAX_PIXELS  # per frame
    total_pixels: int = VIDEO_TOTAL_PIXELS  # budget over all frames (qwen-vl-utils)
    factor: int = (
        IMAGE_FACTOR  # height/width multiple: patch_size x merge_size (28; 32 for Qwen3-VL)
    )

    def with_(self, **changes) -> VideoSettings:
        return replace(self, **changes)


@dataclass(frozen=True)
class ImageSettings:
    """How an image is resized: multiples of `factor`, pixel count in [min_pixels, max_pixels]."""

    min_pixels: int = IMAGE_MIN_PIXELS
    max_pixels: int = IMAGE_MAX_PIXELS
    factor: int = IMAGE_FACTOR


@dataclass(frozen=True)
class Clip:
    """Sampled, resized frames of one video.

    frames: uint8 [T, 3, H, W], H and W multiples of the settings' factor, T even.
    indices: source frame index of each frame; timestamps: seconds of each frame.
    """

    frames: torch.Tensor
    indices: tuple[int, ...]
    timestamps: tuple[float, ...]
    source_fps: float
    path: str

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def reordered(self, order: list[int] | torch.Tensor) -> Clip:
        """The same clip with frames in `order` (e.g. a time shuffle for T-GRPO)."""
        order = [int(i) for i in order]
        return Clip(
            frames=self.frames[order],
            indices=tuple(self.indices[i] for i in order),
            timestamps=tuple(self.timestamps[i] for i in order),
            source_fps=self.source_fps,
            path=self.path,
        )


@dataclass(frozen=True)
class VideoInfo:
    """What a cheap look at a video file tells: enough to plan sampling without decoding.

    height/width are the displayed size (rotation metadata applied); rotation is the display
    rotation in degrees counterclockwise (0, 90, 180, 270); duration = num_frames / fps.
    """

    path: str
    num_frames: int
    fps: float
    height: int
    width: int
    rotation: int = 0
    codec: str = ""

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps if self.fps > 0 else 0.0
