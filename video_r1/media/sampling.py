"""Frame-count, frame-index and resize rules of qwen-vl-utils (0.0.14), as pure functions.

The arithmetic (float order, Python's round-half-to-even, torch.linspace in float32) is copied
on purpose: the same settings must give the same frame indices and sizes as qwen-vl-utils.
Deviations, all on inputs where qwen-vl-utils raises or returns a degenerate size, are named
where they occur.
"""

from __future__ import annotations

import math

import torch

from video_r1.media.types import FRAME_FACTOR, VideoSettings

MAX_RATIO = 200  # qwen-vl-utils rejects images/frames more elongated than this
VIDEO_MAX_TOKENS_PER_FRAME = 768  # qwen-vl-utils VIDEO_MAX_TOKEN_NUM: hard per-frame cap


def round_by_factor(number: float, factor: int) -> int:
    """Closest multiple of `factor` (Python round: halves go to the even quotient).

    Example: round_by_factor(5, 2) == 4; round_by_factor(7, 2) == 8; round_by_factor(364, 28) == 364
    """
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    """Smallest multiple of `factor` >= number. Example: ceil_by_factor(237.6, 28) == 252"""
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    """Largest multiple of `factor` <= number. Example: floor_by_factor(237.6, 28) == 224"""
    return math.floor(number / factor) * factor


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: float = 4 * 28 * 28,
    max_pixels: float = 16384 * 28 * 28,
) -> tuple[int, int]:
    """Output (height, width): multiples of `factor`, pixel count in [min_pixels, max_pixels],
    aspect ratio kept as closely as possible.

    Same as qwen_vl_utils.smart_resize except that a side never drops below `factor` (qwen-vl-utils
    can return 0 for very elongated inputs squeezed into a small budget).

    Example: smart_resize(360, 640, 28, 100352, 100352) == (224, 420)
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    if max_pixels < min_pixels:
        raise ValueError(f"max_pixels ({max_pixels}) must be >= min_pixels ({min_pixels})")
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(
            f"aspect ratio must be at most {MAX_RATIO}, got {max(height, width) / min(height, width)}"
        )
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, floor_by_factor(height / beta, factor))
        w_bar = max(factor, floor_by_factor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def smart_nframes(total_frames: int, video_fps: float, settings: VideoSettings) -> int:
    """Number of frames to sample: even, at most `total_frames` (qwen-vl-utils rules).

    With `settings.nframes` it is that count rounded to even; otherwise duration x fps clamped
    to [min_frames, max_frames] and to the clip, rounded down to even. Deviations from
    qwen-vl-utils (which raises in these cases): a clip with fewer than 2 frames gives 2 (its
    frame is repeated, so the clip still fills one temporal patch), and an `nframes` larger than
    the clip is clamped to the clip like `max_frames` is.

    Example: smart_nframes(491, 22.29, VideoSettings()) == 16  (22 s x 2 fps = 44, capped at 16)
    """
    if total_frames <= 0:
        raise ValueError(f"total_frames must be positive, got {total_frames}")
    if settings.nframes is not None:
        nframes = round_by_factor(settings.nframes, FRAME_FACTOR)
        if nframes < FRAME_FACTOR:
            raise ValueError(
                f"nframes must round to at least {FRAME_FACTOR}, got {settings.nframes}"
            )
        nframes = min(nframes, floor_by_factor(total_frames, FRAME_FACTOR))
    else:
        if video_fps <= 0:
            raise ValueError(f"video fps must be positive, got {video_fps}")
        min_frames = ceil_by_factor(settings.min_frames, FRAME_FACTOR)
        max_frames = floor_by_factor(settings.max_frames, FRAME_FACTOR)
        nframes = total_frames / video_fps * settings.fps
        nframes = min(min(max(nframes, min_frames), max_frames), total_frames)
        nframes = floor_by_factor(nframes, FRAME_FACTOR)
    return max(nframes, FRAME_FACTOR)


def sample_indices(total_frames: int, nframes: int) -> list[int]:
    """`nframes` source indices spread uniformly over the whole clip, first and last included.

    torch.linspace in float32 then round-half-to-even, exactly as qwen-vl-utils' decord reader.

    Example: sample_indices(491, 4) == [0, 163, 327, 490]; sample_indices(1, 2) == [0, 0]
    """
    if total_frames <= 0 or nframes <= 0:
        raise ValueError(f"need positive total_frames and nframes, got {total_frames}, {nframes}")
    return torch.linspace(0, total_frames - 1, nframes).round().long().tolist()


def video_max_pixels(nframes: int, settings: VideoSettings) -> float:
    """Per-frame pixel cap for a clip of `nframes`: the setting, the total budget shared by all
    frames, and qwen-vl-utils' 768-token ceiling (float, as qwen-vl-utils computes it).

    Example: video_max_pixels(16, VideoSettings()) == 100352
    """
    factor = settings.factor
    budget = min(
        VIDEO_MAX_TOKENS_PER_FRAME * factor * factor, settings.total_pixels / nframes * FRAME_FACTOR
    )
    return min(settings.max_pixels, max(budget, int(settings.min_pixels * 1.05)))


def frame_size(height: int, width: int, nframes: int, settings: VideoSettings) -> tuple[int, int]:
    """Output (height, width) of every frame of a `nframes` clip from `height` x `width` frames.

    Example: frame_size(360, 640, 16, VideoSettings()) == (224, 420)
    """
    return smart_resize(
        height, width, settings.factor, settings.min_pixels, video_max_pixels(nframes, settings)
    )
