"""The cancellation claim and the T-GRPO variants, on hand-computed groups
(docs/spec.md#the-temporal-bonus-under-group-normalisation).

Rewards are built with the project's own pure rules (accuracy, format, length bonus, temporal
bonus), so the tests say what the recipe's scoring would feed the advantages.
"""

from __future__ import annotations

import math

import pytest
import torch

from video_r1.rewards import format_reward, length_bonus, temporal_bonus
from video_r1.rl.advantages import (
    TemporalGroups,
    group_advantages,
    temporal_advantages,
    temporal_groups,
)

GOOD, BAD = "<think>x</think><answer>A</answer>", "<answer>A</answer>"
ACC = [1.0, 0.0, 1.0, 0.0]  # a group with 0/1 accuracy, p = 0.5
SHUFFLED_ACC = [0.0, 0.0]  # p~ = 0: the group passes (0.5 >= 0.8 x 0)


def rewards(completions, lengths, bonus_on: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(GRPO reward, published T-GRPO reward) of one group, [1, G] each."""
    fmt = format_reward(completions)
    length = length_bonus(ACC, lengths)
    bonus = temporal_bonus(ACC, SHUFFLED_ACC).bonus if bonus_on else [0.0] * len(ACC)
    grpo = [a + f + n for a, f, n in zip(ACC, fmt, length, strict=True)]
    tgrpo = [r + b for r, b in zip(grpo, bonus, strict=True)]
    return torch.tensor([grpo]), torch.tensor([tgrpo])


def test_bonus_cancels_under_group_std_when_format_and_length_are_constant():
    grpo, tgrpo = rewards([GOOD] * 4, [100] * 4, bonus_on=True)
    # GRPO: r = [2, 1, 2, 1], mean 1.5, unbiased std sqrt(4 x 0.25 / 3) = 0.57735
    #   A = +-0.5 / (0.57735 + 1e-4) = +-0.86588
    # T-GRPO: r = [2.3, 1, 2.3, 1], mean 1.65, std 0.65 x sqrt(4/3) = 0.75056
    #   A = +-0.65 / (0.75056 + 1e-4) = +-0.86591: the same up to the std epsilon
    assert tgrpo[0].tolist() == pytest.approx([2.3, 1.0, 2.3, 1.0])
    a_grpo, a_tgrpo = group_advantages(grpo), group_advantages(tgrpo)
    assert a_grpo[0, 0].item() == pytest.approx(0.5 / (math.sqrt(1 / 3) + 1e-4), abs=1e-6)
    assert a_tgrpo[0, 0].item() == pytest.approx(0.65 / (0.65 * math.sqrt(4 / 3) + 1e-4), abs=1e-6)
    assert torch.allclose(a_grpo, a_tgrpo, atol=1e-4)
    # without the epsilon they are equal to float precision
    assert torch.allclose(group_advantages(grpo, eps=0.0), group_advantages(tgrpo, eps=0.0))
    # the same through the variant function, which adds the bonus itself
    groups = TemporalGroups(grpo, torch.tensor([[True, False, True, False]]),
                            torch.tensor([True]), torch.tensor([0.5]))  # fmt: skip
    assert torch.allclose(temporal_advantages(groups, "published"), a_grpo, atol=1e-4)


def test_bonus_acts_when_format_varies():
    grpo, tgrpo = rewards([GOOD, GOOD, BAD, BAD], [100] * 4, bonus_on=True)
    # GRPO: r = [2, 1, 1, 0], mean 1, std sqrt(2/3) = 0.81650 -> [1.2247, 0, 0, -1.2247]
    # T-GRPO: r = [2.3, 1, 1.3, 0], mean 1.15, devs [1.15, -0.15, 0.15, -1.15],
    #   std sqrt(2.69 / 3) = 0.94692 -> [1.2145, -0.1584, 0.1584, -1.2145]
    expected_grpo = [1.2247, 0.0, 0.0, -1.2247]
    expected_tgrpo = [1.2145, -0.1584, 0.1584, -1.2145]
    assert group_advantages(grpo)[0].tolist() == pytest.approx(expected_grpo, abs=2e-4)
    assert group_advantages(tgrpo)[0].tolist() == pytest.approx(expected_tgrpo, abs=2e-4)


def test_bonus_acts_when_the_length_bonus_varies():
    # two correct rollouts, only the first in [320, 512]: length bonus [0.2, 0, 0, 0]
    grpo, tgrpo = rewards([GOOD] * 4, [400, 100, 100, 100], bonus_on=True)
    # GRPO: r = [2.2, 1, 2, 1], mean 1.55, devs [.65, -.55, .45, -.55], std sqrt(1.23/3) .64031
    #   -> [1.0150, -0.8589, 0.7027, -0.8589]
    # T-GRPO: r = [2.5, 1, 2.3, 1], mean 1.7, devs [.8, -.7, .6, -.7], std sqrt(1.98/3) .81240
    #   -> [0.9846, -0.8615, 0.7385, -0.8615]
    assert group_advantages(grpo)[0].tolist() == pytest.approx(
        [1.0150, -0.8589, 0.7027, -0.8589], abs=2e-4
    )
    assert group_advantages(tgrpo)[0].tolist() == pytest.approx(
        [0.9846, -0.8615, 0.7385, -0.8615], abs=2e-4
    )


def test_without_std_scaling_the_bonus_scales_the_group_by_one_plus_alpha():
    grpo, tgrpo = rewards([GOOD] * 4, [100] * 4, bonus_on=True)
    # Dr. GRPO: r - mean: [0.5, -0.5, 0.5, -0.5] vs [0.65, -0.65, 0.65, -0.65] = 1.3 x
    assert group_advantages(grpo, "none")[0].tolist() == pytest.approx([0.5, -0.5, 0.5, -0.5])
    assert group_advantages(tgrpo, "none")[0].tolist() == pytest.approx([0.65, -0.65, 0.65, -0.65])


# one passing group (acc [1, 0, 1, 0], equal format: base r = [2, 1, 2, 1], p - p~ = 0.5) and one
# failing all-correct group (base r = [2, 2, 2, 2], p - p~ = -0.25)
GROUPS = TemporalGroups(
    base_rewards=torch.tensor([[2.0, 1.0, 2.0, 1.0], [2.0, 2.0, 2.0, 2.0]]),
    correct=torch.tensor([[True, False, True, False], [True] * 4]),
    passed=torch.tensor([True, False]),
    margin=torch.tensor([0.5, -0.25]),
)
A = 0.5 / (math.sqrt(1 / 3) + 1e-4)  # GRPO's advantage in group 0: 0.86588


@pytest.mark.parametrize(
    ("variant", "row0", "row1"),
    [
        # published: bonus before normalisation cancels; group 1 constant -> 0
        ("published", [A, -A, A, -A], [0.0] * 4),
        # after_norm: +0.3 on correct rollouts of the passing group: [1.16588, -0.86588, ...]
        ("after_norm", [A + 0.3, -A, A + 0.3, -A], [0.0] * 4),
        # group_weight: 1.3 x GRPO's in the passing group: +-1.12565
        ("group_weight", [1.3 * A, -1.3 * A, 1.3 * A, -1.3 * A], [0.0] * 4),
        # margin: +0.3 x max(0, 0.5) = 0.15 on correct ones; group 1 margin < 0: nothing
        ("margin", [A + 0.15, -A, A + 0.15, -A], [0.0] * 4),
    ],
)
def test_variants_by_hand(variant, row0, row1):
    adv = temporal_advantages(GROUPS, variant, alpha=0.3)  # published bonus: 0.86591 ~ A
    assert adv[0].tolist() == pytest.approx(row0, abs=1e-4)
    assert adv[1].tolist() == pytest.approx(row1, abs=1e-5)


def test_variants_survive_normalisation_where_published_does_not():
    # all-correct passing group: GRPO gives 0; after_norm and margin still push it up
    groups = TemporalGroups(torch.tensor([[2.0, 2.0]]), torch.tensor([[True, True]]),
                            torch.tensor([True]), torch.tensor([1.0]))  # fmt: skip
    assert temporal_advantages(groups, "published").tolist() == [[0.0, 0.0]]  # constant group
    assert temporal_advantages(groups, "after_norm")[0].tolist() == pytest.approx([0.3, 0.3])
    assert temporal_advantages(groups, "margin")[0].tolist() == pytest.approx([0.3, 0.3])
    # group_weight with Dr. GRPO scaling multiplies the unscaled advantages: 1.3 x [0.5, -0.5]
    mixed = TemporalGroups(torch.tensor([[2.0, 1.0]]), torch.tensor([[True, False]]),
                           torch.tensor([True]), torch.tensor([1.0]))  # fmt: skip
    adv = temporal_advantages(mixed, "group_weight", scale_rewards="none")
    assert adv[0].tolist() == pytest.approx([0.65, -0.65])


def test_temporal_groups_from_scored_groups_and_bad_input():
    from video_r1.rl.group_scores import GroupScores

    def scored(total, bonus, acc, passed, p, p_shuffled):
        return GroupScores(total=total, terms={}, accuracy=acc, shuffled_accuracy=[],
                           temporal_bonus=bonus, temporal_passed=passed, p=p,
                           p_shuffled=p_shuffled, length_bonus=[0.0] * len(total))  # fmt: skip

    t = temporal_groups([
        scored([2.3, 1.0], [0.3, 0.0], [1.0, 0.0], True, 0.5, 0.0),
        scored([1.0, 2.0], [0.0, 0.0], [0.0, 1.0], None, 0.5, None),  # an image: no rule
    ])  # fmt: skip
    assert t.base_rewards.tolist() == [[2.0, 1.0], [1.0, 2.0]]  # total - temporal bonus
    assert t.correct.tolist() == [[True, False], [False, True]]
    assert t.passed.tolist() == [True, False] and t.margin.tolist() == [0.5, 0.0]
    with pytest.raises(ValueError, match="temporal_variant"):
        temporal_advantages(t, "sometimes")
    with pytest.raises(ValueError, match="one value per group"):
        temporal_advantages(t._replace(passed=torch.tensor([True])))


def test_temporal_variant_setting_is_checked():
    from video_r1.recipes.grpo_config import RLConfig
    from video_r1.train.config import ConfigError

    assert RLConfig().temporal_variant == "published"  # the paper's rule by default
    assert RLConfig(temporal_variant="margin").temporal_variant == "margin"
    with pytest.raises(ConfigError, match="rl.temporal_variant must be one of"):
        RLConfig(temporal_variant="after")
