"""Rollout sampling of one generate call, optionally with common random numbers (the native
engine's `NativeEngine.generate`; the vLLM engine takes its row seeds from `stream_seed`).

With `rl.paired_sampling` the ordered rows and the time-shuffled rows of a call are generated
in two calls, each under its own seed derived from (seed, step, rank, call, stream): the
ordered rollouts then depend only on the policy and the prompts, never on whether shuffled
rollouts were drawn too. A GRPO run and a T-GRPO run of one seed draw the same ordered
rollouts from the same policy, so any difference between them is caused by the temporal rule
(issue 12; docs/experiment_temporal.md). Without it, one call draws every row from the
process's global random stream, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from video_r1.models.loading import completion_pad_id
from video_r1.rollout.generate import Rollouts, generate_rollouts
from video_r1.rollout.vision import EncodedPrompts

ORDERED_STREAM, SHUFFLED_STREAM = 0, 1


@dataclass(frozen=True)
class SamplingKey:
    """Where a generate call sits in a run: the seed of its random streams comes from it."""

    seed: int
    step: int  # 0-based optimizer step
    rank: int
    call: int  # generate call of the step on this process (rl.rollout_batch_size)


def stream_seed(key: SamplingKey, stream: int) -> int:
    """Seed of one random stream of a generate call (ordered 0, shuffled 1), < 2**63.

    Example:
        >>> stream_seed(SamplingKey(seed=1, step=0, rank=0, call=0), 0)
        203818611454
        >>> stream_seed(SamplingKey(seed=1, step=0, rank=0, call=0), 1)
        203818611455
    """
    value = key.seed
    for part, base in ((key.step, 1_000_003), (key.rank, 1_009), (key.call, 101), (stream, 2)):
        value = value * base + part  # mixed radix: distinct keys give distinct seeds
    return value % 2**63


def pad_completions(rollouts: Rollouts, width: int, pad_id: int) -> Rollouts:
    """Completions right-padded to `width` tokens with `pad_id` (mask 0 there).

    Example:
        >>> r = Rollouts(rows=torch.tensor([0]), prompt_ids=torch.ones(1, 2),
        ...     prompt_mask=torch.ones(1, 2), completion_ids=torch.tensor([[7, 2]]),
        ...     completion_mask=torch.tensor([[1, 1]]), truncated=torch.tensor([False]))
        >>> pad_completions(r, 4, pad_id=0).completion_ids
        tensor([[7, 2, 0, 0]])
    """
    extra = width - rollouts.completion_ids.shape[1]
    if extra <= 0:
        return rollouts
    return Rollouts(
        rows=rollouts.rows,
        prompt_ids=rollouts.prompt_ids,
        prompt_mask=rollouts.prompt_mask,
        completion_ids=F.pad(rollouts.completion_ids, (0, extra), value=pad_id),
        completion_mask=F.pad(rollouts.completion_mask, (0, extra), value=0),
        truncated=rollouts.truncated,
    )


def merge_rollouts(first: Rollouts, second: Rollouts, pad_id: int) -> Rollouts:
    """The rollouts of two calls over the same prompt rows as one batch (first's, then
    second's); completions padded to the wider call. Prompts share one left-padded width."""
    width = max(first.completion_ids.shape[1], second.completion_ids.shape[1])
    first, second = pad_completions(first, width, pad_id), pad_completions(second, width, pad_id)
    return Rollouts(
        *(
            torch.cat([getattr(first, name), getattr(second, name)])
            for name in (
                "rows",
                "prompt_ids",
                "prompt_mask",
                "completion_ids",
                "completion_mask",
                "truncated",
            )
        )  # fmt: skip
    )


def sample_rollouts(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    counts: Sequence[int],
    num_ordered_rows: int,
    generation_config,
    eos_ids: Sequence[int],
    key: SamplingKey | None,
    synced_gpus: bool = False,
    cascade: bool = True,
    static_cache: bool | None = None,
) -> Rollouts:
    """Rollouts of every prompt row (rows 0..num_ordered_rows-1 ordered, the rest shuffled).

    key None: one call on the global random stream. Otherwise the ordered rows are generated
    under `stream_seed(key, 0)` and the shuffled rows under `stream_seed(key, 1)`, in two calls
    (the global stream is left as it was); the result lists the same rollouts in the same order.
    cascade, static_cache: as `generate_rollouts` takes them.
    """
    if key is None:
        return generate_rollouts(
            model, encoded, counts, generation_config, eos_ids, synced_gpus, cascade=cascade,
            static_cache=static_cache,
        )  # fmt: skip
    ordered = [n if r < num_ordered_rows else 0 for r, n in enumerate(counts)]
    shuffled = [0 if r < num_ordered_rows else n for r, n in enumerate(counts)]
    calls = []
    for stream, row_counts in ((ORDERED_STREAM, ordered), (SHUFFLED_STREAM, shuffled)):
        if not any(row_counts):
            continue
        with torch.random.fork_rng():
            torch.manual_seed(stream_seed(key, stream))
            calls.append(
                generate_rollouts(
                    model,
                    encoded,
                    row_counts,
                    generation_config,
                    eos_ids,
                    synced_gpus=synced_gpus,
                    cascade=cascade,
                    static_cache=static_cache,
                )  # fmt: skip
            )
    if len(calls) == 1:
        return calls[0]
    return merge_rollouts(calls[0], calls[1], completion_pad_id(generation_config))
