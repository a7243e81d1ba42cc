"""SFT and GRPO train on the same samples and log the same bad samples whether the data file
is JSONL, an indented JSON array or a one-line JSON array (issue 57: in a one-line array every
record starts on line 1, so bad records were counted as one and all logged as `file:1`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _layouts import LAYOUTS, expected_source, write_layout
from _sft_data import write_cot_records

from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
MISSING = (5, 6)  # records whose media file is gone: bad before training (step 0)
UNDECODABLE = 2  # a record whose "video" is not one: bad when its step loads it
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> dict[str, Path]:
    """layout -> the same 8 records in that layout, all under one media root."""
    root = tmp_path_factory.mktemp("layouts")
    rows = [json.loads(x) for x in write_cot_records(root, n=8, bad_paths=(UNDECODABLE,))
            .read_text().splitlines()]  # fmt: skip
    for i in MISSING:
        rows[i]["path"] = f"./videos/gone{i}.mp4"
    rows[MISSING[0]]["problem_type"] = "essay"  # two problems, still one bad sample
    return {layout: write_layout(rows, root, f"train-{layout}", layout) for layout in LAYOUTS}


def _sft(model: Path, data: Path, out: Path):
    from video_r1.recipes.sft import SFTConfig, train

    cfg = load_config(
        SFTConfig, REPO / "configs" / "sft_tiny.yaml",
        [f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
         f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
         "optim.grad_accum=1", "optim.per_device_batch_size=1", "optim.epochs=1",
         "data.max_bad_fraction=0.6"],
    )  # fmt: skip
    return train(cfg)


def _grpo(model: Path, data: Path, out: Path):
    from video_r1.recipes.grpo import train
    from video_r1.recipes.grpo_config import GRPOConfig

    cfg = load_config(
        GRPOConfig, REPO / "configs" / "grpo_tiny.yaml",
        [f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
         f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
         "optim.per_device_batch_size=1", "optim.grad_accum=2", "optim.max_steps=2",
         "rl.max_completion_length=6", "rl.num_generations=2", "rl.num_shuffled_generations=2",
         "data.max_bad_fraction=0.9"],
    )  # fmt: skip
    return train(cfg)


@pytest.mark.parametrize("recipe", [_sft, _grpo], ids=["sft", "grpo"])
def test_the_three_layouts_train_alike(recipe, tiny_qwen25, data_files, tmp_path, capsys):
    runs, sources = [], []
    for layout, data in data_files.items():
        out = tmp_path / layout
        recipe(tiny_qwen25, data, out)
        printed = capsys.readouterr().out
        assert f"# {data}: {len(MISSING)} bad record(s)" in printed  # was 1 for a one-line array
        bad = read_jsonl(out / "bad_samples.jsonl")
        order = [(r["step"], r["problem_ids"]) for r in read_jsonl(out / "data_order/rank0.jsonl")]
        curve = [r["train/bad_samples"] for r in read_jsonl(out / "metrics.jsonl")]
        runs.append(([(b["step"], b["problem_id"], b["reason"]) for b in bad], order, curve))
        sources.append([(b["source"], b.get("index"), layout, data) for b in bad])
    assert runs[0] == runs[1] == runs[2]
    bad, order, _ = runs[0]
    assert sorted(b[1] for b in bad) == sorted([UNDECODABLE, *MISSING])  # each record once
    [two] = [reason for _, pid, reason in bad if pid == MISSING[0]]
    assert "problem_type" in two and "path" in two, two
    trained = {pid for _, ids in order for pid in ids}
    assert not trained & set(MISSING) and UNDECODABLE in trained  # tried, then dropped as bad
    for rows in sources:  # each bad sample names its own record: file and position or line
        assert len({source for source, *_ in rows}) == len(rows)
        assert [s for s, *_ in rows] == [expected_source(d, lay, i) for _, i, lay, d in rows]
        assert sorted(i for _, i, *_ in rows) == sorted([UNDECODABLE, *MISSING])  # record = index
