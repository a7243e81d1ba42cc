"""`video-r1 annotate` and `video-r1 infer` end to end with the parrot model."""

from __future__ import annotations

import json
import shutil
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
    # 2 records a step, the last step smaller if need be (sft.drop_last=false)
    assert len(steps) == -(-len(expected) // 2) and all(s["train/loss"] > 0 for s in steps)


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


def _annotate_args(parrot_dir: Path, data: Path, media_root: Path, out: Path, *extra: str):
    return ["annotate", "--teacher", str(parrot_dir), "--data", str(data), "--media-root",
            str(media_root), "--out", str(out), "--no-progress", *SMALL, *extra]  # fmt: skip


def test_annotate_defaults_are_the_published_cot_generation() -> None:
    import argparse

    from video_r1.evaluation import annotate

    parser = argparse.ArgumentParser()
    annotate.add_arguments(parser)
    args = parser.parse_args(["--teacher", "t", "--data", "d", "--media-root", "m", "--out", "o"])
    assert (args.temperature, args.top_p, args.max_new_tokens) == (1.0, 0.95, 512)
    assert (args.threshold, args.keep_rule) == (0.6, "above")


def test_annotate_resume_refuses_other_settings(
    parrot_dir: Path, synth_root: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "cot.jsonl"
    data = synth_root / "train.jsonl"
    assert main(_annotate_args(parrot_dir, data, synth_root, out, "--limit", "2")) == 0
    assert main(_annotate_args(parrot_dir, data, synth_root, out, "--limit", "3",
                               "--temperature", "0.5")) == 2  # fmt: skip
    assert "settings.temperature: 1.0 -> 0.5" in capsys.readouterr().err
    assert len(read_jsonl(out.with_name("cot.jsonl.progress.jsonl"))) == 2


def test_annotate_refuses_an_empty_data_file(parrot_dir: Path, tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "cot.jsonl"
    assert main(_annotate_args(parrot_dir, empty, tmp_path, out)) == 2  # was: exit 0, no file
    assert f"{empty}: no records to annotate" in capsys.readouterr().err
    assert not out.exists()


def test_annotate_resume_refuses_a_teacher_with_other_weights(
    parrot_dir: Path, synth_root: Path, tmp_path: Path, capsys
) -> None:
    from safetensors.torch import load_file, save_file

    teacher, out = tmp_path / "teacher", tmp_path / "cot.jsonl"
    shutil.copytree(parrot_dir, teacher)
    data = synth_root / "train.jsonl"
    assert main(_annotate_args(teacher, data, synth_root, out, "--limit", "1")) == 0
    tensors = load_file(teacher / "model.safetensors")
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3  # other weights in the same folder
    save_file(tensors, teacher / "model.safetensors", metadata={"format": "pt"})
    assert main(_annotate_args(teacher, data, synth_root, out, "--limit", "2")) == 2
    assert "teacher_weights:" in capsys.readouterr().err
    assert len(read_jsonl(out.with_name("cot.jsonl.progress.jsonl"))) == 1


def test_annotate_generation_error_and_missing_media_drop_one_record(
    parrot_dir: Path, synth_root: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from video_r1.evaluation import answering as generate

    records = [json.loads(x) for x in (synth_root / "train.jsonl").read_text().splitlines()[:4]]
    records[3]["path"] = "media/gone.mp4"
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "cot.jsonl"
    assert main(_annotate_args(parrot_dir, data, synth_root, out)) == 2
    assert "--skip-missing-media" in capsys.readouterr().err

    real_encode = generate.encode_batch
    bad = records[1]["problem_id"]

    def encode_failing_on_one(model, processor, batch, media, wording, *args, **kwargs):
        if any(r.problem_id == bad for r in batch):  # an injected failure of one record
            raise RuntimeError("out of memory")
        return real_encode(model, processor, batch, media, wording, *args, **kwargs)

    monkeypatch.setattr(generate, "encode_batch", encode_failing_on_one)
    args = _annotate_args(parrot_dir, data, synth_root, out, "--skip-missing-media",
                          "--batch-size", "3")  # fmt: skip
    assert main(args) == 0
    progress = {x["problem_id"]: x for x in read_jsonl(out.with_name("cot.jsonl.progress.jsonl"))}
    assert progress[bad]["reason"] == "generation error"
    assert progress[bad]["error"] == "RuntimeError: out of memory"
    assert progress[records[3]["problem_id"]]["reason"] == "media error"
    assert "gone.mp4" in progress[records[3]["problem_id"]]["error"]
    for r in (records[0], records[2]):  # answered normally
        assert progress[r["problem_id"]]["reason"] in ("kept", "inaccurate")
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["records"] == 4
    assert summary["dropped"]["generation error"] == 1 and summary["dropped"]["media error"] == 1


def test_infer_runs_as_the_readme_writes_it_without_a_type(
    parrot_dir: Path, synth_root: Path, capsys
) -> None:
    video = synth_root / "media" / "test" / "direction" / "00000.mp4"
    # README: `video-r1 infer --model DIR --video clip.mp4 --question "..."`
    assert main(["infer", "--model", str(parrot_dir), "--video", str(video),
                 "--question", "What happens?", *SMALL]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert captured.out.rstrip().endswith("answer: A")
    assert "problem type: free-form" in captured.err
    assert main(["infer", "--model", str(parrot_dir), "--video", str(video), "--question",
                 "Which way?", "--options", "A. left", "B. right", *SMALL]) == 0  # fmt: skip
    assert "problem type: multiple choice" in capsys.readouterr().err


def test_annotate_that_keeps_nothing_says_so_and_fails(
    parrot_dir: Path, synth_root: Path, tmp_path: Path, capsys
) -> None:
    rows = [json.loads(x) for x in (synth_root / "train.jsonl").read_text().splitlines()]
    wrong = [r for r in rows if r["solution"] != "<answer>A</answer>"][:3]  # the parrot says A
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in wrong))
    out = tmp_path / "cot.jsonl"
    assert main(_annotate_args(parrot_dir, data, synth_root, out)) == 1  # was 0
    err = capsys.readouterr().err
    assert "error: no record kept (3 annotated; dropped: 3 inaccurate)" in err
    assert read_jsonl(out) == []


def test_annotate_help_describes_its_own_temperature() -> None:
    import argparse

    from video_r1.evaluation import annotate

    parser = argparse.ArgumentParser()
    annotate.add_arguments(parser)
    help_text = " ".join(parser.format_help().split())
    assert "sampling temperature (published CoT generation: 1.0" in help_text
    assert "eval: paper 0.01" not in help_text
