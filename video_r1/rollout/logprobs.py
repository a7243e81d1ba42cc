"""Log-probs of sampled completions, from the prompt rows' shared prefix when possible.

Shapes: n rollouts, Lp prompt length (left-padded), Lc completion length, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from video_r1.rollout.generate import (
    Rollouts,
    attending,
    cache_keyword,
    inner_module,
    prefill_prompts,
)
from video_r1.rollout.sampling import TokenSampler
from video_r1.rollout.vision import EncodedPrompts, rows_inputs


def selective_log_softmax(
    logits: torch.Tensor, token_ids: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """log_softmax(logits / temperature)[..., token_ids] in float32, whatever the logits' dtype.

    logits: [N, L, V]; token_ids: [N, L] -> float32 [N, L]. Under bf16 a log-prob near -12
    has a rounding step of 0.06: kept in bf16, the KL term and the ratio would carry ~0.03
    nats of noise. Rows are upcast one at a time, so the float32 copy is one row's [L, V].

    Example:
        >>> selective_log_softmax(torch.zeros(1, 1, 4, dtype=torch.bfloat16), torch.tensor([[2]]))
        tensor([[-1.3863]])
    """
    rows = []
    for row_logits, row_ids in zip(logits, token_ids, strict=True):  # [L, V], [L]
        row = row_logits.float()
        if temperature != 1.0:
            row = row / temperature
        picked = torch.gather(row, -1, row_ids.unsqueeze(-1)).squeeze(-1)  # [L]
        rows.append(picked - torch.logsumexp(row, dim=-1))
    if not rows:
        return torch.zeros(token_ids.shape, dtype=torch.float32, device=logits.device)
    return torch.stack(rows)  # [N, L]


_POSITIONS_PER_BLOCK = 128


def sampled_log_softmax(
    logits: torch.Tensor, token_ids: torch.Tensor, sampler: TokenSampler,
    stop_ids: Sequence[int] = (),
) -> torch.Tensor:  # fmt: skip
    """Log-probs [N, L] (float32, no grad) of `token_ids` under the distribution `sampler`
    draws from: its suppressed ids (and `stop_ids` before `min_new_tokens`) out, its
    temperature, top-k and top-p, renormalised (`TokenSampler.sampled_logprobs`). What vLLM's
    `processed_logprobs` are of the same tokens, from the same logits.

    Example:
        >>> sampler = TokenSampler(do_sample=True, top_k=2)
        >>> sampled_log_softmax(torch.tensor([[[0.0, 0.0, -9.0]]]), torch.tensor([[0]]), sampler)
        tensor([[-0.6931]])
    """
    vocab = logits.shape[-1]
    suppressed = sampler.suppress_mask(vocab, logits.device)
    early = sampler.suppress_mask(vocab, logits.device, also=stop_ids)
    rows = []
    with torch.no_grad():
        for row_logits, row_ids in zip(logits, token_ids, strict=True):  # [L, V], [L]
            parts = []
            # a block of positions at a time: a real vocabulary's float32 copies of a whole
            # row ([768, 152k]) would take ~0.5 GB each
            for start in range(0, row_ids.shape[0], _POSITIONS_PER_BLOCK):
                block = slice(start, start + _POSITIONS_PER_BLOCK)
                scores = row_logits[block].float() / sampler.temperature  # [b, V]
                masked = torch.zeros(scores.shape, dtype=torch.bool, device=logits.device)
                if suppressed is not None:
                    masked |= suppressed
                if early is not None and sampler.min_new_tokens > start:
                    masked[: sampler.min_new_tokens - start] |= early
                parts.append(sampler.sampled_logprobs(scores, row_ids[block], masked))
            rows.append(torch.cat(parts))
    if not rows:
        return torch.zeros(token_ids.shape, dtype=torch.float32, device=logits.device)
    return torch.stack(rows)  # [N, L]


def completion_logprobs(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rollouts: Rollouts,
    index: torch.Tensor | None = None,
    temperature: float = 1.0,
    share_prefix: bool = True,
    cascade: bool = True,
) -> torch.Tensor:
    """Log-probs [n, Lc] (float32) of the sampled completion tokens of rollouts `index`
    (default: all).

    The vision features come from `encoded` (computed once; with grad if it was encoded with
    grad). With share_prefix, each prompt row runs once and its cache serves all its rollouts
    (not available with gradient checkpointing, which disables the cache in training).
    Logits are divided by the sampling temperature: these are the log-probs of the
    distribution that sampled, before suppressed ids, top-k and top-p (what the loss scores;
    `completion_logprobs_and_sampled` also gives them after). cascade: attend to each row's
    prompt cache kept once (`cascade.py`), on CPU; False, or another device, copies it to
    every rollout (`prefill_prompts`).
    """
    logits, completion_ids = _completion_logits(
        model, encoded, rollouts, index, share_prefix, cascade
    )
    return selective_log_softmax(logits, completion_ids, temperature)  # [n, Lc] float32


def completion_logprobs_and_sampled(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rollouts: Rollouts,
    index: torch.Tensor | None,
    temperature: float,
    sampler: TokenSampler | None,
    stop_ids: Sequence[int] = (),
    cascade: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`completion_logprobs` [n, Lc] and, from the same logits, the tokens' log-probs under
    the distribution `sampler` draws from (`sampled_log_softmax`, no grad; None without a
    sampler): what a separate engine's log-probs of its own draws are compared with."""
    logits, completion_ids = _completion_logits(model, encoded, rollouts, index, True, cascade)
    logprobs = selective_log_softmax(logits, completion_ids, temperature)
    if sampler is None:
        return logprobs, None
    return logprobs, sampled_log_softmax(logits, completion_ids, sampler, stop_ids)


