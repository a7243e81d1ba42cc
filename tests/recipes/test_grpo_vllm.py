"""T-GRPO with rollouts from vLLM (rl.rollout_engine=vllm) on the tiny Qwen2.5-VL: one process
and two (DDP through torchrun, each process its own colocated engine)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _launch import REPO, accelerate_launch, run_driver, torchrun
from _sft_data import write_cot_records

from video_r1.recipes.grpo import train
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import ConfigError, load_config
from video_r1.utils.io import read_jsonl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm not installed"),
]
DRIVER = Path(__file__).with_name("_grpo_dist_driver.py")
MISMATCH = ("train/mismatch/logprob_diff_mean", "train/mismatch/logprob_diff_max",
            "train/mismatch/is_weight_mean", "train/mismatch/is_capped")  # fmt: skip


def _overrides(model: Path, data: Path, out: Path) -> list[str]:
    return [
        f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
        f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
        "rl.max_completion_length=12", "optim.lr=1e-3", "optim.weight_decay=0.0",
        "rl.rollout_engine=vllm", "rl.vllm_kv_cache_gb=0.05", "rl.vllm_max_model_len=4096",
        "rl.vllm_enforce_eager=true",
        # no top-k / top-p: vLLM's log-probs are those of the distribution that sampled, which
        # on a near-uniform tiny model top-k 50 would cut to 50 of ~1.6k tokens
        "rl.top_k=0", "rl.top_p=1.0",
        f"rl.reward_funcs=[accuracy,format,{DRIVER.with_name('_rewards.py')}:text_length]",
    ]  # fmt: skip


def _check_mismatch(row: dict) -> None:
    for key in MISMATCH:
        assert key in row, key
    # the tiny model's suppressed vision ids hold ~2% of the mass: vLLM's log-probs (the
    # distribution that sampled) are that much above the full softmax the trainer scores
    assert 0 < row["train/mismatch/logprob_diff_mean"] < 0.1
    assert row["train/mismatch/logprob_diff_mean"] <= row["train/mismatch/logprob_diff_max"]
    assert 0 < row["train/mismatch/is_weight_mean"] <= 1.0


def test_tgrpo_on_vllm_trains_every_parameter_and_logs_the_mismatch(tiny_qwen25, tmp_path):
    from transformers import AutoModelForImageTextToText

    data = write_cot_records(tmp_path / "data", n=8)  # videos and images alternate
    before = AutoModelForImageTextToText.from_pretrained(tiny_qwen25).state_dict()
    cfg = load_config(
        GRPOConfig, REPO / "configs" / "grpo_tiny.yaml",
        [*_overrides(tiny_qwen25, data, tmp_path / "run"), "optim.max_steps=3",
         "optim.per_device_batch_size=2", "rl.debug_rollouts=40"],
    )  # fmt: skip
    result = train(cfg)
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    for row in rows:
        _check_mismatch(row)
        assert "train/temporal/passed" in row and row["train/time/weight_sync"] >= 0
    debug = read_jsonl(tmp_path / "run" / "rollouts.jsonl")
    assert {r["order"] for r in debug if r["step"] == 1} == {"ordered", "shuffled"}
    after = result.model.state_dict()
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert unchanged == [], unchanged


def test_two_process_ddp_each_with_its_own_engine(tiny_qwen25, tmp_path):
    data = write_cot_records(tmp_path / "data", n=8)
    out = tmp_path / "ddp"
    args = [str(REPO / "configs" / "grpo_tiny.yaml"), *_overrides(tiny_qwen25, data, out),
            "optim.max_steps=2", "optim.per_device_batch_size=1"]  # fmt: skip
    run_driver(torchrun(), DRIVER, args, timeout=600)
    p0, p1 = torch.load(out / "params_rank0.pt"), torch.load(out / "params_rank1.pt")
    assert all(torch.equal(p0[k], p1[k]) for k in p0)  # DDP kept the replicas equal
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        _check_mismatch(row)
    from transformers import AutoModelForImageTextToText

    initial = AutoModelForImageTextToText.from_pretrained(tiny_qwen25).state_dict()
    changed = [k for k in initial if not torch.equal(initial[k], p0[k])]
    assert changed == list(initial)


@pytest.mark.parametrize("zero", ["zero2", "zero3"])
def test_two_process_deepspeed_pushes_whole_weights(zero, tiny_qwen25, tmp_path):
    """Under ZeRO-3 each rank holds a shard of every weight: the push gathers them first. A
    shard or a stale weight pushed would show as a log-prob gap far above the ~2% of mass the
    suppressed ids hold, or as an error from vLLM's loader."""
    pytest.importorskip("deepspeed")
    from transformers import AutoModelForImageTextToText

    data = write_cot_records(tmp_path / "data", n=8)
    out = tmp_path / zero
    args = [
        str(REPO / "configs" / "grpo_tiny.yaml"),
        *_overrides(tiny_qwen25, data, out),
        "optim.max_steps=2",
        "optim.per_device_batch_size=1",
        "rl.gather_for_generation=false",
    ]  # the native decoder's choice: vLLM gathers anyway
    run_driver(accelerate_launch(zero), DRIVER, args, timeout=600)
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        _check_mismatch(row)
    initial = AutoModelForImageTextToText.from_pretrained(tiny_qwen25).state_dict()
    final = AutoModelForImageTextToText.from_pretrained(out / "final").state_dict()
    changed = [k for k in initial if not torch.equal(initial[k], final[k])]
    assert changed == list(initial)


