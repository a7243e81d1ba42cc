"""Per-step GRPO metrics as sums and counts, so they reduce exactly across ranks.

`group_sums` turns one micro-batch's scored groups into additive sums; `finalize` turns the
sums (after `reduce_sums` over ranks) into the logged means; `no_signal_warning` says when a
step had no group with reward variance. Pure: no model, no accelerator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from video_r1.rl.group_scores import GroupScores


def group_sums(
    groups: Sequence[GroupScores],
    is_video: Sequence[bool],
    lengths: Sequence[int],
    truncated: Sequence[bool],
    advantages: Sequence[float] | None = None,
) -> dict[str, float]:
    """Additive sums over the ordered rollouts of `groups`.

    lengths / truncated: per ordered rollout, in group order (len = sum of group sizes).
    advantages: the trained advantage of each ordered rollout, in the same order: a group
    counts as giving no signal when they are all 0 (None: when its totals are all equal;
    the two differ under temporal variants that add to advantages, e.g. after_norm).
    """
    sums: dict[str, float] = {"groups": 0.0, "rollouts": 0.0}
    for name in groups[0].terms if groups else ():
        sums[f"term/{name}"] = sums[f"term_count/{name}"] = 0.0
    for key in ("total", "total_sq", "accuracy", "all_correct", "all_wrong", "temporal_groups",
                "temporal_passed", "temporal_any_correct", "temporal_passed_any_correct", "p",
                "p_shuffled", "video_groups", "temporal_bonus", "length_bonus", "length",
                "truncated", "zero_variance", "overlong_penalty"):  # fmt: skip
        sums[key] = 0.0
    sums["length_max"] = 0.0
    first = 0
    for group, video in zip(groups, is_video, strict=True):
        n = len(group.total)
        mine = None if advantages is None else advantages[first : first + n]
        first += n
        sums["groups"] += 1
        sums["rollouts"] += n
        sums["video_groups"] += float(video)
        for name, values in group.terms.items():  # NaN: the function returned None (TRL)
            applied = [v for v in values if not math.isnan(v)]
            sums[f"term/{name}"] = sums.get(f"term/{name}", 0.0) + sum(applied)
            sums[f"term_count/{name}"] = sums.get(f"term_count/{name}", 0.0) + len(applied)
        sums["total"] += sum(group.total)
        sums["total_sq"] += sum(t * t for t in group.total)
        sums["accuracy"] += sum(group.accuracy)
        sums["temporal_bonus"] += sum(group.temporal_bonus)
        sums["length_bonus"] += sum(group.length_bonus)
        sums["overlong_penalty"] += sum(group.overlong_penalty)  # DAPO's; [] when off
        correct = [a > 0.5 for a in group.accuracy]
        sums["all_correct"] += float(all(correct))
        sums["all_wrong"] += float(not any(correct))
        # zero advantages: the group teaches nothing this step
        if mine is None:
            sums["zero_variance"] += float(max(group.total) == min(group.total))
        else:
            sums["zero_variance"] += float(all(a == 0.0 for a in mine))
        if group.temporal_passed is not None:
            sums["temporal_groups"] += 1
            sums["temporal_passed"] += float(group.temporal_passed)
            # All-wrong groups (p = p~ = 0) pass the published rule p >= mu p~ trivially;
            # the pass rate over groups with a correct ordered rollout is the informative one.
            if any(correct):
                sums["temporal_any_correct"] += 1
                sums["temporal_passed_any_correct"] += float(group.temporal_passed)
            sums["p"] += group.p
            sums["p_shuffled"] += group.p_shuffled or 0.0
    sums["length"] = float(sum(lengths))
    sums["length_max"] = float(max(lengths, default=0))
    sums["truncated"] = float(sum(truncated))
    return sums


def finalize(sums: dict[str, float], prefix: str = "train") -> dict[str, float]:
    """Logged metrics (`prefix/group/name`) from summed counts. Temporal fields only when some
    video group had shuffled rollouts.

    Example:
        >>> finalize({"groups": 2, "rollouts": 4, "total": 2.0, "total_sq": 2.0, "accuracy": 2.0,
        ...     "all_correct": 1, "all_wrong": 1, "temporal_groups": 0, "length": 40,
        ...     "truncated": 0, "temporal_bonus": 0, "length_bonus": 0})["train/reward/total"]
        0.5
    """
    nan = math.nan
    n = max(sums.get("rollouts", 0.0), 1.0)
    groups = max(sums.get("groups", 0.0), 1.0)
    mean_total = sums["total"] / n
    var = max(sums["total_sq"] / n - mean_total**2, 0.0)
    out = {
        f"{prefix}/reward/total": mean_total,
        f"{prefix}/reward/total_std": var**0.5,
        f"{prefix}/reward/accuracy": sums["accuracy"] / n,
        f"{prefix}/reward/temporal_bonus": sums["temporal_bonus"] / n,
        f"{prefix}/reward/length_bonus": sums["length_bonus"] / n,
        f"{prefix}/reward/overlong_penalty": sums.get("overlong_penalty", 0.0) / n,
        f"{prefix}/groups/all_correct": sums["all_correct"] / groups,
        f"{prefix}/groups/all_wrong": sums["all_wrong"] / groups,
        f"{prefix}/groups/zero_variance_count": sums.get("zero_variance", 0.0),
        f"{prefix}/completion/length_mean": sums["length"] / n,
        f"{prefix}/completion/truncated": sums["truncated"] / n,
    }
    if "length_max" in sums:
        out[f"{prefix}/completion/length_max"] = sums["length_max"]
    for key, value in sums.items():
        if key.startswith("term/"):  # the mean over the completions the function applied to
            count = sums.get(f"term_count/{key[5:]}", n)
            out[f"{prefix}/reward/{key[5:]}"] = value / count if count else nan
    if sums.get("temporal_groups", 0.0) > 0:
        t = sums["temporal_groups"]
        out[f"{prefix}/temporal/passed"] = sums["temporal_passed"] / t
        informative = sums.get("temporal_any_correct", 0.0)
        out[f"{prefix}/temporal/passed_any_correct"] = (
            sums.get("temporal_passed_any_correct", 0.0) / informative if informative else nan
        )
        out[f"{prefix}/temporal/p"] = sums["p"] / t
        out[f"{prefix}/temporal/p_shuffled"] = sums["p_shuffled"] / t
    return out


def no_signal_warning(sums: dict[str, float], step: int) -> str | None:
    """A warning line when every group of the step (summed over ranks) has zero
    advantages: the step trains nothing (only the KL term acts).

    Example:
        >>> no_signal_warning({"groups": 4, "zero_variance": 4}, step=7)
        '# step 7: all 4 groups have zero advantages (every rollout of a group scored the same): no learning signal'
        >>> no_signal_warning({"groups": 4, "zero_variance": 3}, step=7) is None
        True
    """
    groups = sums.get("groups", 0.0)
    if groups > 0 and sums.get("zero_variance", 0.0) >= groups:
        return (
            f"# step {step}: all {int(groups)} groups have zero advantages (every rollout of a "
            "group scored the same): no learning signal"
        )
    return None
