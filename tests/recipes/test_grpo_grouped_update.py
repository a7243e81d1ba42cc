"""The update's policy pass in the prefix-grouped layout (rl.grouped_update, the default) trains
as the per-rollout pass does: the same losses, KL, ratios and gradient norms in both passes of
a two-iteration step, under activation checkpointing, with the full model and with LoRA
(tests/test_rollout_grouped.py compares the two passes' log-probs and gradients directly)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _sft_data import write_cot_records

from video_r1.recipes.grpo import train
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
REWARDS = f"rl.reward_funcs=[accuracy,format,{Path(__file__).with_name('_rewards.py')}:text_length]"


def _train(model: Path, data: Path, out: Path, grouped: bool, *overrides: str):
    """One step of two micro-batches and two iterations, under activation checkpointing
    unless `overrides` say otherwise; the run's result."""
    cfg = load_config(GRPOConfig, REPO / "configs" / "grpo_tiny.yaml", [
        f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
        f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
        "rl.max_completion_length=8", "optim.max_steps=1", "optim.grad_accum=2",
        "optim.per_device_batch_size=1", "rl.num_iterations=2", "rl.epsilon=0.05",
        "optim.lr=1e-3", "model.gradient_checkpointing=true", REWARDS,
        f"rl.grouped_update={str(grouped).lower()}", *overrides,
    ])  # fmt: skip
    return train(cfg)


def _run(model: Path, data: Path, out: Path, grouped: bool, *overrides: str) -> dict:
    """`_train`'s step; its metrics row."""
    _train(model, data, out, grouped, *overrides)
    (row,) = read_jsonl(out / "metrics.jsonl")
    return row


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.slow
def test_grouped_update_trains_as_the_per_rollout_update(tiny_qwen25, tmp_path, lora):
    data = write_cot_records(tmp_path / "data", n=2)  # a video and an image micro-batch
    extra = ["model.lora.enabled=true", "model.lora.dropout=0.0"] if lora else []
    grouped = _run(tiny_qwen25, data, tmp_path / "grouped", True, *extra)
    per_rollout = _run(tiny_qwen25, data, tmp_path / "per_rollout", False, *extra)
    assert grouped["train/completion/length_mean"] == per_rollout["train/completion/length_mean"]
    for key in ("loss", "kl", "ratio_mean", "grad_norm"):
        for k in (1, 2):  # pass 2 after an optimizer step on pass 1's gradients
            name = f"train/pass{k}/{key}"
            assert grouped[name] == pytest.approx(per_rollout[name], rel=1e-4, abs=1e-6), name
    assert grouped["train/pass2/ratio_mean"] != pytest.approx(1.0, abs=1e-5)  # it moved


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "cache"])
def test_without_checkpointing_the_passes_follow_rl_grouped_update(tiny_qwen25, tmp_path, grouped):
    """On CPU without checkpointing too the update runs grouped (measured faster than the
    shared prompt cache's, docs/speed.md): its text model ends on the split attention, which
    only a grouped pass switches to; rl.grouped_update=false keeps the cache."""
    from video_r1.rollout.grouped_attention import GROUPED_ATTENTION

    data = write_cot_records(tmp_path / "data", n=2)
    result = _train(
        tiny_qwen25, data, tmp_path / "out", grouped, "model.gradient_checkpointing=false"
    )
    attention = result.model.config.get_text_config()._attn_implementation
    assert attention == (GROUPED_ATTENTION if grouped else "sdpa")


def test_an_attention_the_grouped_pass_cannot_run_is_said_in_the_plan(tiny_qwen25):
    """flash_attention_2 takes no split layout: the run says its passes go per rollout (the
    switch itself is not run here: flash-attn needs a GPU)."""
    from video_r1.models import load_model
    from video_r1.recipes.grpo_engine import grouped_update_note
    from video_r1.rollout.vision import base_model

    model = load_model(tiny_qwen25)
    cfg = load_config(GRPOConfig, REPO / "configs" / "grpo_tiny.yaml", [])
    assert grouped_update_note(cfg, model) is None  # sdpa
    base_model(model).language_model.config._attn_implementation = "flash_attention_2"
    note = grouped_update_note(cfg, model)
    assert "flash_attention_2" in note and "model.attn_implementation=sdpa" in note
    cfg.rl.grouped_update = False
    assert grouped_update_note(cfg, model) is None
