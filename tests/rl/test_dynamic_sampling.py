"""Dynamic sampling's pure parts by hand: which groups are kept, refill sizes, packing,
metrics, and the data stream refills read from."""

import pytest

from video_r1.rewards import accuracy_reward, format_reward
from video_r1.rl.dynamic_sampling import (
    dynamic_metrics,
    group_teaches,
    has_signal,
    keep_groups,
    pack_kept,
    refill_micro_batches,
    short_note,
)
from video_r1.rl.group_scores import RewardTerm, ScoringSettings, score_group
from video_r1.train.sampler import RecordSampler

MC = {"solution": "<answer>B</answer>", "problem_type": "multiple choice"}
TERMS = [RewardTerm("accuracy", accuracy_reward), RewardTerm("format", format_reward)]
RIGHT, WRONG = "<think>x</think><answer>B</answer>", "<think>x</think><answer>A</answer>"
RIGHT_UNFORMATTED = "<answer>B</answer>"  # accuracy 1, format 0: total 1, as WRONG's


def test_groups_with_equal_ordered_rewards_are_dropped():
    assert keep_groups([
        [0.0, 0.0, 0.0, 0.0],  # all wrong: every advantage 0 -> dropped
        [2.0, 2.0, 2.0, 2.0],  # all right, same format: dropped
        [2.0, 1.0, 2.0, 2.0],  # one wrong: (r - mean) / std != 0 -> kept
        [1.0, 1.0 + 1e-9, 1.0, 1.0],  # any difference at all teaches something
    ]) == [False, False, True, True]  # fmt: skip


def test_t_grpo_group_is_judged_by_its_ordered_totals_only():
    settings = ScoringSettings(len_control=False)
    # ordered all right (totals 1 + 1 + bonus 0.3 = 2.3 each); shuffled mixed: p = 1 >= 0.8 x 0.5
    passed = score_group(MC, [RIGHT] * 4, [10] * 4, [RIGHT, WRONG], TERMS, settings, [10, 10])
    assert passed.total == pytest.approx([2.3] * 4) and not has_signal(passed.total)
    # ordered all wrong (1 each: format only); shuffled all right: still no signal
    wrong = score_group(MC, [WRONG] * 4, [10] * 4, [RIGHT, RIGHT], TERMS, settings, [10, 10])
    assert wrong.total == [1.0] * 4 and not has_signal(wrong.total)
    # ordered mixed: 2 + 0.3 for the right ones (p = 0.5 >= 0.8 x 0), 1 for the wrong ones
    mixed = score_group(MC, [RIGHT, WRONG] * 2, [10] * 4, [WRONG, WRONG], TERMS, settings,
                        [10, 10])  # fmt: skip
    assert mixed.total == pytest.approx([2.3, 1.0, 2.3, 1.0]) and has_signal(mixed.total)


def _group(ordered: list[str], shuffled: list[str]):
    settings = ScoringSettings(len_control=False)
    return score_group(MC, ordered, [10] * len(ordered), shuffled, TERMS, settings,
                       [10] * len(shuffled))  # fmt: skip


# group -> kept under published, after_norm, group_weight, margin (alpha 0.3, mu 0.8)
GROUPS = {
    # (acc 1, format 0) and (acc 0, format 1), passed (p 0.5 >= 0.8 x 0): totals [1.3, 1.0],
    # base rewards equal. group_weight trains on GRPO's advantages x 1.3 = 0: nothing to learn;
    # after_norm and margin push the correct rollout up (+0.3, +0.3 x 0.5)
    "equal base, passed": (([RIGHT_UNFORMATTED, WRONG], [WRONG, WRONG]), [1, 1, 0, 1]),
    # all right and passed (p 1, p~ 0.5): totals [2.3, 2.3]; after_norm adds 0.3 to each,
    # margin 0.3 x 0.5; published and group_weight have nothing
    "all right, passed": (([RIGHT, RIGHT], [RIGHT, WRONG]), [0, 1, 0, 1]),
    # mixed and failed (p 0.5 < 0.8 x 1): GRPO's advantages under every variant
    "mixed, failed": (([RIGHT, WRONG], [RIGHT, RIGHT]), [1, 1, 1, 1]),
    # all wrong, failed; an image (no shuffled rollouts) with equal totals: nothing anywhere
    "all wrong, failed": (([WRONG, WRONG], [RIGHT, RIGHT]), [0, 0, 0, 0]),
    "image, equal": (([RIGHT, RIGHT], []), [0, 0, 0, 0]),
    "image, mixed": (([RIGHT, WRONG], []), [1, 1, 1, 1]),
}