def test_dynamic_sampling_on_vllm_keeps_the_engines_logprobs(tiny_qwen25, tmp_path):
    """Groups kept from several generate calls are merged (rollout/merge.py) with vLLM's
    log-probs: the mismatch is still measured and corrected."""
    rewards = DRIVER.with_name("_rewards.py")
    data = write_cot_records(tmp_path / "data", n=8)
    cfg = load_config(
        GRPOConfig, REPO / "configs" / "grpo_tiny.yaml",
        [*_overrides(tiny_qwen25, data, tmp_path / "run"), "optim.max_steps=2",
         "optim.per_device_batch_size=2", "rl.dynamic_sampling=true",
         f"rl.reward_funcs=[{rewards}:learnable_if_even]",
         f"rl.accuracy_reward={rewards}:learnable_if_even"],
    )  # fmt: skip
    train(cfg)
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        _check_mismatch(row)


def test_a_tracked_run_ends_cleanly_without_vllms_per_step_lines(tiny_qwen25, tmp_path):
    """A tracker's end_training destroys the process group vLLM made: the engine is closed
    first (no traceback from vLLM's shutdown at exit). vLLM says one summary line at the start;
    its weight pushes' lines (at every step) and DeepSpeed's CPU notice are left out."""
    data = write_cot_records(tmp_path / "data", n=4)
    command = [sys.executable, "-m", "video_r1.cli", "grpo", "--config",
               str(REPO / "configs" / "grpo_tiny.yaml"),
               *_overrides(tiny_qwen25, data, tmp_path / "run"), "optim.max_steps=2",
               "optim.per_device_batch_size=1", "logging.trackers=[tensorboard]"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "# done:" in proc.stderr
    log = proc.stdout + proc.stderr
    assert "Traceback" not in log, proc.stderr[-4000:]
    assert [r["step"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl")] == [1, 2]
    for line in ("Failed to load weights", "Reloading and processing weights", "reset prefix",
                 "Setting accelerator to CPU"):  # fmt: skip
        assert line not in log, line
    summary = [line for line in proc.stdout.splitlines() if line.startswith("# vLLM ")]
    assert len(summary) == 1 and "KV cache" in summary[0], summary


def test_engine_settings_are_checked():
    with pytest.raises(ConfigError, match="rl.rollout_engine"):
        load_config(GRPOConfig, REPO / "configs" / "grpo_tiny.yaml", ["rl.rollout_engine=sglang"])
    with pytest.raises(ConfigError, match="vllm_importance_sampling_cap"):
        load_config(GRPOConfig, REPO / "configs" / "grpo_tiny.yaml",
                    ["rl.vllm_importance_sampling_cap=0.5"])  # fmt: skip