def _completion_logits(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rollouts: Rollouts,
    index: torch.Tensor | None,
    share_prefix: bool,
    cascade: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits [n, Lc, V] predicting each completion token of rollouts `index`, and the
    tokens [n, Lc]."""
    if index is None:
        index = torch.arange(rollouts.rows.shape[0])
    rows = rollouts.rows[index].tolist()
    completion_ids = rollouts.completion_ids[index]
    completion_len = completion_ids.shape[1]
    attention = torch.cat(
        [
            rollouts.prompt_mask[index],
            rollouts.completion_mask[index].to(rollouts.prompt_mask.dtype),
        ],
        dim=1,
    )
    inner = inner_module(model)
    checkpointing = getattr(inner, "is_activation_checkpointing", None)
    if checkpointing is None:  # transformers < 5.2 name
        checkpointing = getattr(inner, "is_gradient_checkpointing", False)
    if share_prefix and not (inner.training and checkpointing):
        cache, deltas, first_logits = prefill_prompts(model, encoded, rows, cascade)
        prompt_len = rollouts.prompt_ids.shape[1]
        # text after the vision tokens: the same 3D position on all axes, shifted by delta
        positions = (attention.long().cumsum(-1) - 1)[:, prompt_len:] + deltas  # [n, Lc]
        # Tokens 0..Lc-2 predict tokens 1..Lc-1. With Lc = 1 nothing is left to predict, yet
        # the token is still fed (its logits dropped): a zero-length forward fails, and
        # skipping the call would desynchronise ZeRO-3's per-forward parameter gathers.
        fed = max(completion_len - 1, 1)
        with attending(model, cache):
            rest = model(
                input_ids=completion_ids[:, :fed],
                attention_mask=attention[:, : prompt_len + fed],
                position_ids=positions[:, :fed],
                use_cache=True,
                **{cache_keyword(model): cache},
            ).logits[:, : completion_len - 1]  # [n, Lc - 1, V]
        logits = torch.cat([first_logits.unsqueeze(1), rest], dim=1)  # [n, Lc, V]
    else:
        kwargs = rows_inputs(encoded, rows)
        kwargs["input_ids"] = torch.cat([rollouts.prompt_ids[index], completion_ids], dim=1)
        kwargs["attention_mask"] = attention
        token_types = kwargs["mm_token_type_ids"]
        kwargs["mm_token_type_ids"] = torch.cat(
            [token_types, torch.zeros_like(completion_ids, dtype=token_types.dtype)], dim=1
        )
        # logits of the last prompt token predict the first completion token
        logits = model(**kwargs, logits_to_keep=completion_len + 1, use_cache=False).logits[:, :-1]
    return logits, completion_ids
