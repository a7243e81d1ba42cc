"""DAPO's dynamic sampling as pure functions: which groups teach something, how many prompts a
refill round draws, how kept groups fill a step's micro-batches, and the per-step metrics.

DAPO (arXiv 2503.14476, "Dynamic Sampling") drops every prompt whose rollouts all score the
same (all correct or all wrong: every advantage is 0, so the group adds nothing but KL) and
keeps sampling until the batch is full. The loop that draws and generates is
`video_r1.recipes.grpo_dynamic`; nothing here touches a model or an accelerator.
"""

from __future__ import annotations

from collections.abc import Sequence

from video_r1.rl.advantages import (
    ScaleRewards,
    TemporalVariant,
    temporal_advantages,
    temporal_groups,
)
from video_r1.rl.group_scores import GroupScores


def has_signal(ordered_rewards: Sequence[float]) -> bool:
    """True when the group's ordered rewards are not all equal (the published variant's rule:
    `group_teaches` for a scored group under any temporal variant).

    Shuffled rollouts (T-GRPO) are not trained and do not count: only the ordered totals,
    temporal and length bonuses and overlong penalty included, as the advantages see them.

    Example:
        >>> has_signal([1.0, 1.0, 1.0]), has_signal([1.3, 1.0, 1.3]), has_signal([0.0, 0.0])
        (False, True, False)
    """
    return max(ordered_rewards) != min(ordered_rewards)


def group_teaches(
    group: GroupScores,
    variant: TemporalVariant = "published",
    *,
    alpha: float = 0.3,
    scale_rewards: ScaleRewards = "group",
    correct_threshold: float = 0.1,
) -> bool:
    """True when the group's ordered rollouts get an advantage other than 0 under the temporal
    variant that trains (`rl.temporal_variant`, `temporal_advantages` with the run's settings).

    `GroupScores.total` holds the published pre-normalisation bonus whatever the variant, so
    its spread is the wrong test for the others: a passing group whose base rewards are all
    equal has advantages 0 under group_weight (GRPO's, scaled), but alpha on its correct
    rollouts under after_norm, and under margin when the order helped (p > p_shuffled).

    Example (acc [1, 0], format [0, 1]: base totals equal; passed with p 0.5, p~ 0):
        >>> g = GroupScores(total=[1.3, 1.0], terms={}, accuracy=[1.0, 0.0],
        ...     shuffled_accuracy=[0.0, 0.0], temporal_bonus=[0.3, 0.0], temporal_passed=True,
        ...     p=0.5, p_shuffled=0.0, length_bonus=[0.0, 0.0])
        >>> [group_teaches(g, v) for v in ("published", "after_norm", "group_weight", "margin")]
        [True, True, False, True]
    """
    advantages = temporal_advantages(
        temporal_groups([group], correct_threshold), variant, alpha=alpha,
        scale_rewards=scale_rewards,
    )  # fmt: skip
    return bool(advantages.ne(0.0).any())


def keep_groups(rewards: Sequence[Sequence[float]]) -> list[bool]:
    """For each group (its ordered rewards), whether dynamic sampling keeps it.

    Example (all wrong, mixed, all correct with the same format score):
        >>> keep_groups([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
        [False, True, False]
    """
    return [has_signal(r) for r in rewards]


def refill_micro_batches(shortfall: int, per_device_batch_size: int) -> int:
    """Micro-batches a refill round draws on every rank: enough for the largest shortfall of
    any rank (`shortfall`, already reduced over ranks), in whole micro-batches so that every
    rank makes the same generate calls. 0 when nobody is short.

    Example (3 prompts short, 2 prompts per micro-batch: 2 micro-batches, 4 prompts):
        >>> refill_micro_batches(3, 2), refill_micro_batches(0, 2)
        (2, 0)
    """
    return -(-max(shortfall, 0) // per_device_batch_size)


def pack_kept(kept: int, per_device_batch_size: int, micro_batches: int) -> list[list[int]]:
    """The step's micro-batches as positions 0..kept-1 of the kept groups, in draw order.

    The step trains on at most micro_batches x per_device_batch_size groups: the first kept
    ones (later surplus is dropped, as DAPO truncates its batch). Fewer kept groups leave
    trailing micro-batches empty ([]): the recipe trains a zero-weight filler there.

    Example (5 kept, 2 per micro-batch, 4 micro-batches):
        >>> pack_kept(5, 2, 4)
        [[0, 1], [2, 3], [4], []]
    """
    used = min(kept, per_device_batch_size * micro_batches)
    return [
        list(range(a * per_device_batch_size, min(used, (a + 1) * per_device_batch_size)))
        for a in range(micro_batches)
    ]


def dynamic_metrics(
    reduced: dict[str, float], world: int, prefix: str = "train"
) -> dict[str, float]:
    """Logged dynamic-sampling metrics from sums reduced over ranks.

    reduced: `dynamic/rounds` (each rank's rounds: the same on all, summed), `dynamic/drawn`
    (groups rolled out), `dynamic/kept` (groups with signal), `dynamic/trained` (kept groups
    the step trained on), `dynamic/data_epoch` (where each rank's data stream stands after the
    step, in epochs: the same on all ranks, summed; `train/epoch` counts steps instead).

    Example (2 ranks, 2 rounds, 12 groups drawn, 6 with signal, 4 trained):
        >>> dynamic_metrics({"dynamic/rounds": 4, "dynamic/drawn": 12, "dynamic/kept": 6,
        ...                  "dynamic/trained": 4}, world=2)["train/dynamic/kept_fraction"]
        0.5
    """
    drawn = reduced.get("dynamic/drawn", 0.0)
    return {
        f"{prefix}/dynamic/rounds": reduced.get("dynamic/rounds", 0.0) / max(world, 1),
        f"{prefix}/dynamic/data_epoch": reduced.get("dynamic/data_epoch", 0.0) / max(world, 1),
        f"{prefix}/dynamic/groups_drawn": drawn,
        f"{prefix}/dynamic/groups_kept": reduced.get("dynamic/kept", 0.0),
        f"{prefix}/dynamic/groups_trained": reduced.get("dynamic/trained", 0.0),
        f"{prefix}/dynamic/kept_fraction": reduced.get("dynamic/kept", 0.0) / drawn
        if drawn
        else 0.0,
    }


def short_note(reduced: dict[str, float], wanted: int, step: int, world: int) -> str | None:
    """A log line when the step ran out of refill rounds with fewer groups than it holds.

    Example:
        >>> short_note({"dynamic/trained": 3, "dynamic/rounds": 4, "dynamic/drawn": 16}, 4, 9, 1)
        '# step 9: dynamic sampling kept 3 of 4 prompt groups after 4 rounds (16 drawn; rl.dynamic_sampling_max_rounds): training on what was kept'
    """
    trained = int(reduced.get("dynamic/trained", 0.0))
    if trained >= wanted:
        return None
    rounds = int(reduced.get("dynamic/rounds", 0.0) / max(world, 1))
    drawn = int(reduced.get("dynamic/drawn", 0.0))
    return (
        f"# step {step}: dynamic sampling kept {trained} of {wanted} prompt groups after "
        f"{rounds} round{'' if rounds == 1 else 's'} ({drawn} drawn; "
        "rl.dynamic_sampling_max_rounds): training on what was kept"
    )
