"""Fixtures for the records tests: a media root holding a real mp4 and a real png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    from PIL import Image

    from video_r1.media.encode import write_video

    root = tmp_path_factory.mktemp("media")
    frames = np.zeros((8, 56, 56, 3), dtype=np.uint8)
    frames[:, 10:30, 10:30] = (200, 30, 30)
    write_video(root / "videos" / "clip.mp4", frames, fps=4.0)
    Image.fromarray(np.full((56, 56, 3), 128, dtype=np.uint8)).save(root / "img.png")
    (root / "broken.mp4").write_bytes(b"this is not a video")
    (root / "fake.png").write_bytes(b"not an image")
    outside = tmp_path_factory.mktemp("outside") / "secret.png"
    outside.write_bytes((root / "img.png").read_bytes())
    (root / "link.png").symlink_to(outside)
    return root


def good_video(**changes) -> dict:
    record = {
        "problem_id": 1,
        "problem": "Which way does the red square move?",
        "data_type": "video",
        "problem_type": "multiple choice",
        "options": ["A. left", "B. right"],
        "solution": "<answer>B</answer>",
        "path": "./videos/clip.mp4",
        "data_source": "synthetic",
    }
    record.update(changes)
    return record


def good_image(**changes) -> dict:
    record = {
        "problem_id": "img-2",
        "problem": "What word is written?",
        "data_type": "image",
        "problem_type": "OCR",
        "solution": "<answer>CAT</answer>",
        "path": "img.png",
        "data_source": "ocr",
        "process": "<think>I read C, A, T.</think>",
    }
    record.update(changes)
    return record
