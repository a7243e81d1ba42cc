"""What a config mistake says: another trainer's name for a key, the key in another section,
the YAML line, the value a choice got."""

from __future__ import annotations

from pathlib import Path

import pytest

from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.recipes.sft import SFTConfig
from video_r1.train.config import ConfigError, load_config

REPO = Path(__file__).parents[2]
GRPO_TINY = REPO / "configs" / "grpo_tiny.yaml"


@pytest.mark.parametrize(
    ("override", "hint"),
    [
        ("optim.learning_rate=1e-6", "optim.lr"),  # TRL's / transformers' name
        ("learning_rate=1e-6", "optim.lr"),
        ("lora.enabled=true", "model.lora.enabled"),  # the right key in another section
        ("num_generations=4", "rl.num_generations"),
        ("beta=0.0", "rl.beta"),
        ("per_device_train_batch_size=2", "optim.per_device_batch_size"),
        ("gradient_accumulation_steps=2", "optim.grad_accum"),
        ("algorithm.kl_coef=0.0", "rl.beta"),  # EasyR1's names
        ("worker.rollout.n=4", "rl.num_generations"),
        ("worker.actor.optim.lr=1e-6", "optim.lr"),
        ("rl.num_generation=4", "rl.num_generations"),  # a typo, as before
    ],
)
def test_unknown_key_hints_the_setting_meant(override: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(GRPOConfig, GRPO_TINY, [override])
    key = override.split("=")[0]
    assert f"unknown key {key!r} (did you mean {hint!r}?" in str(info.value), str(info.value)


def test_unknown_key_in_a_yaml_section_is_named_whole(tmp_path: Path) -> None:
    yaml = tmp_path / "c.yaml"
    yaml.write_text(GRPO_TINY.read_text() + "lora:\n  enabled: true\n")
    with pytest.raises(ConfigError, match=r"unknown key 'lora.enabled' \(did you mean "
                       r"'model.lora.enabled'\?"):  # fmt: skip
        load_config(GRPOConfig, yaml)
    with pytest.raises(ConfigError, match=r"unknown key 'max_seq_length' \(did you mean "
                       r"'sft.max_seq_len'\?"):  # fmt: skip
        load_config(SFTConfig, REPO / "configs" / "sft_tiny.yaml", ["max_seq_length=10"])


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    yaml = tmp_path / "c.yaml"
    yaml.write_text("model:\n  path: m\ndata:\n  train_file: t\n   media_root: .\n")
    with pytest.raises(ConfigError) as info:
        load_config(GRPOConfig, yaml)
    assert str(info.value) == (
        f"{yaml}:5:14: not valid YAML: mapping values are not allowed in this context"
    )


@pytest.mark.parametrize(
    ("override", "says"),
    [
        (
            "rl.loss_type=dapo",
            "rl.loss_type must be one of ('sequence', 'token', 'dr_grpo'), got 'dapo'",
        ),  # fmt: skip
        ("rl.scale_rewards=batch", "got 'batch'"),
        ("rl.rollout_engine=sglang", "got 'sglang'"),
        ("rl.temporal_variant=x", "got 'x'"),
        ("rl.importance_sampling_level=y", "got 'y'"),
        ("rl.reward_format=chat", "got 'chat'"),
    ],
)
def test_a_bad_choice_names_the_value_it_got(override: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        load_config(GRPOConfig, GRPO_TINY, [override])
