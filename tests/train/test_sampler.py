"""The record sampler: deterministic, disjoint across ranks, a pure function of the step."""

from __future__ import annotations

import pytest

from video_r1.train.sampler import RecordSampler, epoch_order


def _sampler(rank: int, world: int = 2, n: int = 23, batch: int = 2, accum: int = 3):
    return RecordSampler(n, world, rank, batch, accum, seed=7)


def test_ranks_disjoint_and_epoch_covered_once() -> None:
    ranks = [_sampler(r) for r in range(2)]
    assert ranks[0].steps_per_epoch == 23 // 12 == 1
    assert ranks[0].dropped_per_epoch == 11
    seen = [i for s in ranks for micro in s.step_batches(0) for i in micro]
    assert len(seen) == 12 and len(set(seen)) == 12  # no record twice within a step
    assert all(len(micro) == 2 for s in ranks for micro in s.step_batches(0))


def test_epochs_are_new_permutations_and_deterministic() -> None:
    s = RecordSampler(12, 1, 0, 2, 2, seed=1)  # 3 steps per epoch
    epoch0 = [i for step in range(3) for m in s.step_batches(step) for i in m]
    epoch1 = [i for step in range(3, 6) for m in s.step_batches(step) for i in m]
    assert sorted(epoch0) == sorted(epoch1) == list(range(12))
    assert epoch0 != epoch1
    again = RecordSampler(12, 1, 0, 2, 2, seed=1)
    assert again.step_batches(4) == s.step_batches(4)  # resume needs only the step number


def test_too_few_records_is_an_error() -> None:
    with pytest.raises(ValueError, match="do not fill one optimizer step"):
        RecordSampler(3, 2, 0, 1, 2, seed=0)


def test_filler_order_starts_after_the_step_and_covers_the_epoch() -> None:
    sampler = RecordSampler(10, world_size=2, rank=1, per_device_batch_size=1, grad_accum=2,
                            seed=3)  # fmt: skip
    order = epoch_order(10, seed=3, epoch=0)
    # step 1 takes order[4:8]; the filler candidates are order[8:] then order[:8]
    assert sampler.filler_order(1) == order[8:] + order[:8]
    assert sampler.filler_order(1) == sampler.filler_order(1)  # the same on every resume
    assert sampler.filler_order(0) == order[4:] + order[:4]
