"""GRPO step metrics: the informative temporal pass rate and the zero-variance count."""

from __future__ import annotations

import math

from video_r1.rl.group_scores import GroupScores
from video_r1.rl.step_metrics import finalize, group_sums, no_signal_warning


def _group(accuracy: list[float], shuffled: list[float] | None, passed: bool | None):
    p = sum(accuracy) / len(accuracy)
    return GroupScores(
        total=list(accuracy), terms={"accuracy": list(accuracy)}, accuracy=list(accuracy),
        shuffled_accuracy=shuffled or [], temporal_bonus=[0.0] * len(accuracy),
        temporal_passed=passed, p=p,
        p_shuffled=None if shuffled is None else sum(shuffled) / len(shuffled),
        length_bonus=[0.0] * len(accuracy),
    )  # fmt: skip


def test_temporal_pass_rate_over_groups_with_a_correct_rollout() -> None:
    groups = [
        _group([0, 0], [0, 0], passed=True),  # all wrong: p = p~ = 0 passes trivially
        _group([1, 0], [0, 0], passed=True),  # 0.5 >= 0.8 x 0
        _group([1, 0], [1, 1], passed=False),  # 0.5 < 0.8 x 1
        _group([1, 1], None, passed=None),  # an image: no temporal rule
    ]
    sums = group_sums(groups, [True, True, True, False], [10] * 8, [False] * 8)
    out = finalize(sums)
    assert out["train/temporal/passed"] == 2 / 3  # what the published rule counts
    assert out["train/temporal/passed_any_correct"] == 1 / 2  # groups 2 and 3 only
    assert out["train/groups/zero_variance_count"] == 2  # [0, 0] and [1, 1]
    assert no_signal_warning(sums, step=3) is None


def test_every_group_without_variance_warns() -> None:
    groups = [_group([0, 0], [0, 0], passed=True), _group([1, 1], [1, 0], passed=True)]
    sums = group_sums(groups, [True, True], [10] * 4, [False] * 4)
    assert finalize(sums)["train/groups/zero_variance_count"] == 2
    assert no_signal_warning(sums, step=5) == (
        "# step 5: all 2 groups have zero advantages (every rollout of a group scored the "
        "same): no learning signal"
    )
    # after_norm adds its bonus to the advantages: an all-correct passing group scores the
    # same everywhere and still trains (advantage +0.3 each), so it is no "no signal" group
    trained = group_sums(groups, [True, True], [10] * 4, [False] * 4, [0.0, 0.0, 0.3, 0.3])
    assert finalize(trained)["train/groups/zero_variance_count"] == 1
    assert no_signal_warning(trained, step=5) is None
    only_wrong = group_sums([_group([0, 0], [0, 0], passed=True)], [True], [1, 1], [0, 0])
    assert math.isnan(finalize(only_wrong)["train/temporal/passed_any_correct"])
