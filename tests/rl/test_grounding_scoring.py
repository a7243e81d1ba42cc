"""Temporal grounding in the group rules: IoU accuracy through the T-GRPO temporal rule, the
length rule, the advantages and dynamic sampling, and `rl.grounding_reward` in the recipe."""

from __future__ import annotations

import pytest
import torch

from video_r1.recipes.grpo import load_reward_terms
from video_r1.recipes.grpo_config import GRPOConfig
from video_r1.rewards import accuracy_reward, format_reward
from video_r1.rl.advantages import group_advantages, temporal_advantages, temporal_groups
from video_r1.rl.dynamic_sampling import has_signal
from video_r1.rl.group_scores import RewardTerm, ScoringSettings, score_group
from video_r1.train.config import ConfigError, load_config

COLUMNS = {"solution": "<answer>[2.0, 4.0]</answer>", "problem_type": "temporal grounding"}
TERMS = [RewardTerm("accuracy", accuracy_reward), RewardTerm("format", format_reward)]
REQUIRED = ["model.path=m", "data.train_file=t", "data.media_root=.", "checkpoint.output_dir=o"]


def answer(text: str) -> str:
    return f"<think>x</think><answer>{text}</answer>"


def test_temporal_rule_compares_mean_iou_and_rewards_iou_above_the_threshold():
    # ordered IoUs: 1.0, 0.5 (2-3 inside 2-4), 0.025 (see below), 0.0
    ordered = [answer("2 to 4"), answer("2 to 3"), answer("3.9 to 6"), answer("8 to 9")]
    # 3.9-6 vs 2-4: 0.1 s shared / 4 s hull = 0.025: not "correct" (<= 0.1)
    shuffled = [answer("0 to 4"), answer("7 to 8")]  # IoUs 0.5, 0.0
    settings = ScoringSettings(len_control=False)
    s = score_group(COLUMNS, ordered, [10] * 4, shuffled, TERMS, settings, [10] * 2)
    assert s.accuracy == pytest.approx([1.0, 0.5, 0.025, 0.0])
    assert s.shuffled_accuracy == pytest.approx([0.5, 0.0])
    assert s.p == pytest.approx(1.525 / 4) and s.p_shuffled == pytest.approx(0.25)
    assert s.temporal_passed  # 0.38125 >= 0.8 * 0.25
    assert s.temporal_bonus == [0.3, 0.3, 0.0, 0.0]  # IoU > 0.1 counts as correct
    assert s.total == pytest.approx([1 + 1 + 0.3, 0.5 + 1 + 0.3, 0.025 + 1, 0.0 + 1])
    # every T-GRPO variant sees the same "correct" rollouts and the mean-IoU margin
    groups = temporal_groups([s])
    assert groups.correct.tolist() == [[True, True, False, False]]
    assert groups.margin.tolist() == pytest.approx([1.525 / 4 - 0.25])
    margin = temporal_advantages(groups, "margin", eps=0.0)
    plain = group_advantages(groups.base_rewards, eps=0.0)
    assert (margin - plain).tolist()[0] == pytest.approx([0.3 * 0.13125] * 2 + [0.0] * 2, abs=1e-6)

    # the same ordered group fails against shuffled rollouts that localise better
    better = [answer("2 to 4"), answer("2 to 4")]
    s = score_group(COLUMNS, ordered, [10] * 4, better, TERMS, settings, [10] * 2)
    assert not s.temporal_passed and s.temporal_bonus == [0.0] * 4


def test_length_rule_counts_iou_above_the_threshold_as_correct():
    ordered = [answer("2 to 4"), answer("2 to 3"), answer("3.9 to 6")]
    settings = ScoringSettings(temporal=False)
    s = score_group(COLUMNS, ordered, [400, 400, 400], [], TERMS, settings)
    assert s.length_bonus == [0.2, 0.2, 0.0]


def test_iou_groups_have_signal_unless_every_iou_is_equal():
    near = [answer("2 to 4"), answer("2 to 3.9")]  # IoU 1.0 and 0.95: still something to learn
    s = score_group(COLUMNS, near, [10, 10], [], TERMS, ScoringSettings(temporal=False))
    assert has_signal(s.total)
    advantages = group_advantages(torch.tensor([s.total]))[0]
    assert advantages[0] > 0 > advantages[1]
    same = [answer("8 to 9"), answer("nothing")]  # both IoU 0, both well formed
    s = score_group(COLUMNS, same, [10, 10], [], TERMS, ScoringSettings(temporal=False))
    assert not has_signal(s.total)


def test_the_recipe_scores_grounding_with_the_configured_variant():
    completions = [answer("0 to 1"), "<answer>[(2, 3), (3.5, 4)]</answer>"]
    expected = {"iou": [0.0, 0.0], "videochat_r1": [0.0, 0.75], "time_r1": [0.0, 0.0]}
    for variant, values in expected.items():
        cfg = load_config(GRPOConfig, None, [*REQUIRED, f"rl.grounding_reward={variant}"])
        accuracy = load_reward_terms(cfg)[0]
        assert accuracy.name == "accuracy"
        assert accuracy.fn(completions, **{k: [v] * 2 for k, v in COLUMNS.items()}) == values
    cfg = load_config(GRPOConfig, None, [*REQUIRED, "rl.lenient_accuracy=true"])
    lenient = load_reward_terms(cfg)[0].fn
    assert lenient(["<answer>42.0</answer>"], ["<answer>42</answer>"], ["numerical"]) == [1.0]
    with pytest.raises(ConfigError, match="rl.grounding_reward must be one of"):
        load_config(GRPOConfig, None, [*REQUIRED, "rl.grounding_reward=tiou"])
