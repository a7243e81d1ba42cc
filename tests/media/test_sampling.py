"""Frame counts, indices and sizes equal qwen-vl-utils' own functions for the same settings."""

from __future__ import annotations

import pytest
import torch
from conftest import moving_frames, qwen_fetch_video
from hypothesis import given, settings
from hypothesis import strategies as st

from video_r1.media import VideoSettings, load_video, sample_indices, smart_nframes, smart_resize
from video_r1.media.encode import write_video
from video_r1.media.sampling import frame_size, video_max_pixels


def qwen():
    from qwen_vl_utils import vision_process

    return vision_process


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(1, 5000),
    fps=st.floats(1.0, 120.0),
    sample_fps=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
    min_frames=st.integers(1, 8),
    max_frames=st.sampled_from([4, 8, 16, 32, 64, 768]),
)
def test_smart_nframes_matches_qwen(total, fps, sample_fps, min_frames, max_frames):
    ours = VideoSettings(fps=sample_fps, min_frames=min_frames, max_frames=max_frames)
    ele = {"fps": sample_fps, "min_frames": min_frames, "max_frames": max_frames}
    try:
        expected = qwen().smart_nframes(ele, total_frames=total, video_fps=fps)
    except ValueError:  # qwen-vl-utils rejects 1-frame clips; we repeat the frame
        assert total < 2 and smart_nframes(total, fps, ours) == 2
        return
    assert smart_nframes(total, fps, ours) == expected
    assert sample_indices(total, expected) == (
        torch.linspace(0, total - 1, expected).round().long().tolist()
    )


@settings(max_examples=100, deadline=None)
@given(total=st.integers(2, 3000), nframes=st.integers(1, 200))
def test_nframes_override_matches_qwen(total, nframes):
    try:
        expected = qwen().smart_nframes({"nframes": nframes}, total_frames=total, video_fps=30.0)
    except ValueError:  # nframes rounds to 0 (we raise too) or exceeds the clip (we clamp)
        if round(nframes / 2) * 2 < 2:
            with pytest.raises(ValueError):
                smart_nframes(total, 30.0, VideoSettings(nframes=nframes))
        else:
            assert smart_nframes(total, 30.0, VideoSettings(nframes=nframes)) == total // 2 * 2
        return
    assert smart_nframes(total, 30.0, VideoSettings(nframes=nframes)) == expected


@settings(max_examples=400, deadline=None)
@given(
    height=st.integers(1, 4000),
    width=st.integers(1, 4000),
    factor=st.sampled_from([28, 32]),
    min_tokens=st.sampled_from([4, 64, 128, 256]),
    max_tokens=st.sampled_from([128, 256, 768, 16384]),
)
def test_smart_resize_matches_qwen(height, width, factor, min_tokens, max_tokens):
    min_pixels, max_pixels = min_tokens * factor * factor, max(min_tokens, max_tokens) * factor**2
    try:
        expected = qwen().smart_resize(height, width, factor, min_pixels, max_pixels)
    except ValueError:  # aspect ratio over 200
        with pytest.raises(ValueError, match="aspect ratio"):
            smart_resize(height, width, factor, min_pixels, max_pixels)
        return
    ours = smart_resize(height, width, factor, min_pixels, max_pixels)
    if min(expected) == 0:  # qwen-vl-utils degenerates; we keep one patch
        assert min(ours) == factor
        return
    assert ours == expected
    assert ours[0] % factor == 0 and ours[1] % factor == 0


def test_hand_computed_examples():
    # video1.mp4: 491 frames at 22.29 fps = 22.03 s x 2 = 44.06 -> min(max(44, 4), 16) = 16.
    assert smart_nframes(491, 22.29, VideoSettings()) == 16
    assert sample_indices(491, 4) == [0, 163, 327, 490]  # 490/3 = 163.33, 326.67
    # 360x640 at 100,352 px: beta = sqrt(230400 / 100352) = 1.515; 237.6 -> 224, 422.4 -> 420.
    assert frame_size(360, 640, 16, VideoSettings()) == (224, 420)
    # Total budget: 64 frames sharing 2,000,000 px -> 2e6 / 64 x 2 = 62,500 per frame, but never
    # below 1.05 x min_pixels = int(105,369.6) = 105,369; capped by max_pixels 200,704.
    eval64 = VideoSettings(max_frames=64, max_pixels=200704, total_pixels=2_000_000)
    assert video_max_pixels(64, eval64) == 105369
    assert video_max_pixels(16, eval64) == 200704  # 2e6 / 16 x 2 = 250,000 > 200,704


@pytest.mark.parametrize(
    "frames, fps, height, width, settings",
    [
        (40, 10, 72, 128, VideoSettings()),  # 4 s -> 8 frames
        (25, 25, 90, 160, VideoSettings()),  # 1 s -> 2 s x ... min 4 frames
        (61, 30, 128, 192, VideoSettings(max_frames=64, max_pixels=256 * 28 * 28)),
        (30, 6, 120, 160, VideoSettings(total_pixels=400_000)),  # budget binds: 5 s -> 10 frames
        (33, 8, 64, 112, VideoSettings(nframes=7)),
        (50, 12, 72, 128, VideoSettings(fps=1.0, min_pixels=28 * 28, max_pixels=64 * 28 * 28)),
    ],
)
def test_clip_matches_qwen_fetch_video(tmp_path, frames, fps, height, width, settings):
    path = write_video(tmp_path / "v.mp4", moving_frames(frames, height, width), fps=fps)
    ele = {
        "min_pixels": settings.min_pixels,
        "max_pixels": settings.max_pixels,
        "total_pixels": settings.total_pixels,
    }
    if settings.nframes is not None:
        ele["nframes"] = settings.nframes
    else:
        ele.update(fps=settings.fps, min_frames=settings.min_frames, max_frames=settings.max_frames)
    reference, ref_indices = qwen_fetch_video(path, ele)
    clip = load_video(path, settings)
    assert list(clip.indices) == ref_indices
    assert clip.frames.shape == reference.shape
    assert (clip.frames.float() - reference).abs().mean() < 1.0
