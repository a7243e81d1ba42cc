"""Group-relative advantages (GRPO), and the T-GRPO variants, as pure functions of one step's
rewards (docs/experiment_temporal.md gives each variant's rationale)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import torch

ScaleRewards = Literal["group", "none"]


def group_advantages(
    rewards: torch.Tensor, scale_rewards: ScaleRewards = "group", eps: float = 1e-4
) -> torch.Tensor:
    """Advantages of rollouts grouped by prompt: reward minus the group mean, optionally
    divided by the group's unbiased standard deviation.

    rewards: [B, G] total reward of each rollout, one row per prompt group.
    scale_rewards: "group" = (r - mean) / (std + eps), as published (GRPO);
        "none" = r - mean, as Dr. GRPO (keeps the reward scale, so a bonus that multiplies a
        whole group's rewards also multiplies its advantages).
    Returns [B, G].

    Example:
        >>> group_advantages(torch.tensor([[1.0, 0.0, 1.0, 0.0]]))  # mean .5, std .5774
        tensor([[ 0.8659, -0.8659,  0.8659, -0.8659]])
        >>> group_advantages(torch.tensor([[1.3, 0.0]]), scale_rewards="none")
        tensor([[ 0.6500, -0.6500]])
    """
    if rewards.ndim != 2:
        raise ValueError(
            f"rewards must be [num_groups, group_size], got shape {tuple(rewards.shape)}"
        )
    if rewards.shape[1] < 2:
        raise ValueError("a group needs at least 2 rollouts for a group-relative advantage")
    centred = rewards - rewards.mean(dim=1, keepdim=True)  # [B, G]
    # equal rewards: exactly 0 (in float32 the mean of eight 1.3s is not 1.3, and the
    # rounding error over std + eps = 1e-4 gave every rollout of the group about -1e-3)
    same = rewards.amax(dim=1, keepdim=True) == rewards.amin(dim=1, keepdim=True)
    centred = centred.masked_fill(same, 0.0)
    if scale_rewards == "none":
        return centred
    if scale_rewards == "group":
        return centred / (rewards.std(dim=1, keepdim=True) + eps)  # unbiased std, as published
    raise ValueError(f"scale_rewards must be 'group' or 'none', got {scale_rewards!r}")


TemporalVariant = Literal["published", "after_norm", "group_weight", "margin"]
TEMPORAL_VARIANTS: tuple[str, ...] = ("published", "after_norm", "group_weight", "margin")


class TemporalGroups(NamedTuple):
    """What the temporal variants need of one step's prompt groups (ordered rollouts only).

    base_rewards: [B, G] total reward of each rollout WITHOUT the temporal bonus.
    correct: [B, G] bool, accuracy above the correct threshold (the published bonus mask).
    passed: [B] bool, the group passed the temporal rule (False for images or no rule).
    margin: [B] p - p_shuffled, ordered minus shuffled mean accuracy (0 where no shuffled).
    """

    base_rewards: torch.Tensor
    correct: torch.Tensor
    passed: torch.Tensor
    margin: torch.Tensor


def temporal_advantages(
    groups: TemporalGroups,
    variant: TemporalVariant = "published",
    alpha: float = 0.3,
    scale_rewards: ScaleRewards = "group",
    eps: float = 1e-4,
) -> torch.Tensor:
    """Advantages [B, G] under one way of rewarding the ordered frames beating shuffled ones.

    published: alpha added to the correct rollouts of passing groups BEFORE normalisation (the
        published T-GRPO). Under group std scaling it cancels whenever accuracy is 0/1 and the
        other terms are equal within the group (an affine change of a two-valued reward).
    after_norm: GRPO's advantages, then + alpha on the correct rollouts of passing groups: an
        absolute push no normalisation can undo (also in all-correct groups, where GRPO's is 0).
    group_weight: GRPO's advantages times (1 + alpha) in passing groups: the step weights
        prompts answered from temporal evidence more, as Dr. GRPO scaling does implicitly.
    margin: GRPO's advantages, then + alpha * max(0, p - p~) on every correct rollout: a push
        that grows with how much the order helped, and is 0 when it did not.

    Example (acc [1, 0], format equal; the group passed with p = 0.5, p~ = 0):
        >>> g = TemporalGroups(torch.tensor([[2.0, 1.0]]), torch.tensor([[True, False]]),
        ...                    torch.tensor([True]), torch.tensor([0.5]))
        >>> temporal_advantages(g, "published", eps=0.0)  # (2.3 - 1.65) / 0.9192
        tensor([[ 0.7071, -0.7071]])
        >>> temporal_advantages(g, "after_norm", eps=0.0)  # GRPO's +-0.7071, +0.3 if correct
        tensor([[ 1.0071, -0.7071]])
        >>> temporal_advantages(g, "group_weight", eps=0.0)  # 1.3 x GRPO's
        tensor([[ 0.9192, -0.9192]])
        >>> temporal_advantages(g, "margin", eps=0.0)  # +0.3 x 0.5 if correct
        tensor([[ 0.8571, -0.7071]])
    """
    base, correct = groups.base_rewards, groups.correct.to(groups.base_rewards.dtype)  # [B, G]
    if correct.shape != base.shape:
        raise ValueError(f"correct {tuple(correct.shape)} != base_rewards {tuple(base.shape)}")
    passed = groups.passed.to(base.dtype).reshape(-1, 1)  # [B, 1]
    margin = groups.margin.to(base.dtype).reshape(-1, 1)  # [B, 1]
    if passed.shape[0] != base.shape[0] or margin.shape[0] != base.shape[0]:
        raise ValueError(f"passed and margin need one value per group ({base.shape[0]})")
    if variant == "published":
        return group_advantages(base + alpha * passed * correct, scale_rewards, eps)
    plain = group_advantages(base, scale_rewards, eps)  # [B, G] GRPO's advantages
    if variant == "after_norm":
        return plain + alpha * passed * correct
    if variant == "group_weight":
        return plain * (1.0 + alpha * passed)
    if variant == "margin":
        return plain + alpha * margin.clamp(min=0.0) * correct
    raise ValueError(f"rl.temporal_variant must be one of {TEMPORAL_VARIANTS}, got {variant!r}")


def temporal_groups(scored: Sequence[Any], correct_threshold: float = 0.1) -> TemporalGroups:
    """TemporalGroups of a micro-batch from its scored groups (`rl.group_scores.GroupScores`).

    The base reward is the trained total minus the temporal bonus score_group added, so every
    variant starts from the same GRPO reward.

    Example:
        >>> from types import SimpleNamespace as G
        >>> t = temporal_groups([G(total=[2.3, 1.0], temporal_bonus=[0.3, 0.0],
        ...     accuracy=[1.0, 0.0], temporal_passed=True, p=0.5, p_shuffled=0.0)])
        >>> t.base_rewards, t.passed, t.margin
        (tensor([[2., 1.]]), tensor([True]), tensor([0.5000]))
    """
    base = [[t - b for t, b in zip(g.total, g.temporal_bonus, strict=True)] for g in scored]
    return TemporalGroups(
        base_rewards=torch.tensor(base, dtype=torch.float32),  # [B, G]
        correct=torch.tensor([[a > correct_threshold for a in g.accuracy] for g in scored]),
        passed=torch.tensor([bool(g.temporal_passed) for g in scored]),
        margin=torch.tensor(
            [0.0 if g.p_shuffled is None else g.p - g.p_shuffled for g in scored],
            dtype=torch.float32,
        ),
    )
