"""Synthetic Video-R1-COT records with real media (small mp4s and PNGs) for SFT tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def _video_frames(color: tuple[int, int, int], direction: int) -> np.ndarray:
    frames = np.full((8, 56, 84, 3), 245, dtype=np.uint8)  # [T, H, W, 3]
    for t in range(8):
        x = 10 + direction * 6 * t if direction > 0 else 70 - 6 * t
        frames[t, 20:36, max(0, x - 8) : x + 8] = color
    return frames


def write_cot_records(root: Path, n: int = 8, bad_paths: tuple[int, ...] = ()) -> Path:
    """Write root/train.jsonl with n records (videos and images alternating) and their media.

    Records whose index is in `bad_paths` point at a file that is not a video.
    Returns the jsonl path; `root` is the media root.
    """
    from PIL import Image

    from video_r1.media.encode import write_video

    root.mkdir(parents=True, exist_ok=True)
    rows = []
    names = list(COLORS)
    for i in range(n):
        name = names[i % 3]
        if i % 2 == 0:
            direction = 1 if i % 4 == 0 else -1
            rel = f"videos/v{i}.mp4"
            if i in bad_paths:
                (root / "videos").mkdir(exist_ok=True)
                (root / rel).write_bytes(b"not a video")
            else:
                write_video(root / rel, _video_frames(COLORS[name], direction), fps=4.0)
            answer = "A" if direction > 0 else "B"
            rows.append(
                {
                    "problem_id": i,
                    "problem": f"Which way does the {name} square move?",
                    "data_type": "video",
                    "problem_type": "multiple choice",
                    "options": ["A. right", "B. left"],
                    "solution": f"<answer>{answer}</answer>",
                    "path": f"./{rel}",
                    "data_source": "synthetic",
                    "process": f"<think>Let me think. The {name} square moves "
                    f"{'right' if direction > 0 else 'left'}.</think>",
                }
            )
        else:
            rel = f"images/i{i}.png"
            (root / "images").mkdir(exist_ok=True)
            image = np.full((56, 56, 3), 240, dtype=np.uint8)
            count = 1 + i % 3
            for k in range(count):
                image[10:20, 5 + 16 * k : 15 + 16 * k] = COLORS[name]
            Image.fromarray(image).save(root / rel)
            rows.append(
                {
                    "problem_id": i,
                    "problem": f"How many {name} squares are there?",
                    "data_type": "image",
                    "problem_type": "numerical",
                    "solution": f"<answer>{count}</answer>",
                    "path": f"./{rel}",
                    "data_source": "synthetic",
                    "process": f"<think>I count {count} {name} squares.</think>",
                }
            )
    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
