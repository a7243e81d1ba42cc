"""The README's Python API snippet runs as written on the tiny model (SFT, then GRPO with a
reward function passed as a Python callable)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from video_r1.cli import main
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def _snippet() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_api_snippet_trains(tiny_model_factory, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(REPO / "configs")
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    (tmp_path / "runs" / "tiny" / "model").symlink_to(tiny_model_factory("qwen2.5-vl"))
    assert main(["synth", "runs/tiny/synth", "--n", "12", "--seed", "0"]) == 0
    namespace: dict = {}
    exec(compile(_snippet(), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.output_dir == Path("runs/notebook/grpo")
    assert (tmp_path / "runs/notebook/sft/final/model.safetensors").is_file()
    assert (tmp_path / "runs/notebook/grpo/final/config.json").is_file()
    rows = read_jsonl(tmp_path / "runs/notebook/grpo/metrics.jsonl")
    assert len(rows) == 4 and all("train/reward/short" in r for r in rows)  # the callable ran
    assert all(0.0 <= r["train/reward/short"] <= 1.0 for r in rows)
