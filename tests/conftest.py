"""Shared fixtures: tiny random Qwen-VL checkpoints, built once per test session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from video_r1.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # before any test imports transformers

TINY_ARCHES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")


@pytest.fixture(scope="session")
def tiny_model_factory(tmp_path_factory) -> Callable[[str], Path]:
    """arch -> folder of a tiny random checkpoint of that arch (default sizes), cached."""
    from video_r1.models import build_tiny_model
    from video_r1.prompts import tokenizer_texts

    root = tmp_path_factory.mktemp("tiny_models")
    built: dict[str, Path] = {}

    def get(arch: str) -> Path:
        if arch not in built:
            built[arch] = build_tiny_model(root / arch, arch, prompt_texts=tokenizer_texts())
        return built[arch]

    return get


@pytest.fixture(scope="session")
def tiny_qwen25(tiny_model_factory) -> Path:
    """The tiny Qwen2.5-VL checkpoint (the recipes' tests train on this one)."""
    return tiny_model_factory("qwen2.5-vl")


@pytest.fixture(scope="session", params=TINY_ARCHES)
def tiny_model_dir(request, tiny_model_factory) -> Path:
    """A tiny checkpoint of each architecture (tests using it run once per arch)."""
    return tiny_model_factory(request.param)


@pytest.fixture(scope="session")
def video1(tmp_path_factory) -> Path:
    """video1.mp4 (../shared/media/ or $VIDEO_R1_TEST_VIDEO), else a stand-in of its geometry."""
    from video_r1.media.reference_clip import reference_clip

    return reference_clip(tmp_path_factory.mktemp("reference_clip"))


# Small frames keep tests fast: 16 frames of video1.mp4 at <= 16x28x28 pixels each.
SMALL_VIDEO = {"nframes": 16, "min_pixels": 4 * 28 * 28, "max_pixels": 16 * 28 * 28}


@pytest.fixture(scope="session")
def make_clip(video1) -> Callable[[int], object]:
    """patch_size (14 or 16) -> a 16-frame Clip of video1.mp4 sampled by qwen-vl-utils.

    Stands in for video_r1.media.load_video: qwen-vl-utils' frames, rounded to uint8.
    """
    import os

    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")  # torchcodec is broken here
    import torch
    from qwen_vl_utils import fetch_video

    from video_r1.media.types import Clip

    clips: dict[int, Clip] = {}

    def make(patch_size: int = 14) -> Clip:
        if patch_size not in clips:
            (video, meta), _ = fetch_video(
                {"video": str(video1), **SMALL_VIDEO},
                image_patch_size=patch_size,
                return_video_sample_fps=True,
                return_video_metadata=True,
            )
            indices = tuple(int(i) for i in meta["frames_indices"])
            clips[patch_size] = Clip(
                frames=video.round().clamp(0, 255).to(torch.uint8),
                indices=indices,
                timestamps=tuple(i / meta["fps"] for i in indices),
                source_fps=float(meta["fps"]),
                path=str(video1),
            )
        return clips[patch_size]

    return make


@pytest.fixture(autouse=True)
def _no_debug_logs_leak(monkeypatch) -> None:
    """`main([..., "--debug"])` run in-process sets VIDEO_R1_DEBUG (for the processes it
    launches); without this it would stay set for every later test and their subprocesses,
    turning the log filters they check off."""
    monkeypatch.delenv("VIDEO_R1_DEBUG", raising=False)
