"""What `sft` and `grpo` check before anything loads: paths (a relative one is named with the
folder it was looked up in) and, under data.on_bad_sample=error, every bad record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from video_r1.cli import main

REPO = Path(__file__).parents[2]
CONFIGS = {"sft": REPO / "configs" / "sft_tiny.yaml", "grpo": REPO / "configs" / "grpo_tiny.yaml"}


def _record(i: int, **changes) -> dict:
    return {"problem_id": i, "problem": "Which colour?", "data_type": "image",
            "problem_type": "multiple choice", "options": ["A. red", "B. blue"],
            "solution": "<answer>A</answer>", "path": f"images/missing{i}.png",
            "process": "<think>red</think>", **changes}  # fmt: skip


def _error_lines(capsys, code: int) -> tuple[str, list[str]]:
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, err
    return errors[0], err.splitlines()


@pytest.mark.parametrize("recipe", ["sft", "grpo"])
def test_every_bad_record_is_listed_before_the_model_loads(recipe, tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    rows = [_record(0), _record(1, problem_type="essay"), _record(2), _record(3)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = tmp_path / "model"  # a config and no weights: loading it would fail otherwise
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    code = main([recipe, "--config", str(CONFIGS[recipe]), f"model.path={model}",
                 f"data.train_file={data}", f"data.media_root={tmp_path}",
                 f"checkpoint.output_dir={tmp_path / 'run'}", "data.on_bad_sample=error",
                 "logging.progress_bar=false"])  # fmt: skip
    error, lines = _error_lines(capsys, code)
    assert error.startswith(f"error: {data}: 4 bad record(s), listed above"), error
    assert "data.on_bad_sample=skip" in error
    for line_no in (1, 2, 3, 4):
        assert any(line.startswith(f"{data}:{line_no} ({line_no - 1}): ") for line in lines)
    assert any("problem_type" in line and "essay" in line for line in lines)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("data.train_file", "data.train_file nodata/train.jsonl: no such file"),
        ("data.media_root", "data.media_root nodata: no such folder"),
        ("model.path", "model path nodata/x/model: no such folder"),
    ],
)
def test_a_missing_relative_path_says_where_it_was_looked_up(
    key, says, tmp_path, capsys, monkeypatch
):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text(json.dumps(_record(0)) + "\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    monkeypatch.chdir(tmp_path)
    good = {"data.train_file": "data/train.jsonl", "data.media_root": "data",
            "model.path": "model"}  # fmt: skip
    good[key] = {"data.train_file": "nodata/train.jsonl", "data.media_root": "nodata",
                 "model.path": "nodata/x/model"}[key]  # fmt: skip
    code = main(["sft", "--config", str(CONFIGS["sft"]), *(f"{k}={v}" for k, v in good.items()),
                 "checkpoint.output_dir=run"])  # fmt: skip
    error, _ = _error_lines(capsys, code)
    assert says in error, error
    assert error.endswith(f"(a relative path: looked up from the current directory {tmp_path})")
    assert not (tmp_path / "run").exists()  # refused before the run folder was made
