"""Fixtures: a small synthetic benchmark (with one broken video) and a parrot checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # _parrot helper

# Small frames and short answers keep every eval run to seconds.
SMALL = [
    "--frames", "4", "--min-pixels", "3136", "--max-pixels", "12544",
    "--image-min-pixels", "3136", "--image-max-pixels", "12544", "--max-new-tokens", "12",
]  # fmt: skip


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """OUT of `generate_benchmark(n=40)`: 30 train, 10 test records (7 video, 3 image)."""
    from video_r1.synth import generate_benchmark

    root = tmp_path_factory.mktemp("synth")
    generate_benchmark(root, n=40, seed=0)
    return root


@pytest.fixture(scope="session")
def bench(synth_root: Path) -> Path:
    """The test split plus one record whose mp4 is corrupt: 11 records, 8 of them videos."""
    lines = (synth_root / "test.jsonl").read_text().splitlines()
    broken = json.loads(lines[0])
    broken.update(
        problem_id="broken-video",
        data_type="video",
        path="media/broken.mp4",
        problem_type="multiple choice",
        options=["A. yes", "B. no"],
        solution="<answer>A</answer>",
        data_source="direction",
    )
    good = synth_root / "media" / "test" / "direction" / "00000.mp4"
    (synth_root / "media" / "broken.mp4").write_bytes(good.read_bytes()[:300])  # cut short
    path = synth_root / "bench.jsonl"
    path.write_text("\n".join([*lines[:5], json.dumps(broken), *lines[5:]]) + "\n")
    return path


@pytest.fixture(scope="session")
def parrot_dir(tiny_model_factory, tmp_path_factory) -> Path:
    """A tiny Qwen2.5-VL that always answers "<think>ok</think><answer>A</answer>"."""
    from _parrot import build_parrot

    out = tmp_path_factory.mktemp("parrot") / "model"
    return build_parrot(tiny_model_factory("qwen2.5-vl"), out)
