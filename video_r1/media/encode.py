"""Writing videos (synthetic data, test fixtures). Decoding lives in video_r1.media.video."""

from __future__ import annotations

import itertools
import os
from collections.abc import Collection, Iterable
from pathlib import Path

import numpy as np


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float = 8.0,
    codec: str = "libx264",
    crf: int = 18,
    keyframes: Collection[int] | None = None,
) -> Path:
    """Encode uint8 frames [T, H, W, 3] to an mp4 with PyAV (H.264, yuv420p).

    `frames` is an array or any iterable of [H, W, 3] frames (a generator keeps long clips out
    of memory). H and W must be even for yuv420p; odd sizes are written with codec="mpeg4" or
    padded by the caller. `keyframes` (libx264 only): exactly these frame indices start a GOP
    (IDR frames), the encoder places no other keyframe. Written to a temporary name then
    renamed, so a crash leaves no half file.
    """
    from fractions import Fraction

    import av

    frames = iter(frames)
    first = next(frames, None)
    _check_frame(first, 0)
    first = np.asarray(first)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            if keyframes is not None:  # no keyframe of x264's own choosing; forced ones are IDR
                stream.options |= {"x264-params": "keyint=infinite:scenecut=0", "forced-idr": "1"}
        for index, array in enumerate(itertools.chain([first], frames)):
            array = np.asarray(array)
            _check_frame(array, index, first.shape)
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if keyframes is not None and index in keyframes:
                frame.pict_type = av.video.frame.PictureType.I
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)
    return path


def _check_frame(frame: np.ndarray | None, index: int, shape: tuple | None = None) -> None:
    if frame is None:
        raise ValueError("no frames to write")
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"frame {index} must be uint8 [H, W, 3], got {frame.dtype} {frame.shape}")
    if shape is not None and frame.shape != shape:
        raise ValueError(f"frame {index} has shape {frame.shape}, the first frame {shape}")
