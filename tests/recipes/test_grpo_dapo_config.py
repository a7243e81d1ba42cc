"""The DAPO / GSPO settings: off by default, listed by `video-r1 grpo --help`, checked, and
the shipped DAPO recipe holds what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from video_r1.cli import main
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.train.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
REQUIRED = ["model.path=m", "data.train_file=t", "data.media_root=.", "checkpoint.output_dir=o"]
SETTINGS = {
    "rl.dynamic_sampling": "False",
    "rl.dynamic_sampling_max_rounds": "4",
    "rl.overlong_buffer_tokens": "0",
    "rl.overlong_penalty": "0.0",
    "rl.mask_truncated_completions": "False",
    "rl.importance_sampling_level": "token",
}


def test_grpo_help_lists_each_setting_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["grpo", "--help"])
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    for key, default in SETTINGS.items():
        assert any(line.startswith(f"{key} ({default}): ") for line in lines), key
    text = " ".join(lines)
    for word in ("DAPO", "GSPO", "TRL"):  # where each comes from
        assert word in text


def test_defaults_keep_the_published_run():
    rl = load_config(GRPOConfig, None, REQUIRED).rl
    assert not rl.dynamic_sampling and not rl.mask_truncated_completions
    assert (rl.overlong_buffer_tokens, rl.overlong_penalty) == (0, 0.0)
    assert rl.importance_sampling_level == "token"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("rl.dynamic_sampling_max_rounds=0", "dynamic_sampling_max_rounds"),
        ("rl.overlong_buffer_tokens=1000", "overlong_buffer_tokens"),  # > 768 new tokens
        ("rl.overlong_penalty=-1", "overlong_penalty"),
        ("rl.importance_sampling_level=seq", "importance_sampling_level"),
    ],
)
def test_bad_settings_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(GRPOConfig, None, [*REQUIRED, override])


def test_dapo_recipe_is_the_published_run_plus_dapo():
    dapo = load_config(GRPOConfig, REPO / "configs" / "grpo_dapo.yaml")
    published = load_config(GRPOConfig, REPO / "configs" / "grpo.yaml")
    rl = dapo.rl
    assert (rl.epsilon, rl.epsilon_high, rl.num_iterations) == (0.2, 0.28, 2)  # clip-higher
    assert rl.loss_type == "token" and rl.beta == 0.0
    assert rl.dynamic_sampling and rl.dynamic_sampling_max_rounds == 4
    assert (rl.overlong_buffer_tokens, rl.overlong_penalty) == (160, 1.0)
    # the Video-R1 parts stay as published: T-GRPO rule, rewards, sampling, data, optimizer
    for key in ("temporal", "num_generations", "num_shuffled_generations", "alpha", "mu",
                "len_control", "reward_funcs", "temperature", "top_p", "top_k",
                "max_completion_length", "scale_rewards"):  # fmt: skip
        assert getattr(rl, key) == getattr(published.rl, key), key
    assert dapo.optim == published.optim and dapo.media == published.media
