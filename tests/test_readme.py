"""The README's walk-through block runs as written (from a fresh folder, the commands in order)."""

import re
import shlex
from pathlib import Path

import pytest

from video_r1.cli import main
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


def _walkthrough() -> list[list[str]]:
    """The `video-r1 ...` lines of the README block that starts with `video-r1 tiny-model`."""
    text = (REPO / "README.md").read_text()
    block = next(
        b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if "video-r1 tiny-model" in b
    )
    commands = shlex.split(block.replace("\\\n", " "), comments=True)
    lines, current = [], []
    for word in commands + ["video-r1"]:
        if word == "video-r1":
            if current:
                lines.append(current)
            current = []
        else:
            current.append(word)
    return lines


def test_readme_walkthrough_runs_as_written(tmp_path, monkeypatch):
    commands = _walkthrough()
    assert [c[0] for c in commands] == ["tiny-model", "synth", "data", "sft", "grpo", "eval"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(REPO / "configs")
    for argv in commands:
        if argv[0] == "synth":
            argv = [*argv[:3], "16", *argv[4:]]  # --n 16 instead of 64: same code, faster
        if argv[0] == "sft":
            argv = [*argv, "optim.max_steps=3"]
        assert main(argv) == 0, argv
    assert (tmp_path / "runs/tiny/grpo/final/config.json").exists()
    orders = {line["frame_order"] for line in read_jsonl(tmp_path / "runs/tiny/eval/samples.jsonl")}
    assert orders == {"ordered", "shuffled", "reversed"}
    assert (tmp_path / "runs/tiny/eval/summary.md").exists()
