"""Generation: each prompt row prefilled once, one batched `generate` call for every rollout.

Shapes: P prompt rows, N rollouts, Lp prompt length (left-padded), Lc completion length.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from video_r1.models.loading import generation_stop_ids
from video_r1.prompts.inputs import PER_ROW_KEYS, index_rows
from video_r1.rollout.cascade import SharedPrefixCache, shared_prefix_attention
from video_r1.rollout.vision import EncodedPrompts, base_model, rows_inputs


@dataclass(frozen=True)
class Rollouts:
    """Generated completions.

    rows: [N] prompt row of each rollout; prompt_ids / prompt_mask: [N, Lp] (left-padded);
    completion_ids: [N, Lc]; completion_mask: [N, Lc] 1 up to and including the first EOS;
    truncated: [N] True where no EOS was produced within the limit.
    """

    rows: torch.Tensor
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    truncated: torch.Tensor

    @property
    def lengths(self) -> torch.Tensor:  # [N] completion tokens, including the first EOS
        return self.completion_mask.sum(dim=1)


def completion_mask(completion_ids: torch.Tensor, eos_token_ids: Sequence[int]) -> torch.Tensor:
    """1 on every token up to and including the first EOS of each row, else 0.

    Example:
        >>> completion_mask(torch.tensor([[5, 9, 7, 9], [5, 6, 7, 8]]), [9])
        tensor([[1, 1, 0, 0],
                [1, 1, 1, 1]])
    """
    is_eos = torch.isin(
        completion_ids, torch.as_tensor(list(eos_token_ids), device=completion_ids.device)
    )
    seen_before = torch.cumsum(is_eos.long(), dim=1) - is_eos.long()  # EOS strictly before here
    return (seen_before == 0).long()


def inner_module(model: torch.nn.Module) -> torch.nn.Module:
    """The module under a DDP / DeepSpeed wrapper (a second wrapper forward before backward
    would upset DDP's gradient reducer; the prefix pass goes through the inner module)."""
    return getattr(model, "module", model)


def prefill_prompts(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rows: Sequence[int],
    keep_last: bool,
    cascade: bool = True,
    capacity: int = 0,
) -> tuple[object, torch.Tensor, torch.Tensor]:
    """Run each prompt row once and share its KV cache with every rollout of that row.

    The published trainer (and `generate(num_return_sequences=G)`) runs the same prompt G
    times; here the prompt's ~1k vision + text tokens go through the model once per row
    (gradients of all rollouts flow back into the one prompt pass).
    rows: the prompt row of each rollout. keep_last: cache the whole prompt (log-prob passes)
    or all but its last token (generation, which must feed at least one token itself).
    cascade: keep each row's cache once (`SharedPrefixCache`; run the model on it inside
    `attending`); False indexes it out to every rollout (a copy per rollout, read at every
    step: the slower reference path). capacity: tokens the rollouts will add (cascade
    preallocates them; 0 grows as fed).
    Returns (the cache, position delta of each rollout [N, 1], logits of the last cached
    position of each rollout [N, V]).
    """
    unique = sorted(set(rows))
    kwargs = rows_inputs(encoded, unique)
    if not keep_last:
        for key in PER_ROW_KEYS:
            if key in kwargs:
                kwargs[key] = kwargs[key][:, :-1]
    out = inner_module(model)(**kwargs, use_cache=True, logits_to_keep=1)
    if out.past_key_values is None:
        raise RuntimeError("the model returned no KV cache (gradient checkpointing turns it off)")
    select = torch.as_tensor([unique.index(r) for r in rows], device=kwargs["input_ids"].device)
    cache = out.past_key_values
    if cascade:
        cache = SharedPrefixCache(cache, kwargs["attention_mask"], select, capacity)
    else:
        cache.batch_select_indices(select)
    deltas = base_model(model).rope_deltas  # [U, 1]: 3D (mrope) position offset of the text
    return cache, deltas[select], out.logits[select, -1]


def attending(model: torch.nn.Module, cache: object) -> AbstractContextManager:
    """The context a model call on `cache` runs in: shared-prefix attention for a
    `SharedPrefixCache`, nothing for a plain cache."""
    if isinstance(cache, SharedPrefixCache):
        return shared_prefix_attention(base_model(model).language_model.config, cache)
    return nullcontext()


@torch.no_grad()
def generate_rollouts(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rollouts_per_row: Sequence[int],
    generation_config,
    eos_token_ids: Sequence[int] | None = None,
    synced_gpus: bool = False,
    share_prefix: bool = True,
    cascade: bool = True,
) -> Rollouts:
    """One batched generation call for every rollout of every prompt row.

    rollouts_per_row: how many completions to sample from each prompt row (e.g. 8 for an
    ordered row, 4 for its shuffled row, 8 for an image row).
    eos_token_ids: the completion mask ends at the first token generation stopped at, i.e.
    at `generation_config.eos_token_id` (the one list; None uses it). A list given here that
    differs is refused: the mask would end elsewhere than generation did.
    synced_gpus: keep every process generating until all are done (needed under ZeRO-3,
    where each forward gathers parameters collectively).
    share_prefix: prefill each prompt row once and share its cache (`prefill_prompts`);
    False runs every rollout's prompt through the model (for comparison).
    cascade: with share_prefix, attend to each row's prompt cache kept once (`cascade.py`);
    False copies it to every rollout (the reference path).
    """
    stops = generation_stop_ids(generation_config, eos_token_ids)
    rows = [r for r, n in enumerate(rollouts_per_row) for _ in range(n)]
    if share_prefix:
        # the fed last prompt token plus the new tokens
        capacity = (generation_config.max_new_tokens or -1) + 1
        cache, deltas, _ = prefill_prompts(model, encoded, rows, False, cascade, capacity)
        # generate() continues from the cache: text positions plus each rollout's delta;
        # only the per-row tensors are needed (the media are all in the cache)
        base_model(model).rope_deltas = deltas
        kwargs = index_rows(encoded.inputs, rows)
        kwargs["past_key_values"] = cache
    else:
        kwargs = rows_inputs(encoded, rows)
        cache = None
    with attending(model, cache):
        sequences = model.generate(  # [N, Lp + Lc]
            **kwargs, generation_config=generation_config, synced_gpus=synced_gpus
        )
    prompt_len = kwargs["input_ids"].shape[1]
    completion_ids = sequences[:, prompt_len:]
    mask = completion_mask(completion_ids, stops)
    is_eos = torch.isin(completion_ids, torch.as_tensor(stops, device=completion_ids.device))
    return Rollouts(
        rows=torch.as_tensor(rows, dtype=torch.long),
        prompt_ids=kwargs["input_ids"],
        prompt_mask=kwargs["attention_mask"],
        completion_ids=completion_ids,
        completion_mask=mask,
        truncated=~is_eos.any(dim=1),
    )
