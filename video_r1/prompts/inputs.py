"""Processor outputs: which key holds what, which media items belong to which row, and the
selection of rows with their media.

This is the one table of processor keys (``pixel_values_videos``, ``video_grid_thw``,
``mm_token_type_ids``, ...); the rollout stage imports it to swap pixels for features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

# Processor output keys. Per-row tensors are indexed by prompt row; each media item of a
# modality has a block of pixel rows, a grid row and its extras, and fills grid.prod() /
# merge**2 placeholder tokens whose mm_token_type_ids value is the modality's token type.
PER_ROW_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids")


@dataclass(frozen=True)
class MediaKeys:
    """The processor keys of one modality."""

    token_type: int  # mm_token_type_ids value of its placeholder tokens (0 = text)
    pixels: str  # pixel rows, contiguous per item
    grid: str  # [M, 3] (t, h, w) patches of each item
    extras: tuple[str, ...] = ()  # other per-item tensors


MEDIA_KEYS = {
    "image": MediaKeys(1, "pixel_values", "image_grid_thw"),
    "video": MediaKeys(2, "pixel_values_videos", "video_grid_thw", ("second_per_grid_ts",)),
}
KNOWN_KEYS = frozenset(PER_ROW_KEYS).union(
    *((k.pixels, k.grid, *k.extras) for k in MEDIA_KEYS.values())
)


def media_of_rows(
    token_types: torch.Tensor, tokens_per_item: Sequence[int], modality: str
) -> list[list[int]]:
    """For each row, the indices of the media items of `modality` whose tokens it holds.

    Media items are laid out row by row; item m fills tokens_per_item[m] placeholder tokens,
    and a row's placeholder tokens are its token_types == MEDIA_KEYS[modality].token_type.

    Example:
        token types [[0, 2, 2], [2, 2, 0]] (two rows), items of 2 and 2 tokens -> [[0], [1]]
    """
    per_row_tokens = (token_types == MEDIA_KEYS[modality].token_type).sum(dim=1).tolist()
    media, item = [], 0
    for need in per_row_tokens:
        mine = []
        while need > 0:
            if item >= len(tokens_per_item) or tokens_per_item[item] > need:
                raise ValueError(
                    f"{modality} placeholder tokens do not match the encoded media sizes"
                )
            mine.append(item)
            need -= tokens_per_item[item]
            item += 1
        media.append(mine)
    if item != len(tokens_per_item):
        raise ValueError(
            f"{len(tokens_per_item) - item} {modality} item(s) have no placeholder tokens"
        )
    return media


def pixel_offsets(grids: torch.Tensor) -> list[int]:
    """Where each item's pixel rows start (and, last, where the final item's end): [M + 1]."""
    return [0, *torch.cumsum(grids.prod(dim=-1), 0).tolist()]


def pixel_rows(pixels: torch.Tensor, offsets: Sequence[int], items: Sequence[int]) -> torch.Tensor:
    """The pixel rows of `items` (indices into `offsets`, in that order), concatenated.

    A run of consecutive items is one slice, a view: the batch's pixels are tens to hundreds
    of MB, and copying them for every tower call took about 0.1 s of a 4-prompt GRPO step
    on the CPU machine (profiled with benchmarks/grpo_step.py's setting).

    Example:
        >>> pixels = torch.arange(6).view(6, 1)
        >>> pixel_rows(pixels, [0, 2, 3, 6], [1, 2]).flatten().tolist()  # a view
        [2, 3, 4, 5]
        >>> pixel_rows(pixels, [0, 2, 3, 6], [2, 0]).flatten().tolist()
        [3, 4, 5, 0, 1]
    """
    runs: list[list[int]] = []  # [start, end) pixel rows of consecutive items
    for item in items:
        if runs and runs[-1][1] == offsets[item]:
            runs[-1][1] = offsets[item + 1]
        else:
            runs.append([offsets[item], offsets[item + 1]])
    if len(runs) == 1:
        return pixels[runs[0][0] : runs[0][1]]
    return torch.cat([pixels[start:end] for start, end in runs])


def index_rows(inputs: dict[str, torch.Tensor], rows: Sequence[int]) -> dict[str, torch.Tensor]:
    """The per-row tensors of `inputs` for rows `rows` (in that order, repeats allowed)."""
    index = torch.as_tensor(list(rows), dtype=torch.long)
    return {k: inputs[k][index.to(inputs[k].device)] for k in PER_ROW_KEYS if k in inputs}


def select_rows(
    inputs: dict[str, torch.Tensor],
    rows: Sequence[int],
    media_of_row: dict[str, list[list[int]]],
) -> tuple[dict[str, torch.Tensor], dict[str, list[int]]]:
    """Rows `rows` of `inputs` with their media: per-row tensors indexed, and each modality's
    grids, extras and (if present) pixel rows of those rows' items.

    media_of_row: modality -> for each row, its item indices (`media_of_rows`). A modality
    none of these rows holds is left out entirely. Returns (inputs, modality -> chosen items).
    """
    out = index_rows(inputs, rows)
    chosen_items = {}
    for modality, items_of_row in media_of_row.items():
        chosen = [m for r in rows for m in items_of_row[r]]
        if not chosen:
            continue
        chosen_items[modality] = chosen
        keys = MEDIA_KEYS[modality]
        if keys.pixels in inputs:
            offsets = pixel_offsets(inputs[keys.grid])
            out[keys.pixels] = pixel_rows(inputs[keys.pixels], offsets, chosen)
        for key in (keys.grid, *keys.extras):
            if key in inputs:
                tensor = inputs[key]
                out[key] = tensor[torch.as_tensor(chosen, dtype=torch.long, device=tensor.device)]
    return out, chosen_items


def select(
    model_inputs: dict[str, torch.Tensor], indices: Sequence[int]
) -> dict[str, torch.Tensor]:
    """The samples `indices` (in that order, repeats allowed) with their media.

    Per-sample tensors are indexed on dim 0; pixel rows and grids follow their samples.

    Example:
        select(inputs_of_2_videos, [1, 1, 0]) -> a batch of 3 whose pixel_values_videos are
        video 1's rows twice then video 0's rows, and video_grid_thw [g1, g1, g0].
    """
    unknown = set(model_inputs) - KNOWN_KEYS
    if unknown:
        raise KeyError(f"select: don't know how to split processor outputs {sorted(unknown)}")
    media_of_row = {}
    for modality, keys in MEDIA_KEYS.items():
        if keys.grid not in model_inputs:
            continue
        token_types = model_inputs["mm_token_type_ids"]
        patches = model_inputs[keys.grid].prod(dim=1)  # [M]
        # the processor's merge size is not at hand: infer merge**2 from patches per token
        tokens = int((token_types == keys.token_type).sum())
        merge_sq = int(patches.sum()) // max(1, tokens)
        media_of_row[modality] = media_of_rows(
            token_types, (patches // merge_sq).tolist(), modality
        )
    return select_rows(model_inputs, indices, media_of_row)[0]


def repeat_batch(model_inputs: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """Each sample repeated n times in a row (sample-major), media included.

    Example:
        repeat_batch(inputs_of [p0, p1], 2) -> inputs of [p0, p0, p1, p1]
    """
    batch = int(model_inputs["input_ids"].shape[0])
    return select(model_inputs, [i for i in range(batch) for _ in range(n)])
