"""The rollout stage's paired sampling (rl.paired_sampling): one seed per stream of a call,
and two calls' rollouts merged into one batch (the end-to-end promise: tests/recipes/
test_grpo_sampling.py)."""

from __future__ import annotations

import torch

from video_r1.rollout import Rollouts
from video_r1.rollout.paired import SamplingKey, merge_rollouts, stream_seed


def test_stream_seeds_differ_per_stream_call_step_and_rank():
    keys = [SamplingKey(0, 0, 0, 0), SamplingKey(0, 0, 0, 1), SamplingKey(0, 1, 0, 0),
            SamplingKey(0, 0, 1, 0), SamplingKey(1, 0, 0, 0)]  # fmt: skip
    seeds = {stream_seed(k, s) for k in keys for s in (0, 1)}
    assert len(seeds) == 10


def test_merge_rollouts_pads_the_narrower_call_with_masked_pad_tokens():
    def rollouts(rows, completion):
        n = len(rows)
        return Rollouts(
            rows=torch.tensor(rows), prompt_ids=torch.ones(n, 3, dtype=torch.long),
            prompt_mask=torch.ones(n, 3, dtype=torch.long),
            completion_ids=torch.tensor(completion),
            completion_mask=torch.ones(n, len(completion[0]), dtype=torch.long),
            truncated=torch.zeros(n, dtype=torch.bool),
        )  # fmt: skip

    merged = merge_rollouts(rollouts([0, 0], [[5, 6, 7], [5, 9, 9]]), rollouts([2], [[8]]), 0)
    assert merged.rows.tolist() == [0, 0, 2]
    assert merged.completion_ids.tolist() == [[5, 6, 7], [5, 9, 9], [8, 0, 0]]
    assert merged.completion_mask.tolist() == [[1, 1, 1], [1, 1, 1], [1, 0, 0]]
    assert merged.lengths.tolist() == [3, 3, 1]
