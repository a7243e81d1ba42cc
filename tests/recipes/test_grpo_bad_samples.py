"""GRPO with bad records: an all-bad first micro-batch trains a weight-0 filler (no crash),
bad samples are logged once at the step they happened, and the run says what it skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _sft_data import write_cot_records

from video_r1.recipes.grpo import train
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def _cfg(model: Path, data: Path, out: Path, *extra: str) -> GRPOConfig:
    """Two steps of 2 micro-batches of 1 prompt, bad samples skipped, records in file order."""
    return load_config(
        GRPOConfig, REPO / "configs" / "grpo_tiny.yaml",
        [f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
         f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
         "data.on_bad_sample=skip", "optim.per_device_batch_size=1", "optim.grad_accum=2",
         "optim.max_steps=2", "rl.max_completion_length=6", "rl.num_generations=2",
         "rl.num_shuffled_generations=2", *extra],
    )  # fmt: skip


def test_all_bad_first_micro_batch_trains_a_filler_with_weight_zero(
    tiny_model_factory, tmp_path, capsys
):
    data = write_cot_records(tmp_path / "data", n=6, bad_paths=(0,))  # record 0: not a video
    out = tmp_path / "run"
    result = train(_cfg(tiny_model_factory("qwen2.5-vl"), data, out, "data.max_bad_fraction=0.5"))
    assert result.final_step == 2 and (out / "final").exists()
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    # step 1 trained on record 1 only (record 0 is bad; its micro-batch was a weight-0 filler)
    assert rows[0]["train/bad_samples"] == 1
    bad = read_jsonl(out / "bad_samples.jsonl")
    assert [(b["problem_id"], b["step"]) for b in bad] == [(0, 1)]
    assert "1 of" in capsys.readouterr().err  # the run says how many samples it skipped


def test_a_missing_decoding_library_stops_the_run_and_blames_no_record(
    tiny_model_factory, tmp_path, monkeypatch
):
    """Without PyAV and decord every video would fail: the machine's fault, not the records',
    so GRPO stops at the first step instead of skipping them as bad samples."""
    from video_r1.media import BackendMissing

    data = write_cot_records(tmp_path / "data", n=4)  # written with PyAV, before it goes
    for module in ("av", "decord"):
        monkeypatch.setitem(sys.modules, module, None)  # as on a machine without them
    out = tmp_path / "run"
    cfg = _cfg(tiny_model_factory("qwen2.5-vl"), data, out, "data.max_bad_fraction=0.9")
    with pytest.raises(BackendMissing, match=r"pip install av\); decord is not installed"):
        train(cfg)
    assert not (out / "bad_samples.jsonl").exists() or not read_jsonl(out / "bad_samples.jsonl")
    assert not (out / "final").exists()
