"""`video-r1 annotate` and `video-r1 infer` end to end with the parrot model."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SMALL

from video_r1.cli import main
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]


def test_annotate_keeps_accurate_answers_and_sft_trains_on_them(
    parrot_dir: Path, synth_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cot.jsonl"
    args = ["annotate", "--teacher", str(parrot_dir), "--data", str(synth_root / "train.jsonl"),
            "--media-root", str(synth_root), "--out", str(out), "--samples", "2",
            "--no-progress", *SMALL]  # fmt: skip
    assert main(args) == 0
    train = [json.loads(x) for x in (synth_root / "train.jsonl").read_text().splitlines()]
    # the parrot answers "<think>ok</think><answer>A</answer>": right only where the answer is A
    expected = [r["problem_id"] for r in train if r["solution"] == "<answer>A</answer>"]
    kept = read_jsonl(out)
    assert expected and [r["problem_id"] for r in kept] == expected
    assert all(r["process"] == "<think>ok</think>" for r in kept)
    assert all(r["solution"] == "<answer>A</answer>" for r in kept)
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["kept"] == len(expected)
    assert summary["dropped"] == {"inaccurate": len(train) - len(expected)}
    progress = out.with_name("cot.jsonl.progress.jsonl")
    assert len(read_jsonl(progress)) == len(train)
    assert main(args) == 0  # resume: everything done, nothing appended
    assert len(read_jsonl(progress)) == len(train)
    assert main(["data", "check", str(out), "--media-root", str(synth_root)]) == 0

    sft_out = tmp_path / "sft"
    assert main(["sft", "--config", str(REPO / "configs" / "sft_tiny.yaml"),
                 f"model.path={parrot_dir}", f"data.train_file={out}",
                 f"data.media_root={synth_root}", f"checkpoint.output_dir={sft_out}",
                 "logging.progress_bar=false", "optim.epochs=1"]) == 0  # fmt: skip
    steps = read_jsonl(sft_out / "metrics.jsonl")
    assert len(steps) == len(expected) // 2 and all(s["train/loss"] > 0 for s in steps)


def test_infer_prints_reasoning_and_answer(parrot_dir: Path, synth_root: Path, capsys) -> None:
    video = synth_root / "media" / "test" / "direction" / "00000.mp4"
    code = main(["infer", "--model", str(parrot_dir), "--video", str(video),
                 "--question", "Which way does it move?", "--type", "multiple choice",
                 "--options", "A. left", "B. right", *SMALL])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "<think>ok</think><answer>A</answer>" in out
    assert out.rstrip().endswith("answer: A")


def test_infer_rejects_bad_question(parrot_dir: Path, synth_root: Path, capsys) -> None:
    image = synth_root / "media" / "test" / "color_image" / "00000.png"
    code = main(["infer", "--model", str(parrot_dir), "--image", str(image), "--question",
                 "Colour?", "--type", "multiple choice", *SMALL])  # fmt: skip
    assert code == 2
    assert "options" in capsys.readouterr().err
