"""Group rules: the length bonus and the T-GRPO temporal bonus, as pure functions of one
rollout group's accuracies.

Published code (tulerfeng/Video-R1 `Qwen2VLGRPOTrainer.compute_loss`), for reference:

    if acc_mean >= 0.8 * shuffled_acc_mean:            # temporal
        mask = acc > 0.1; acc[mask] += 0.3
    mask = acc_raw > 0.1                               # length, on the raw accuracy
    if mask.sum() > 1: rewards[i] += 0.2 for i in mask if 320 <= length[i] <= 512
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Comparison = Literal[">=", ">"]


def length_bonus(
    accuracies: Sequence[float],
    lengths: Sequence[int],
    l_min: int = 320,
    l_max: int = 512,
    bonus: float = 0.2,
    correct_threshold: float = 0.1,
) -> list[float]:
    """Per-rollout length bonus for one group: if more than one rollout has accuracy above
    `correct_threshold`, each of those whose length is in [l_min, l_max] gets `bonus`.

    `lengths` are completion lengths in tokens, counting the first EOS (the published
    completion mask). `accuracies` are the raw accuracy rewards, before any temporal bonus.

    Example:
        >>> length_bonus([1.0, 1.0, 0.0], [400, 100, 400])  # 2 correct; only the first in range
        [0.2, 0.0, 0.0]
        >>> length_bonus([1.0, 0.0, 0.0], [400, 400, 400])  # a single correct rollout: no bonus
        [0.0, 0.0, 0.0]
    """
    if len(accuracies) != len(lengths):
        raise ValueError(f"{len(accuracies)} accuracies but {len(lengths)} lengths")
    if l_min > l_max:
        raise ValueError(f"l_min {l_min} > l_max {l_max}")
    correct = [_finite(a, "accuracy") > correct_threshold for a in accuracies]
    if sum(correct) <= 1:
        return [0.0] * len(accuracies)
    return [
        bonus if ok and l_min <= n <= l_max else 0.0 for ok, n in zip(correct, lengths, strict=True)
    ]


@dataclass(frozen=True)
class TemporalResult:
    """The T-GRPO outcome for one prompt group.

    bonus: per ordered rollout, `alpha` or 0.0 (same order as the ordered accuracies).
    passed: whether the ordered group beat the shuffled one (p cmp mu * p_shuffled).
    p: mean accuracy of the ordered rollouts.
    p_shuffled: mean accuracy of the shuffled rollouts; None when there were none (images).
    """

    bonus: list[float]
    passed: bool
    p: float
    p_shuffled: float | None


def temporal_bonus(
    ordered_accuracies: Sequence[float],
    shuffled_accuracies: Sequence[float],
    alpha: float = 0.3,
    mu: float = 0.8,
    correct_threshold: float = 0.1,
    comparison: Comparison = ">=",
) -> TemporalResult:
    """The T-GRPO temporal reward of one group: `alpha` for every ordered rollout with accuracy
    above `correct_threshold`, if and only if the group passes.

    The group passes when `p >= mu * p_shuffled` (comparison ">=", the published code, with
    mu = 0.8; the paper's rule is mu = 1.0) or `p > mu * p_shuffled` (comparison ">", the
    paper's "strictly exceeds" wording). Means are taken in float64. With ">=", an all-wrong
    group (p = p_shuffled = 0) passes, yet gets no bonus because no rollout is correct; with
    ">" it fails. An empty shuffled list (an image prompt: nothing to shuffle) gives no bonus
    and passed=False.

    Example:
        >>> r = temporal_bonus([1.0, 0.0, 1.0, 1.0], [1.0, 0.0])  # 0.75 >= 0.8 * 0.5
        >>> r.bonus, r.passed, r.p, r.p_shuffled
        ([0.3, 0.0, 0.3, 0.3], True, 0.75, 0.5)
        >>> temporal_bonus([1.0, 0.0], [1.0, 1.0]).passed  # 0.5 < 0.8 * 1.0
        False
    """
    if not ordered_accuracies:
        raise ValueError("temporal_bonus needs at least one ordered rollout")
    if comparison not in (">=", ">"):
        raise ValueError(f"comparison must be '>=' or '>', got {comparison!r}")
    ordered = [_finite(a, "ordered accuracy") for a in ordered_accuracies]
    p = math.fsum(ordered) / len(ordered)
    if not shuffled_accuracies:
        return TemporalResult([0.0] * len(ordered), passed=False, p=p, p_shuffled=None)
    shuffled = [_finite(a, "shuffled accuracy") for a in shuffled_accuracies]
    p_shuffled = math.fsum(shuffled) / len(shuffled)
    target = mu * p_shuffled
    passed = p >= target if comparison == ">=" else p > target
    bonus = [alpha if passed and a > correct_threshold else 0.0 for a in ordered]
    return TemporalResult(bonus, passed=passed, p=p, p_shuffled=p_shuffled)


def _finite(value: float, what: str) -> float:
    # Accuracies come from our scorers and are always finite; a NaN here is a bug upstream,
    # and comparisons with NaN would silently decide the bonus.
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value}")
    return value
