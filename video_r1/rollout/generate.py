"""Generation: each prompt row prefilled once, then every rollout decoded in one batch.

Shapes: P prompt rows, N rollouts, Lp prompt length (left-padded), Lc completion length.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import torch

from video_r1.models.loading import completion_pad_id, generation_stop_ids
from video_r1.prompts.inputs import index_rows
from video_r1.rollout.cascade import (
    SharedPrefixCache,
    has_fused_kernels,
    shared_prefix_attention,
)
from video_r1.rollout.last_layer import last_layer_at_last_position
from video_r1.rollout.sampling import TokenSampler, finished_after
from video_r1.rollout.static_decode import (
    AutocastProbe,
    StaticDecoder,
    StaticRolloutCache,
    supports_static_decode,
)
from video_r1.rollout.vision import EncodedPrompts, base_model, rows_inputs


@dataclass(frozen=True)
class Rollouts:
    """Generated completions.

    rows: [N] prompt row of each rollout; prompt_ids / prompt_mask: [N, Lp] (left-padded);
    completion_ids: [N, Lc]; completion_mask: [N, Lc] 1 up to and including the first EOS;
    truncated: [N] True where no EOS was produced within the limit.
    logprobs: [N, Lc] float32 log-probs of the sampled tokens as the engine that sampled them
    computed them (the vLLM engine; 0 past the mask), None where the engine keeps none.
    """

    rows: torch.Tensor
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    truncated: torch.Tensor
    logprobs: torch.Tensor | None = None

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


def cache_keyword(model: torch.nn.Module) -> str:
    """The keyword the model's forward takes its KV cache by.

    transformers 5.24 renamed `past_key_values` to `cache`, keeping the old name as a
    deprecated alias until 5.40 (a warning in every run's log); after that an old name would
    land in `**kwargs` unread, and every decode step would start from an empty cache instead
    of failing. 5.23 knows only `past_key_values`. Read from the base model's signature."""
    return _cache_keyword(type(base_model(model)))


@functools.cache
def _cache_keyword(base_type: type) -> str:
    parameters = inspect.signature(base_type.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def returned_cache(output: object) -> object:
    """The KV cache a forward returned (`cache` from transformers 5.24, `past_key_values`
    before), or None."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def prefill_prompts(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rows: Sequence[int],
    cascade: bool = True,
    capacity: int = 0,
    static: bool = False,
) -> tuple[object, torch.Tensor, torch.Tensor]:
    """Run each prompt row once and share its KV cache with every rollout of that row.

    The published trainer (and `generate(num_return_sequences=G)`) runs the same prompt G
    times; here the prompt's ~1k vision + text tokens go through the model once per row
    (gradients of all rollouts flow back into the one prompt pass).
    rows: the prompt row of each rollout. The whole prompt is cached; its last logits
    predict the first completion token.
    cascade: keep each row's cache once (`SharedPrefixCache`; run the model on it inside
    `attending`), on CPU only; False, or another device, indexes it out to every rollout (a
    copy per rollout, read at every step: the slower reference path on CPU).
    capacity: tokens the rollouts will add (cascade preallocates them; 0 grows as fed).
    static: where cascade does not apply, copy the cache into buffers of its final length
    (`StaticRolloutCache`, capacity >= 1: decoding with fixed shapes, static_decode.py).
    Returns (the cache, position delta of each rollout [N, 1], logits of the last cached
    position of each rollout [N, V]).
    """
    unique = sorted(set(rows))
    kwargs = rows_inputs(encoded, unique)
    language_model = base_model(model).language_model
    probe = AutocastProbe(kwargs["input_ids"].device.type)  # for a static decode's steps
    # only the cache and the last position's logits are read: the last layer runs there only
    with last_layer_at_last_position(language_model), probe.watching(language_model):
        out = inner_module(model)(**kwargs, use_cache=True, logits_to_keep=1)
    cache = returned_cache(out)
    if cache is None:
        raise RuntimeError("the model returned no KV cache (gradient checkpointing turns it off)")
    select = torch.as_tensor([unique.index(r) for r in rows], device=kwargs["input_ids"].device)
    # off CPU no fused kernel serves the shared prefix: a log-prob pass's explicit score
    # matrices are large at real size, and generation's dozens of small kernels per layer slow
    # a launch-bound decode step (an H200, Qwen2.5-VL-3B size, 48 rollouts: 66 ms a step with
    # the cache kept once, 28 ms with it copied; docs/speed.md)
    if cascade and has_fused_kernels(select.device):
        cache = SharedPrefixCache(cache, kwargs["attention_mask"], select, capacity)
    elif static:
        cache = StaticRolloutCache(cache, select, capacity, probe.seen)
    else:
        cache.batch_select_indices(select)
    # [U, 1]: 3D (mrope) position offset of the text, set by the prefill's get_rope_index
    # (Qwen2.5-VL: the trained convention, video_r1.models.positions)
    deltas = base_model(model).rope_deltas
    return cache, deltas[select], out.logits[select, -1]


def attending(model: torch.nn.Module, cache: object) -> AbstractContextManager:
    """The context a model call on `cache` runs in: shared-prefix attention for a
    `SharedPrefixCache`, nothing for a plain cache."""
    if isinstance(cache, SharedPrefixCache):
        return shared_prefix_attention(base_model(model).language_model.config, cache)
    return nullcontext()


@torch.no_grad()
def decode_completions(
    model: torch.nn.Module,
    cache: object,
    logits: torch.Tensor,
    prompt_mask: torch.Tensor,
    deltas: torch.Tensor,
    sampler: TokenSampler,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    pad_id: int,
    synced_gpus: bool = False,
) -> torch.Tensor:
    """Completion ids [N, Lc] decoded token by token from a cache holding whole prompts.

    logits: [N, V] of each rollout's last prompt token; prompt_mask: [N, Lp] (left-padded);
    deltas: [N, 1] 3D-position offsets of the text (`prefill_prompts`). A row that produced a
    stop token is filled with `pad_id` after it, and decoding ends when every row has stopped
    or after `max_new_tokens`, as transformers' `generate` does. synced_gpus: this process keeps
    running forwards (appending nothing) until every process has finished (ZeRO-3 gathers
    parameters collectively in each forward). On a `StaticRolloutCache` every step has one
    fixed shape, and on CUDA all steps after the first replay one CUDA graph (static_decode.py).
    """
    inner = inner_module(model)
    n = prompt_mask.shape[0]
    device = logits.device
    suppressed = sampler.suppress_mask(logits.shape[-1], device)
    no_stop_yet = sampler.suppress_mask(logits.shape[-1], device, also=stop_ids)
    # text positions of the completion: after the row's real prompt tokens, shifted by delta
    first_position = prompt_mask.long().sum(dim=1, keepdim=True) + deltas  # [N, 1]
    if isinstance(cache, StaticRolloutCache):
        if synced_gpus:
            raise ValueError("a static rollout cache cannot keep decoding for other processes")
        language_model = base_model(model).language_model
        forward = StaticDecoder(
            language_model, inner.get_output_embeddings(), cache, prompt_mask, first_position,
            _cache_keyword(type(language_model)), graphs=device.type == "cuda",
        )  # fmt: skip
    else:
        forward = _cache_step(inner, cache_keyword(model), cache, prompt_mask, first_position,
                              max_new_tokens)  # fmt: skip
    done = torch.zeros(n, dtype=torch.bool, device=device)
    tokens: list[torch.Tensor] = []
    finished = False  # this process: every row stopped, or max_new_tokens reached
    step = 0
    with attending(model, cache):
        while True:
            if not finished:
                early = step < sampler.min_new_tokens
                token = sampler(logits, no_stop_yet if early else suppressed)
                token = torch.where(done, pad_id, token)  # [N]
                tokens.append(token)
                done = done | finished_after(token, stop_ids)
                finished = bool(done.all()) or len(tokens) == max_new_tokens
            if not _someone_decoding(finished, synced_gpus, device):
                break
            logits = forward(token, step)
            step += 1
    return torch.stack(tokens, dim=1)


def _cache_step(inner, keyword: str, cache, prompt_mask, first_position, max_new_tokens: int):
    """`step(token [N], step) -> logits [N, V]`: the model's own forward on a cache that grows
    by a token a step (the mask widens with it)."""
    n, prompt_len = prompt_mask.shape
    mask = torch.cat([prompt_mask, prompt_mask.new_ones(n, max_new_tokens)], dim=1)

    def step_logits(token: torch.Tensor, step: int) -> torch.Tensor:
        nonlocal mask
        if prompt_len + step + 1 > mask.shape[1]:  # a finished process keeping step
            mask = torch.cat([mask, mask.new_ones(n, max_new_tokens)], dim=1)
        return inner(
            input_ids=token[:, None],
            attention_mask=mask[:, : prompt_len + step + 1],
            position_ids=first_position + step,
            use_cache=True,
            **{keyword: cache},
            logits_to_keep=1,
        ).logits[:, -1]

    return step_logits


def _someone_decoding(finished: bool, synced_gpus: bool, device: torch.device) -> bool:
    """False once this process (or with synced_gpus, every process) has finished."""
    if not synced_gpus:
        return not finished
    flag = torch.tensor(0.0 if finished else 1.0, device=device)
    torch.distributed.all_reduce(flag)
    return bool(flag.item() > 0)


def _use_static_cache(model, asked: bool | None, device: torch.device, synced_gpus: bool) -> bool:
    """Whether generation decodes on a `StaticRolloutCache` (see `generate_rollouts`)."""
    fits = supports_static_decode(base_model(model).language_model.config)
    if asked is None:
        return device.type == "cuda" and not synced_gpus and fits
    if asked and (synced_gpus or not fits):
        why = "synced_gpus (ZeRO-3)" if synced_gpus else "a text model with sliding-window layers"
        raise ValueError(f"static_cache=True cannot serve {why}")
    return asked


@contextmanager
def without_checkpoint_defaults(model: torch.nn.Module) -> Iterator[None]:
    """For `model.generate`: its checkpoint's generation_config.json shapes nothing.

    transformers 5 fills each field a passed config leaves None from the model's generation
    config (a Qwen2.5-VL-Instruct checkpoint: top_k 1, repetition_penalty 1.05); with a blank
    one there, only the passed config and transformers' global defaults apply."""
    from transformers import GenerationConfig

    inner = inner_module(model)
    saved = inner.generation_config
    inner.generation_config = GenerationConfig()
    try:
        yield
    finally:
        inner.generation_config = saved


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
    static_cache: bool | None = None,
) -> Rollouts:
    """One batched generation for every rollout of every prompt row.

    rollouts_per_row: how many completions to sample from each prompt row (e.g. 8 for an
    ordered row, 4 for its shuffled row, 8 for an image row).
    generation_config: read by `TokenSampler.from_config` (only its own fields act, never the
    checkpoint's generation_config.json); its max_new_tokens bounds the completions.
    eos_token_ids: the completion mask ends at the first token generation stopped at, i.e.
    at `generation_config.eos_token_id` (the one list; None uses it). A list given here that
    differs is refused: the mask would end elsewhere than generation did.
    synced_gpus: keep every process decoding until all are done (needed under ZeRO-3,
    where each forward gathers parameters collectively).
    share_prefix: prefill each prompt row once, share its cache (`prefill_prompts`) and
    decode with `decode_completions`; False runs every rollout's prompt through transformers'
    `generate` (the reference path, for comparison).
    cascade: with share_prefix, attend to each row's prompt cache kept once (`cascade.py`);
    False copies it to every rollout, as happens off CPU regardless (no fused kernel there).
    static_cache: where the cache is copied, copy it into buffers of the completions' final
    length and decode with fixed shapes, on CUDA as one CUDA graph a step (static_decode.py).
    None: on CUDA, without synced_gpus, for text models without sliding-window layers.
    """
    stops = generation_stop_ids(generation_config, eos_token_ids)
    rows = [r for r, n in enumerate(rollouts_per_row) for _ in range(n)]
    kwargs = index_rows(encoded.inputs, rows)
    prompt_len = kwargs["input_ids"].shape[1]
    if share_prefix:
        max_new = generation_config.max_new_tokens
        if not max_new or max_new < 1:
            raise ValueError(f"generation needs max_new_tokens >= 1, got {max_new!r}")
        sampler = TokenSampler.from_config(generation_config)
        static = _use_static_cache(model, static_cache, kwargs["input_ids"].device, synced_gpus)
        cache, deltas, logits = prefill_prompts(model, encoded, rows, cascade, max_new, static)
        completion_ids = decode_completions(
            model, cache, logits, kwargs["attention_mask"], deltas, sampler, max_new, stops,
            completion_pad_id(generation_config), synced_gpus,
        )  # fmt: skip
    else:
        with without_checkpoint_defaults(model):
            sequences = model.generate(  # [N, Lp + Lc]
                **rows_inputs(encoded, rows),
                generation_config=generation_config,
                synced_gpus=synced_gpus,
            )
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
