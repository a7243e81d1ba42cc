import math

import pytest
import torch

from video_r1.rl import group_advantages


def test_group_std_scaling_matches_hand_computation():
    rewards = torch.tensor([[1.0, 0.0, 1.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    adv = group_advantages(rewards)
    # group 0: mean 0.5, unbiased std sqrt(4 * 0.25 / 3) = 0.57735
    expected = 0.5 / (math.sqrt(1 / 3) + 1e-4)
    assert torch.allclose(
        adv[0], torch.tensor([expected, -expected, expected, -expected]), atol=1e-6
    )
    # group 1: all equal -> all zero (std 0, the eps avoids a division by zero)
    assert torch.equal(adv[1], torch.zeros(4))


def test_no_scaling_keeps_reward_scale():
    rewards = torch.tensor([[1.3, 0.0, 1.3, 0.0]])
    assert torch.allclose(
        group_advantages(rewards, "none"), torch.tensor([[0.65, -0.65, 0.65, -0.65]])
    )


def test_temporal_bonus_is_invisible_under_group_scaling_but_not_without():
    """With 0/1 accuracy and equal other terms, r = (1 + alpha) acc + c, so group-std-normalised
    advantages do not depend on alpha; without scaling they grow by 1 + alpha.
    (docs/spec.md#the-temporal-bonus-under-group-normalisation)"""
    acc = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]])
    fmt = torch.ones_like(acc)
    plain = acc + fmt
    with_bonus = acc * 1.3 + fmt
    assert torch.allclose(group_advantages(plain), group_advantages(with_bonus), atol=1e-3)
    assert torch.allclose(
        group_advantages(with_bonus, "none"), 1.3 * group_advantages(plain, "none")
    )


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="num_groups, group_size"):
        group_advantages(torch.zeros(4))
    with pytest.raises(ValueError, match="at least 2"):
        group_advantages(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="scale_rewards"):
        group_advantages(torch.zeros(1, 2), "batch")


def test_equal_rewards_give_exactly_zero_advantages():
    # float32: the mean of eight 1.3s is 1.3000001, not 1.3; over std + 1e-4 that rounding
    # gave every rollout about -1.2e-3 where the rule gives 0
    for value in (1.3, 0.7, 0.3, 2.2):
        rewards = torch.full((1, 8), value)
        assert torch.equal(group_advantages(rewards), torch.zeros(1, 8))
        assert torch.equal(group_advantages(rewards, scale_rewards="none"), torch.zeros(1, 8))
    mixed = group_advantages(torch.tensor([[1.3] * 7 + [0.3], [1.3] * 8]))
    assert mixed[0].abs().min() > 0.3 and torch.equal(mixed[1], torch.zeros(8))