@pytest.mark.parametrize("variant", ["published", "after_norm", "group_weight", "margin"])
@pytest.mark.parametrize("scale_rewards", ["group", "none"])
def test_a_group_is_kept_when_the_variant_it_trains_under_gives_it_an_advantage(
    variant, scale_rewards
):
    """The filter looks at what `rl.temporal_variant` trains on, not at GroupScores.total
    (which always holds the published bonus): kept exactly when some advantage is not 0."""
    from video_r1.rl.advantages import temporal_advantages, temporal_groups

    column = ["published", "after_norm", "group_weight", "margin"].index(variant)
    for name, ((ordered, shuffled), kept) in GROUPS.items():
        group = _group(ordered, shuffled)
        teaches = group_teaches(group, variant, alpha=0.3, scale_rewards=scale_rewards)
        assert teaches == bool(kept[column]), (name, variant)
        advantages = temporal_advantages(temporal_groups([group]), variant, 0.3, scale_rewards)
        assert teaches == bool(advantages.abs().sum() > 0), (name, variant)
    issue = _group([RIGHT_UNFORMATTED, WRONG], [WRONG, WRONG])  # the issue's example
    assert issue.total == pytest.approx([1.3, 1.0]) and has_signal(issue.total)


def test_refill_rounds_draw_whole_micro_batches_for_the_largest_shortfall():
    # shortfall 3 (reduced over ranks), 2 prompts per micro-batch: ceil(3 / 2) = 2 (4 prompts)
    assert refill_micro_batches(3, 2) == 2
    assert refill_micro_batches(4, 2) == 2
    assert refill_micro_batches(1, 1) == 1
    assert refill_micro_batches(0, 4) == 0 and refill_micro_batches(-2, 4) == 0  # full: none


def test_kept_groups_fill_micro_batches_in_draw_order_surplus_dropped():
    assert pack_kept(7, 2, 3) == [[0, 1], [2, 3], [4, 5]]  # 6 fit; the 7th is surplus
    assert pack_kept(3, 2, 3) == [[0, 1], [2], []]  # short: the last one gets a filler
    assert pack_kept(0, 1, 2) == [[], []]


def test_step_metrics_and_the_short_step_note():
    # 2 ranks x 3 rounds; 16 groups drawn, 6 with signal, 4 trained (2 per rank)
    reduced = {"dynamic/rounds": 6, "dynamic/drawn": 16, "dynamic/kept": 6, "dynamic/trained": 4,
               "dynamic/data_epoch": 2.5}  # fmt: skip
    assert dynamic_metrics(reduced, world=2) == {
        "train/dynamic/rounds": 3.0,  # 6 / 2 ranks
        "train/dynamic/data_epoch": 1.25,  # each rank's 1.25, summed over 2
        "train/dynamic/groups_drawn": 16,
        "train/dynamic/groups_kept": 6,
        "train/dynamic/groups_trained": 4,
        "train/dynamic/kept_fraction": 0.375,  # 6 / 16
    }
    assert short_note(reduced, wanted=4, step=3, world=2) is None  # the step is full
    note = short_note({**reduced, "dynamic/trained": 3}, wanted=4, step=3, world=2)
    assert note.startswith("# step 3: dynamic sampling kept 3 of 4 prompt groups after 3 rounds")


def test_stream_continues_into_the_next_epoch_as_step_batches_would():
    # 10 records, 2 per micro-batch, 2 micro-batches, 1 process: 4 records per step, 2 steps
    # per epoch, so 8 records of each epoch are used (step_batches drops 8 and 9 as well)
    s = RecordSampler(10, world_size=1, rank=0, per_device_batch_size=2, grad_accum=2, seed=0,
                      shuffle=False)  # fmt: skip
    assert s.stream_batches(0, 2) == s.step_batches(0) == [[0, 1], [2, 3]]
    # a refill of 1 micro-batch after step 0 took 6 positions: step 1 reads 6, 7 | 0, 1
    assert s.stream_batches(6, 2) == [[6, 7], [0, 1]]  # epoch 1 starts at position 8
    assert s.stream_batches(8, 2) == s.step_batches(2)


def test_stream_lays_out_ranks_as_step_batches_does():
    # 2 processes: micro-batch a of rank r reads positions (a x 2 + r) x b ... from `position`
    for rank in (0, 1):
        s = RecordSampler(16, world_size=2, rank=rank, per_device_batch_size=2, grad_accum=2,
                          seed=3)  # fmt: skip
        assert s.stream_batches(8, 2) == s.step_batches(1)
    r0 = RecordSampler(16, 2, 0, 2, 2, seed=0, shuffle=False)
    r1 = RecordSampler(16, 2, 1, 2, 2, seed=0, shuffle=False)
    # a one-micro-batch refill round from position 8: rank 0 reads 8, 9; rank 1 reads 10, 11
    assert (r0.stream_batches(8, 1), r1.stream_batches(8, 1)) == ([[8, 9]], [[10, 11]])
