"""Rollouts: the vision tower once per (prompt, frame order), one batched generation call.

The published trainer repeats each prompt's pixels G times, so the vision tower runs once per
rollout during generation and again, per rollout, in the policy and reference log-prob passes.
Here a prompt batch is encoded once (`encode_vision`); every later forward, generation or
log-prob, takes *references* to those per-media features (`rows_inputs`), so G rollouts of one
prompt cost one vision forward, and with gradients the backward goes through it once. The
same holds for the language model: each prompt row is prefilled once and its KV cache is
shared by its rollouts (`prefill_prompts`).

This module is the model-input adapter of the RL stages: it knows the model-call keys that
hold pixels, grids and token types; the prompting stage (video_r1.prompts) knows the processor.
Shapes: P prompt rows (each a prompt with one frame order), N rollouts, Lp prompt length
(left-padded), Lc completion length.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from video_r1.models.loading import generation_stop_ids

# model-call keys: pixels (replaced by features), per-media tensors, per-row tensors.
_PIXEL_KEYS = {
    "image": ("pixel_values", "image_grid_thw"),
    "video": ("pixel_values_videos", "video_grid_thw"),
}
_PER_MEDIA_KEYS = {
    "image_grid_thw": "image",
    "video_grid_thw": "video",
    "second_per_grid_ts": "video",
}
_PER_ROW_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids")
_TOKEN_TYPE = {"image": 1, "video": 2}  # mm_token_type_ids values (0 = text)


@dataclass
class EncodedPrompts:
    """A prompt batch with its vision features computed once.

    inputs: the per-row and per-media tensors of the batch, pixels removed ([P, Lp] rows).
    features: modality -> encoder output whose `pooler_output` holds one tensor per media item
        (and, for Qwen3-VL, `deepstack_features`: per layer, one tensor per media item).
    media_of_row: modality -> for each prompt row, the indices of its media items.
    """

    inputs: dict[str, torch.Tensor]
    features: dict[str, object]
    media_of_row: dict[str, list[list[int]]]


def _base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The Qwen-VL base model (holds get_*_features) under DDP/peft wrappers."""
    while not hasattr(model, "get_video_features") or not hasattr(model, "language_model"):
        for attr in ("module", "base_model", "model"):
            if hasattr(model, attr):
                model = getattr(model, attr)
                break
        else:
            raise TypeError(
                f"{type(model).__name__} has no Qwen-VL base model with get_video_features"
            )
    return model


def _assign_media_to_rows(
    token_types: torch.Tensor, sizes: list[int], modality: str
) -> list[list[int]]:
    """Media items are laid out in row order; give each row the items whose tokens it holds."""
    per_row_tokens = (token_types == _TOKEN_TYPE[modality]).sum(dim=1).tolist()
    media_of_row, item = [], 0
    for need in per_row_tokens:
        mine = []
        while need > 0:
            if item >= len(sizes) or sizes[item] > need:
                raise ValueError(
                    f"{modality} placeholder tokens do not match the encoded media sizes"
                )
            mine.append(item)
            need -= sizes[item]
            item += 1
        media_of_row.append(mine)
    if item != len(sizes):
        raise ValueError(f"{len(sizes) - item} {modality} item(s) have no placeholder tokens")
    return media_of_row


def _run_tower(
    base, pixels: torch.Tensor, grids: torch.Tensor, items: list[int], grad: bool
) -> tuple[dict, type | None]:
    """Vision features of `items` (indices into grids; pixel rows are contiguous per item):
    item -> (pooled features, deepstack features per layer or None), and the output class."""
    if not items:
        return {}, None
    patch_counts = grids.prod(-1).tolist()
    offsets = [0]
    for count in patch_counts:
        offsets.append(offsets[-1] + count)
    item_pixels = torch.cat([pixels[offsets[i] : offsets[i + 1]] for i in items])
    with nullcontext() if grad else torch.no_grad():
        out = base.get_image_features(item_pixels, grids[items], return_dict=True)
    deepstack = getattr(out, "deepstack_features", None)
    return {
        item: (
            out.pooler_output[j],
            None if deepstack is None else [layer[j] for layer in deepstack],
        )
        for j, item in enumerate(items)
    }, type(out)


