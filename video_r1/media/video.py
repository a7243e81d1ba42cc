"""load_video / probe_video: sample, decode and resize a clip; every failure is a MediaError."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from video_r1.media.cache import FrameCache
from video_r1.media.sampling import frame_size, sample_indices, smart_nframes
from video_r1.media.types import BackendMissing, Clip, MediaError, VideoInfo, VideoSettings
from video_r1.media.video_decord import DecordVideo
from video_r1.media.video_pyav import BackendError, PyAVVideo

BACKENDS = {"pyav": PyAVVideo, "decord": DecordVideo}
# auto: PyAV first (fastest here, applies rotation metadata), decord if PyAV cannot read it.
AUTO_ORDER = ("pyav", "decord")
# decord ignores edit lists: on a clip cut without re-encoding it shows the discarded lead-in
# and repeats the last frame. PyAV reads such clips (video_pyav.py), so auto reaches decord
# for them only if PyAV fails for another reason; forcing backend="decord" gives those frames.
DEFAULT_VIDEO_SETTINGS = VideoSettings()  # frozen, so one shared default is safe


def resize_frames(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Antialiased bicubic resize of uint8 [T, 3, H, W] frames to [T, 3, height, width].

    qwen-vl-utils resizes in float32 then rounds (torchvision). This uses torch's uint8
    fixed-point kernel on channels-last memory, ~8x faster; not bit-exact: values differ by
    at most a few levels, mean absolute difference ~0.1 of 255 (tests/media/test_video.py).

    Example: resize_frames(torch.zeros(2, 3, 360, 640, dtype=torch.uint8), 224, 420).shape
    == (2, 3, 224, 420)
    """
    if frames.shape[-2:] == (height, width):
        return frames
    out = torch.nn.functional.interpolate(
        frames.contiguous(memory_format=torch.channels_last),
        size=(height, width),
        mode="bicubic",
        antialias=True,
        align_corners=False,
    )
    return out.contiguous()


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise MediaError(path, "missing: no such file")
    if os.path.isdir(path):
        raise MediaError(path, "not a file: it is a directory")
    if os.path.getsize(path) == 0:
        raise MediaError(path, "empty file (0 bytes)")


# Reasons that are facts about the file, not a weakness of one backend: no other backend is
# tried after one of these, and it is reported on its own.
FACTS = ("audio only", "not a video", "zero frames", "truncated")


def _describe(path: str, reasons: dict[str, str]) -> str:
    """One reason for all backends' failures, with a hint when the bytes look like an mp4.

    Example: {"pyav": "audio only, no video stream"} -> "audio only, no video stream"
    """
    for why in reasons.values():
        if why.startswith(FACTS):
            return why
    text = "; ".join(f"{name}: {why}" for name, why in reasons.items())
    with open(path, "rb") as f:
        head = f.read(12)
    if head[4:8] == b"ftyp":  # an mp4 whose index (moov) is missing or damaged: cut short
        return f"truncated or corrupt mp4: starts like an mp4 but cannot be read ({text})"
    return f"not a readable video ({text})"


def _backend_names(backend: str) -> tuple[str, ...]:
    names = AUTO_ORDER if backend == "auto" else (backend,)
    if any(name not in BACKENDS for name in names):
        raise ValueError(f"unknown video backend {backend!r}: use auto, pyav or decord")
    return names


def open_video(path: str, backend: str = "auto", threads: int | None = None):
    """An opened reader (PyAVVideo or DecordVideo) for `path`, trying backends in order; a
    backend whose library is not installed is passed over (BackendMissing if none is)."""
    path = str(path)
    _check_file(path)
    names = _backend_names(backend)
    reasons: dict[str, str] = {}
    missing: list[str] = []
    for name in names:
        try:
            return BACKENDS[name](path, threads)
        except BackendMissing as e:
            missing += e.missing
        except BackendError as e:
            reasons[name] = str(e)
            if str(e).startswith(FACTS):
                break
    if not reasons:
        raise BackendMissing(missing)
    raise MediaError(path, _describe(path, reasons))


def read_frames(path: str, indices: list[int], backend: str = "auto", threads: int | None = None):
    """(reader, uint8 [T, H, W, 3] frames, seconds): falls back to the next backend on error."""
    reasons: dict[str, str] = {}
    missing: list[str] = []
    for name in _backend_names(backend):
        try:
            reader = open_video(path, name, threads)
            frames, seconds = reader.read(indices)
            return reader, frames, seconds
        except BackendMissing as e:
            missing += e.missing
        except MediaError as e:
            reasons[name] = e.reason
        except BackendError as e:
            reasons[name] = str(e)
    if not reasons:
        raise BackendMissing(missing)
    raise MediaError(path, _describe(path, reasons))


def load_video(
    path: str | os.PathLike,
    settings: VideoSettings = DEFAULT_VIDEO_SETTINGS,
    cache: FrameCache | None = None,
    backend: str = "auto",
) -> Clip:
    """Sample and resize a video's frames with the qwen-vl-utils rules.

    Frame indices and output size equal qwen-vl-utils' for the same settings (see
    video_r1.media.sampling for the few documented deviations); rotation metadata is applied.
    Raises MediaError (naming the file and the reason) for anything unreadable.
    """
    path = str(Path(path))
    _check_file(path)
    if cache is not None:
        clip = cache.get(path, settings)
        if clip is not None:
            return clip
    # Frame count and fps come from the container; decoding happens once, for kept frames.
    reader = open_video(path, backend)
    nframes = smart_nframes(reader.num_frames, _fps_for(reader, path, settings), settings)
    indices = sample_indices(reader.num_frames, nframes)
    try:
        frames, seconds = reader.read(indices)
    except BackendError as e:
        if backend != "auto":
            raise MediaError(path, _describe(path, {backend: str(e)})) from None
        reader, frames, seconds = read_frames(path, indices, "auto")
    clip = _to_clip(path, frames, indices, seconds, reader.fps, settings)
    if cache is not None:
        cache.put(path, settings, clip)
    return clip


def _fps_for(reader, path: str, settings: VideoSettings) -> float:
    if settings.nframes is None and not reader.fps > 0:
        raise MediaError(path, "unknown frame rate: set VideoSettings.nframes to sample it")
    return reader.fps


def _to_clip(path, frames: np.ndarray, indices, seconds, fps: float, settings) -> Clip:
    height, width = frames.shape[1:3]
    try:
        out_h, out_w = frame_size(height, width, len(indices), settings)
    except ValueError as e:
        raise MediaError(path, f"frames of {width}x{height} cannot be sized: {e}") from None
    tensor = torch.from_numpy(frames).permute(0, 3, 1, 2)  # [T, 3, H, W]
    return Clip(
        frames=resize_frames(tensor, out_h, out_w),
        indices=tuple(int(i) for i in indices),
        timestamps=tuple(float(s) for s in seconds),
        source_fps=float(fps),
        path=path,
    )


def probe_video(path: str | os.PathLike, backend: str = "auto") -> VideoInfo:
    """Cheap check that a video decodes: demux it and decode its first frame.

    Raises MediaError with the reason otherwise (used by `video-r1 data check --decode`).
    """
    path = str(path)
    reader = open_video(path, backend)
    try:
        frames, _ = reader.read([0])
    except BackendError as e:
        raise MediaError(path, _describe(path, {backend: str(e)})) from None
    height, width = frames.shape[1:3]
    return VideoInfo(
        path,
        reader.num_frames,
        reader.fps,
        int(height),
        int(width),
        int(getattr(reader, "rotation", 0)),
        str(getattr(reader, "codec_name", "")),
    )
