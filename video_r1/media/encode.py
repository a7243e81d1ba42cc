"""Writing videos (synthetic data, test fixtures). Decoding lives in video_r1.media.video."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float = 8.0,
    codec: str = "libx264",
    crf: int = 18,
) -> Path:
    """Encode uint8 frames [T, H, W, 3] to an mp4 with PyAV (H.264, yuv420p).

    H and W must be even for yuv420p; odd sizes are written with codec="mpeg4" or padded by
    the caller. Written to a temporary name then renamed, so a crash leaves no half file.
    """
    from fractions import Fraction

    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    height, width = frames.shape[1:3]
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)
    return path