def encode_vision(
    model: torch.nn.Module,
    model_inputs: dict[str, torch.Tensor],
    grad_rows: Sequence[int] | None = None,
) -> EncodedPrompts:
    """Run the vision tower over a prompt batch (with grad if grad is enabled).

    grad_rows: with grad enabled, only the media of these rows keep a graph: the tower runs
    once with grad for them and once without for the others (T-GRPO's shuffled rows need
    features for generation only). None: one call for every row, which ZeRO-3 needs (every
    process must make the same number of tower calls).
    """
    unknown = (
        set(model_inputs)
        - set(_PER_MEDIA_KEYS)
        - set(_PER_ROW_KEYS)
        - {k for keys in _PIXEL_KEYS.values() for k in keys}
    )
    if unknown:  # never drop an input silently: a new model key must be handled here
        raise ValueError(
            f"unexpected model input keys {sorted(unknown)}; rollout.py must learn them"
        )
    if "mm_token_type_ids" not in model_inputs:
        raise ValueError("model inputs lack mm_token_type_ids (Qwen-VL positions would be wrong)")
    base = _base_model(model)
    pixel_keys = {pixel_key for pixel_key, _ in _PIXEL_KEYS.values()}
    inputs = {k: v for k, v in model_inputs.items() if k not in pixel_keys}
    present = [m for m, (key, _) in _PIXEL_KEYS.items() if model_inputs.get(key) is not None]
    features, media_of_row = {}, {}
    if not present:
        return EncodedPrompts(inputs=inputs, features=features, media_of_row=media_of_row)
    # Images and videos go through the tower together: items never attend to each other
    # (per-item attention windows) and Qwen-VL encodes both the same way.
    pixels = torch.cat([model_inputs[_PIXEL_KEYS[m][0]] for m in present])
    grids = torch.cat([model_inputs[_PIXEL_KEYS[m][1]] for m in present])
    merge = base.visual.spatial_merge_size
    first_item, start = {}, 0
    for modality in present:
        count = int(model_inputs[_PIXEL_KEYS[modality][1]].shape[0])
        sizes = (model_inputs[_PIXEL_KEYS[modality][1]].prod(-1) // merge**2).tolist()
        media_of_row[modality] = _assign_media_to_rows(
            model_inputs["mm_token_type_ids"], sizes, modality
        )
        first_item[modality] = start
        start += count
    everything = list(range(start))
    if grad_rows is None or not torch.is_grad_enabled():
        per_item, output_type = _run_tower(base, pixels, grids, everything, torch.is_grad_enabled())
    else:
        graded = {first_item[m] + i for m in present for r in grad_rows for i in media_of_row[m][r]}
        per_item, output_type = _run_tower(base, pixels, grids, sorted(graded), grad=True)
        rest, rest_type = _run_tower(
            base, pixels, grids, sorted(set(everything) - graded), grad=False
        )
        per_item.update(rest)
        output_type = output_type or rest_type
    for modality in present:
        count = int(model_inputs[_PIXEL_KEYS[modality][1]].shape[0])
        items = [per_item[first_item[modality] + i] for i in range(count)]
        out = output_type(pooler_output=tuple(pooled for pooled, _ in items))
        if items[0][1] is not None:  # Qwen3-VL deepstack: per layer, one tensor per item
            out.deepstack_features = [
                tuple(stack[layer] for _, stack in items) for layer in range(len(items[0][1]))
            ]
        features[modality] = out
    return EncodedPrompts(inputs=inputs, features=features, media_of_row=media_of_row)


def _select_features(output, items: list[int]):
    """A shallow copy of an encoder output keeping `items` (tensors shared, not copied)."""
    selected = type(output)(**{k: v for k, v in output.items()})
    selected.pooler_output = tuple(output.pooler_output[i] for i in items)
    deepstack = getattr(output, "deepstack_features", None)
    if deepstack is not None:
        selected.deepstack_features = [tuple(layer[i] for i in items) for layer in deepstack]
    return selected


def rows_inputs(encoded: EncodedPrompts, rows: Sequence[int]) -> dict:
    """Model kwargs for a batch whose i-th row is prompt row `rows[i]` (rows may repeat).

    Per-row tensors are indexed; per-media tensors and features are selected for the media of
    those rows, by reference, so no vision work is repeated.
    """
    index = torch.as_tensor(list(rows), dtype=torch.long)
    out: dict = {}
    for key in _PER_ROW_KEYS:
        if key in encoded.inputs:
            out[key] = encoded.inputs[key][index.to(encoded.inputs[key].device)]
    mm_outputs = {}
    for modality, media_of_row in encoded.media_of_row.items():
        items = [i for r in rows for i in media_of_row[r]]
        if not items:  # none of these rows holds this modality: pass neither features nor grids
            continue
        mm_outputs[modality] = _select_features(encoded.features[modality], items)
        for key, key_modality in _PER_MEDIA_KEYS.items():
            if key_modality == modality and key in encoded.inputs:
                tensor = encoded.inputs[key]
                out[key] = tensor[torch.as_tensor(items, dtype=torch.long, device=tensor.device)]
    if mm_outputs:
        out["mm_encoder_outputs"] = mm_outputs
    return out


def detach_features(encoded: EncodedPrompts) -> EncodedPrompts:
    """The same prompts with features cut from the graph (for no-grad generation and passes)."""
    features = {}
    for modality, output in encoded.features.items():
        detached = type(output)(**{k: v for k, v in output.items()})
        detached.pooler_output = tuple(t.detach() for t in output.pooler_output)
        if getattr(output, "deepstack_features", None) is not None:
            detached.deepstack_features = [
                tuple(t.detach() for t in layer) for layer in output.deepstack_features
            ]
        features[modality] = detached
    return EncodedPrompts(
        inputs=encoded.inputs, features=features, media_of_row=encoded.media_of_row
    )


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


def _inner(model: torch.nn.Module) -> torch.nn.Module:
    """The module under a DDP / DeepSpeed wrapper (a second wrapper forward before backward
    would upset DDP's gradient reducer; the prefix pass goes through the inner module)."""
    return getattr(model, "module", model)


def prefill_prompts(
    model: torch.nn.Module, encoded: EncodedPrompts, rows: Sequence[int], keep_last: bool
) -> tuple[object, torch.Tensor, torch.Tensor]:
    """Run each prompt row once and share its KV cache with every rollout of that row.

    The published trainer (and `generate(num_return_sequences=G)`) runs the same prompt G
    times; here the prompt's ~1k vision + text tokens go through the model once per row and
    the cache is indexed out to the rollouts (a view in autograd: gradients of all rollouts
    flow back into the one prompt pass).
    rows: the prompt row of each rollout. keep_last: cache the whole prompt (log-prob passes)
    or all but its last token (generation, which must feed at least one token itself).
    Returns (cache expanded to len(rows), position delta of each rollout [N, 1], logits of
    the last cached position of each rollout [N, V]).
    """
    unique = sorted(set(rows))
    kwargs = rows_inputs(encoded, unique)
    if not keep_last:
        for key in _PER_ROW_KEYS:
            if key in kwargs:
                kwargs[key] = kwargs[key][:, :-1]
    out = _inner(model)(**kwargs, use_cache=True, logits_to_keep=1)
    if out.past_key_values is None:
        raise RuntimeError("the model returned no KV cache (gradient checkpointing turns it off)")
    select = torch.as_tensor([unique.index(r) for r in rows], device=kwargs["input_ids"].device)
    cache = out.past_key_values
    cache.batch_select_indices(select)
    deltas = _base_model(model).rope_deltas  # [U, 1]: 3D (mrope) position offset of the text
    return cache, deltas[select], out.logits[select, -1]


@torch.no_grad()
def generate_rollouts(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rollouts_per_row: Sequence[int],
    generation_config,
    eos_token_ids: Sequence[int] | None = None,
    synced_gpus: bool = False,
    share_prefix: bool = True,
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
    """
    stops = generation_stop_ids(generation_config, eos_token_ids)
    rows = [r for r, n in enumerate(rollouts_per_row) for _ in range(n)]
    if share_prefix:
        cache, deltas, _ = prefill_prompts(model, encoded, rows, keep_last=False)
        # generate() continues from the cache: text positions plus each rollout's delta;
        # only the per-row tensors are needed (the media are all in the cache)
        _base_model(model).rope_deltas = deltas
        index = torch.as_tensor(rows, dtype=torch.long)
        kwargs = {
            k: encoded.inputs[k][index.to(encoded.inputs[k].device)]
            for k in _PER_ROW_KEYS
            if k in encoded.inputs
        }
        kwargs["past_key_values"] = cache
    else:
        kwargs = rows_inputs(encoded, rows)
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


def completion_logprobs(
    model: torch.nn.Module,
    encoded: EncodedPrompts,
    rollouts: Rollouts,
    index: torch.Tensor | None = None,
    temperature: float = 1.0,
    share_prefix: bool = True,
) -> torch.Tensor:
    """Log-probs [n, Lc] (float32) of the sampled completion tokens of rollouts `index`
    (default: all).

    The vision features come from `encoded` (computed once; with grad if it was encoded with
    grad). With share_prefix, each prompt row runs once and its cache serves all its rollouts
    (not available with gradient checkpointing, which disables the cache in training).
    Logits are divided by the sampling temperature: these are the log-probs of the
    distribution that sampled.
    """
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
    inner = _inner(model)
    checkpointing = getattr(inner, "is_activation_checkpointing", None)
    if checkpointing is None:  # transformers < 5.2 name
        checkpointing = getattr(inner, "is_gradient_checkpointing", False)
    if share_prefix and not (inner.training and checkpointing):
        cache, deltas, first_logits = prefill_prompts(model, encoded, rows, keep_last=True)
        prompt_len = rollouts.prompt_ids.shape[1]
        # text after the vision tokens: the same 3D position on all axes, shifted by delta
        positions = (attention.long().cumsum(-1) - 1)[:, prompt_len:] + deltas  # [n, Lc]
        # Tokens 0..Lc-2 predict tokens 1..Lc-1. With Lc = 1 nothing is left to predict, yet
        # the token is still fed (its logits dropped): a zero-length forward fails, and
        # skipping the call would desynchronise ZeRO-3's per-forward parameter gathers.
        fed = max(completion_len - 1, 1)
        rest = model(
            input_ids=completion_ids[:, :fed],
            attention_mask=attention[:, : prompt_len + fed],
            position_ids=positions[:, :fed],
            past_key_values=cache,
            use_cache=True,
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
    return selective_log_softmax(logits, completion_ids, temperature)  # [n, Lc] float32
