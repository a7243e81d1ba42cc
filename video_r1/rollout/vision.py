"""Vision features: the vision tower once per (prompt, frame order).

The published trainer repeats each prompt's pixels G times, so the vision tower runs once per
rollout during generation and again, per rollout, in the policy and reference log-prob passes.
Here a prompt batch is encoded once (`encode_vision`); every later forward, generation or
log-prob, takes *references* to those per-media features (`rows_inputs`), so G rollouts of one
prompt cost one vision forward, and with gradients the backward goes through it once.

The processor keys (which hold pixels, grids and token types) and the media-to-row mapping
are the prompting stage's (video_r1.prompts); this module swaps pixels for features.
Shapes: P prompt rows (each a prompt with one frame order).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from video_r1.prompts.inputs import (
    KNOWN_KEYS,
    MEDIA_KEYS,
    media_of_rows,
    pixel_offsets,
    pixel_rows,
    select_rows,
)


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


def base_model(model: torch.nn.Module) -> torch.nn.Module:
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


def _run_tower(
    base, pixels: torch.Tensor, grids: torch.Tensor, items: list[int], grad: bool
) -> tuple[dict, type | None]:
    """Vision features of `items` (indices into grids; pixel rows are contiguous per item):
    item -> (pooled features, deepstack features per layer or None), and the output class."""
    if not items:
        return {}, None
    item_pixels = pixel_rows(pixels, pixel_offsets(grids), items)
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


def _joined(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The tensors concatenated; one tensor as it is (`torch.cat` would copy it)."""
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


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
    unknown = set(model_inputs) - KNOWN_KEYS
    if unknown:  # never drop an input silently: a new model key must be handled here
        raise ValueError(
            f"unexpected model input keys {sorted(unknown)}; video_r1.prompts must learn them"
        )
    if "mm_token_type_ids" not in model_inputs:
        raise ValueError("model inputs lack mm_token_type_ids (Qwen-VL positions would be wrong)")
    base = base_model(model)
    pixel_keys = {keys.pixels for keys in MEDIA_KEYS.values()}
    inputs = {k: v for k, v in model_inputs.items() if k not in pixel_keys}
    present = [m for m, keys in MEDIA_KEYS.items() if model_inputs.get(keys.pixels) is not None]
    features, media_of_row = {}, {}
    if not present:
        return EncodedPrompts(inputs=inputs, features=features, media_of_row=media_of_row)
    # Images and videos go through the tower together: items never attend to each other
    # (per-item attention windows) and Qwen-VL encodes both the same way.
    pixels = _joined([model_inputs[MEDIA_KEYS[m].pixels] for m in present])
    grids = _joined([model_inputs[MEDIA_KEYS[m].grid] for m in present])
    merge = base.visual.spatial_merge_size
    first_item, start = {}, 0
    for modality in present:
        modality_grids = model_inputs[MEDIA_KEYS[modality].grid]
        media_of_row[modality] = media_of_rows(
            model_inputs["mm_token_type_ids"],
            (modality_grids.prod(-1) // merge**2).tolist(),
            modality,
        )
        first_item[modality] = start
        start += int(modality_grids.shape[0])
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
        count = int(model_inputs[MEDIA_KEYS[modality].grid].shape[0])
        items = [per_item[first_item[modality] + i] for i in range(count)]
        out = output_type(pooler_output=tuple(pooled for pooled, _ in items))
        if items[0][1] is not None:  # Qwen3-VL deepstack: per layer, one tensor per item
            out.deepstack_features = [
                tuple(stack[layer] for _, stack in items) for layer in range(len(items[0][1]))
            ]
        features[modality] = out
    return EncodedPrompts(inputs=inputs, features=features, media_of_row=media_of_row)


def select_features(output, items: list[int]):
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
    out, chosen_items = select_rows(encoded.inputs, rows, encoded.media_of_row)
    mm_outputs = {
        modality: select_features(encoded.features[modality], items)
        for modality, items in chosen_items.items()
    }
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
