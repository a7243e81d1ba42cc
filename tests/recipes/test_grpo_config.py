"""The GRPO config is the one source of the group-scoring settings; renamed keys say so."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from video_r1.recipes.grpo import scoring_settings
from video_r1.recipes.grpo_config import GRPOConfig, RLConfig
from video_r1.rl.group_scores import ScoringSettings
from video_r1.train.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
REQUIRED = ["model.path=m", "data.train_file=t", "data.media_root=.", "checkpoint.output_dir=o"]


def test_scoring_settings_are_built_from_the_rl_section() -> None:
    rl = RLConfig(
        temporal=False, alpha=0.5, mu=1.0, correct_threshold=0.5, len_control=False,
        length_bonus_min_tokens=10, length_bonus_max_tokens=20, length_bonus=0.1,
        reward_funcs=["format", "my_pkg.rewards:exact"], accuracy_reward="my_pkg.rewards:exact",
    )  # fmt: skip
    assert scoring_settings(rl) == ScoringSettings(
        accuracy_term="exact", temporal=False, alpha=0.5, mu=1.0, correct_threshold=0.5,
        len_control=False, length_bonus_min_tokens=10, length_bonus_max_tokens=20,
        length_bonus=0.1,
    )  # fmt: skip


def test_rl_defaults_are_the_scoring_defaults() -> None:
    # one source: every ScoringSettings field but the term name is an RLConfig field whose
    # default is ScoringSettings' own
    assert scoring_settings(RLConfig()) == ScoringSettings()
    rl_fields = {f.name for f in dataclasses.fields(RLConfig)}
    shared = {f.name for f in dataclasses.fields(ScoringSettings)} - {"accuracy_term"}
    assert shared <= rl_fields


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("rl.min_length", "rl.length_bonus_min_tokens"),
        ("rl.max_length", "rl.length_bonus_max_tokens"),
    ],
)
def test_old_length_bonus_keys_name_their_replacement(old: str, new: str) -> None:
    with pytest.raises(ConfigError, match=f"'{old}' was renamed '{new}'"):
        load_config(GRPOConfig, None, [*REQUIRED, f"{old}=300"])


def test_shipped_grpo_config_sets_the_length_bonus_window() -> None:
    cfg = load_config(GRPOConfig, REPO / "configs" / "grpo.yaml", REQUIRED)
    assert (cfg.rl.length_bonus_min_tokens, cfg.rl.length_bonus_max_tokens) == (320, 512)


def test_length_reward_and_the_published_length_bonus_are_not_added_twice() -> None:
    with pytest.raises(ConfigError, match="length bonus would be added twice"):
        load_config(GRPOConfig, None, [*REQUIRED, "rl.reward_funcs=[accuracy,format,length]"])
    cfg = load_config(
        GRPOConfig, None,
        [*REQUIRED, "rl.reward_funcs=[accuracy,format,length]", "rl.len_control=false"],
    )  # fmt: skip
    assert cfg.rl.reward_funcs == ["accuracy", "format", "length"]
    cfg = load_config(GRPOConfig, None, [*REQUIRED, "rl.temporal_strict=true"])
    assert scoring_settings(cfg.rl).temporal_strict is True
