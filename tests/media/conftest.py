"""Media fixtures: small real videos and images, generated once per session with PyAV/PIL."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from video_r1.media.encode import write_video


def moving_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 [n, H, W, 3]: a bright square moving left to right over smooth noise."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 90, size=(height, width, 3), dtype=np.uint8)
    frames = np.repeat(base[None], n, axis=0)
    side = max(2, min(height, width) // 4)
    for t in range(n):
        x = int((width - side) * t / max(1, n - 1))
        frames[t, :side, x : x + side] = (250, 200, 40)
    return frames


def write_frames(
    path: Path,
    frames: np.ndarray,
    pts: list[int] | None = None,
    fps: int = 10,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int | None = None,
    options: dict | None = None,
    audio: bool = False,
) -> Path:
    """Encode frames with PyAV where write_video has no knob (timestamps, rotation, pix_fmt)."""
    import av

    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if pts is not None:  # millisecond clock so that frames can sit at arbitrary times
            stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path, seconds: float = 0.5) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = int(16000 * seconds)
        tone = (0.2 * np.sin(np.arange(samples) / 10.0)).astype(np.float32)[None]
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(
                tone[:, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """Every fixture file, written once: good clips and broken files."""
    d = tmp_path_factory.mktemp("media")
    frames = moving_frames(40, 72, 128)
    write_video(d / "clip.mp4", frames, fps=10)  # 4 s, 40 frames
    write_video(d / "one_frame.mp4", frames[:1], fps=10)
    write_video(d / "three_frames.mp4", frames[:3], fps=10)
    write_video(d / "odd.mp4", moving_frames(12, 37, 51), fps=8, codec="mpeg4")
    write_frames(d / "rot90.mp4", frames[:8], rotation=90)
    write_frames(d / "rot180.mp4", frames[:8], rotation=180)
    vfr_pts = [0, 40, 80, 400, 440, 1200, 1240, 1280, 2000, 2010, 2020, 2030]
    write_frames(d / "vfr.mp4", frames[:12], pts=vfr_pts)
    write_frames(d / "gray.mkv", frames[:10], codec="ffv1", pix_fmt="gray")
    write_video(d / "big.mp4", moving_frames(2, 2160, 3840), fps=2)  # 4K
    # Broken files.
    (d / "empty.mp4").write_bytes(b"")
    (d / "garbage.mp4").write_text("this is not a video\n" * 50)
    write_audio_only(d / "audio.m4a")
    data = (d / "clip.mp4").read_bytes()
    (d / "cut.mp4").write_bytes(data[: len(data) * 6 // 10])  # moov (at the end) lost
    write_frames(d / "faststart.mp4", frames, options={"movflags": "faststart"})
    data = (d / "faststart.mp4").read_bytes()
    (d / "cut_faststart.mp4").write_bytes(data[: len(data) * 6 // 10])  # frames lost
    return d


# decord2 returns 4-channel (scrambled) frames for some small sizes, which sizes depending on the
# machine: 64x96 on one of this project's machines, 32x48 (not 64x96) on another
DECORD_QUIRK_SIZES = [(64, 96), (32, 48), (64, 64), (56, 84)]


@pytest.fixture(scope="session")
def decord_quirk(tmp_path_factory) -> Path:
    """A real clip that PyAV reads and decord2 mis-decodes on this machine (skips if decord2
    reads every candidate size correctly here)."""
    from video_r1.media.video_decord import DecordVideo
    from video_r1.media.video_pyav import BackendError

    d = tmp_path_factory.mktemp("decord_quirk")
    for height, width in DECORD_QUIRK_SIZES:
        path = d / f"quirk_{height}x{width}.mp4"
        write_video(path, moving_frames(6, height, width), fps=10)
        try:
            DecordVideo(str(path)).read([0, 1])
        except BackendError:
            return path
    pytest.skip(f"decord2 decodes every size of {DECORD_QUIRK_SIZES} correctly on this machine")


def qwen_fetch_video(path: Path, ele: dict):
    """qwen-vl-utils' own fetch_video with decord (torchcodec is broken here)."""
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    from qwen_vl_utils import vision_process

    (video, meta), _ = vision_process.fetch_video(
        {"video": str(path), **ele}, return_video_sample_fps=True, return_video_metadata=True
    )
    return video, list(meta["frames_indices"])
