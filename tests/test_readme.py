"""The README's walk-through block runs as written (from a fresh folder, the commands in order)."""

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

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
    # eval sees images and videos at the pixels the model was trained at
    media = yaml.safe_load((REPO / "configs" / "grpo_tiny.yaml").read_text())["media"]
    settings = json.loads((tmp_path / "runs/tiny/eval/run.json").read_text())["settings"]
    for key in ("video_min_pixels", "video_max_pixels", "image_min_pixels", "image_max_pixels"):
        assert settings[key] == media[key], key

    # the README's infer line, as written but for its placeholders
    infer = _inline_command("video-r1 infer")
    assert infer == ["infer", "--model", "DIR", "--video", "clip.mp4", "--question", "..."]
    clip = next((tmp_path / "runs/tiny/synth").rglob("*.mp4"))
    given = {"DIR": "runs/tiny/grpo/final", "clip.mp4": str(clip)}
    assert main([given.get(word, word) for word in infer] + ["--max-new-tokens", "8"]) == 0


def _inline_command(prefix: str) -> list[str]:
    """The words after `video-r1` of the README's inline code span that starts with `prefix`."""
    text = (REPO / "README.md").read_text()
    span = re.search(rf"`({re.escape(prefix)}[^`]*)`", text).group(1)
    return shlex.split(span)[1:]
