"""GRPO calls users' reward functions as TRL does (tests/rl/test_reward_calling.py has the
calling convention itself): a real run with a TRL-style function, and a broken one named."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _sft_data import write_cot_records

from video_r1.recipes.grpo import train
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.rl.group_scores import RewardFunctionError
from video_r1.train.config import load_config
from video_r1.utils.io import read_metrics

REPO = Path(__file__).parents[2]
REWARDS = Path(__file__).with_name("_rewards.py")
pytestmark = pytest.mark.slow


def _cfg(model: Path, data: Path, out: Path, *overrides: str) -> GRPOConfig:
    return load_config(
        GRPOConfig,
        REPO / "configs" / "grpo_tiny.yaml",
        [
            f"model.path={model}", f"data.train_file={data}", f"data.media_root={data.parent}",
            f"checkpoint.output_dir={out}", "logging.progress_bar=false", "data.shuffle=false",
            "rl.max_completion_length=8", "optim.max_steps=1", *overrides,
        ],
    )  # fmt: skip


def test_trl_style_function_gets_prompts_ids_state_and_none_is_left_out(tiny_qwen25, tmp_path):
    data = write_cot_records(tmp_path / "data", n=2)  # a video record, then an image record
    out = tmp_path / "run"
    train(_cfg(tiny_qwen25, data, out, "optim.per_device_batch_size=2",
               f"rl.reward_funcs=[accuracy,format,{REWARDS}:trl_keywords]"))  # fmt: skip
    text = (out / "metrics.jsonl").read_text()
    row = json.loads(text.splitlines()[0])  # strict JSON: no bare NaN in the file
    assert "NaN" not in text
    # the mean over the video record's rollouts only: token counts, 1 to 8 (+ EOS)
    assert 1.0 <= row["train/reward/trl_keywords"] <= 9.0
    assert math.isfinite(read_metrics(out / "metrics.jsonl")[0]["train/reward/total"])


def test_a_reward_function_that_raises_is_named_with_its_file(tiny_qwen25, tmp_path):
    data = write_cot_records(tmp_path / "data", n=2)
    cfg = _cfg(tiny_qwen25, data, tmp_path / "run",
               f"rl.reward_funcs=[accuracy,format,{REWARDS}:raises_inside]")  # fmt: skip
    with pytest.raises(RewardFunctionError) as info:
        train(cfg)
    assert str(info.value).startswith(
        f"reward function 'raises_inside' ({REWARDS}:"
    ) and "raised TypeError" in str(info.value)
