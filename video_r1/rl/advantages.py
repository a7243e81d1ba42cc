"""Group-relative advantages (GRPO), as a pure function of one step's rewards."""

from __future__ import annotations

from typing import Literal

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
    if scale_rewards == "none":
        return centred
    if scale_rewards == "group":
        return centred / (rewards.std(dim=1, keepdim=True) + eps)  # unbiased std, as published
    raise ValueError(f"scale_rewards must be 'group' or 'none', got {scale_rewards!r}")
