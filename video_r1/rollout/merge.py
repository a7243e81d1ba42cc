"""Prompt rows of several generate calls as one batch: select rows, then concatenate.

Dynamic sampling (`video_r1.recipes.grpo_dynamic`) keeps prompt groups from several generate
calls; a training micro-batch may then hold groups of two calls. These functions build that
micro-batch's own prompt batch from the calls' already encoded rows: per-row tensors
left-padded to the widest prompt, media items and their vision features concatenated (by
reference: no vision work is repeated), rollouts renumbered and completions right-padded.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from video_r1.prompts.inputs import MEDIA_KEYS, PER_ROW_KEYS, select_rows
from video_r1.rollout.generate import Rollouts
from video_r1.rollout.vision import EncodedPrompts, select_features


def pad_left(tensor: torch.Tensor, width: int, value: int) -> torch.Tensor:
    """[P, L] -> [P, width], `value` on the left (prompts are left-padded).

    Example:
        >>> pad_left(torch.tensor([[5, 6]]), 4, value=0)
        tensor([[0, 0, 5, 6]])
    """
    extra = width - tensor.shape[1]
    return tensor if extra <= 0 else F.pad(tensor, (extra, 0), value=value)


def pad_right(tensor: torch.Tensor, width: int, value: int) -> torch.Tensor:
    """[P, L] -> [P, width], `value` on the right (completions are right-padded).

    Example:
        >>> pad_right(torch.tensor([[5, 6]]), 3, value=0)
        tensor([[5, 6, 0]])
    """
    extra = width - tensor.shape[1]
    return tensor if extra <= 0 else F.pad(tensor, (0, extra), value=value)


def _row_pad_value(key: str, pad_id: int) -> int:
    return pad_id if key == "input_ids" else 0  # masks and token types: 0 (text, not attended)


def concat_inputs(parts: Sequence[dict[str, torch.Tensor]], pad_id: int) -> dict:
    """Model inputs of several prompt batches as one: per-row tensors left-padded to the
    widest and stacked, each modality's per-item tensors (grids, extras, pixel rows) in order.

    Example:
        >>> a = {"input_ids": torch.tensor([[7, 8]]), "attention_mask": torch.ones(1, 2)}
        >>> b = {"input_ids": torch.tensor([[9]]), "attention_mask": torch.ones(1, 1)}
        >>> concat_inputs([a, b], pad_id=0)["input_ids"]
        tensor([[7, 8],
                [0, 9]])
    """
    width = max(int(p["input_ids"].shape[1]) for p in parts)
    out = {}
    for key in PER_ROW_KEYS:
        if key in parts[0]:
            value = _row_pad_value(key, pad_id)
            out[key] = torch.cat([pad_left(p[key], width, value) for p in parts])
    for keys in MEDIA_KEYS.values():
        for key in (keys.pixels, keys.grid, *keys.extras):
            present = [p[key] for p in parts if key in p]
            if present:
                out[key] = present[0] if len(present) == 1 else torch.cat(present)
    return out


def select_encoded(encoded: EncodedPrompts, rows: Sequence[int]) -> EncodedPrompts:
    """Prompt rows `rows` of an encoded batch (in that order) with their media's features."""
    inputs, chosen = select_rows(encoded.inputs, rows, encoded.media_of_row)
    features, media_of_row = {}, {}
    for modality, items in chosen.items():
        features[modality] = select_features(encoded.features[modality], list(items))
        renumbered, next_item = [], 0
        for r in rows:  # the selected items are laid out row by row, in `rows` order
            count = len(encoded.media_of_row[modality][r])
            renumbered.append(list(range(next_item, next_item + count)))
            next_item += count
        media_of_row[modality] = renumbered
    return EncodedPrompts(inputs=inputs, features=features, media_of_row=media_of_row)


def concat_encoded(parts: Sequence[EncodedPrompts], pad_id: int) -> EncodedPrompts:
    """Encoded prompt batches as one (rows of `parts[0]` first); features by reference."""
    inputs = concat_inputs([p.inputs for p in parts], pad_id)
    features, media_of_row = {}, {}
    rows_before = 0
    for part in parts:
        rows = int(part.inputs["input_ids"].shape[0])
        for modality in set(media_of_row) | set(part.media_of_row):
            mine = part.media_of_row.get(modality, [[] for _ in range(rows)])
            earlier = media_of_row.setdefault(modality, [[] for _ in range(rows_before)])
            offset = sum(len(items) for items in earlier)
            earlier.extend([[offset + i for i in items] for items in mine])
        rows_before += rows
        for modality, output in part.features.items():
            if modality not in features:
                features[modality] = select_features(output, list(range(len(output.pooler_output))))
                continue
            merged = features[modality]
            merged.pooler_output = tuple(merged.pooler_output) + tuple(output.pooler_output)
            if getattr(output, "deepstack_features", None) is not None:
                merged.deepstack_features = [
                    tuple(a) + tuple(b)
                    for a, b in zip(merged.deepstack_features, output.deepstack_features,
                                    strict=True)
                ]  # fmt: skip
    return EncodedPrompts(inputs=inputs, features=features, media_of_row=media_of_row)


def concat_rollouts(parts: Sequence[Rollouts], rows_per_part: Sequence[int], pad_id: int):
    """Rollouts of several prompt batches as one: rows shifted past the earlier parts' prompt
    rows, prompts left-padded and completions right-padded to the widest.

    Example:
        >>> r = Rollouts(rows=torch.tensor([0]), prompt_ids=torch.tensor([[3]]),
        ...     prompt_mask=torch.ones(1, 1), completion_ids=torch.tensor([[7]]),
        ...     completion_mask=torch.ones(1, 1), truncated=torch.tensor([True]))
        >>> concat_rollouts([r, r], rows_per_part=[1, 1], pad_id=0).rows
        tensor([0, 1])
    """
    prompt_width = max(int(p.prompt_ids.shape[1]) for p in parts)
    completion_width = max(int(p.completion_ids.shape[1]) for p in parts)
    offsets, start = [], 0
    for count in rows_per_part:
        offsets.append(start)
        start += count
    return Rollouts(
        rows=torch.cat([p.rows + o for p, o in zip(parts, offsets, strict=True)]),
        prompt_ids=torch.cat([pad_left(p.prompt_ids, prompt_width, pad_id) for p in parts]),
        prompt_mask=torch.cat([pad_left(p.prompt_mask, prompt_width, 0) for p in parts]),
        completion_ids=torch.cat(
            [pad_right(p.completion_ids, completion_width, pad_id) for p in parts]
        ),
        completion_mask=torch.cat(
            [pad_right(p.completion_mask, completion_width, 0) for p in parts]
        ),
        truncated=torch.cat([p.truncated for p in parts]),
        logprobs=None  # an engine's sampled-token log-probs (vLLM), kept through the merge
        if any(p.logprobs is None for p in parts)
        else torch.cat([pad_right(p.logprobs, completion_width, 0) for p in parts]),
    )


def rollouts_of_rows(rollouts: Rollouts, index: torch.Tensor, rows: list[int]) -> Rollouts:
    """Rollouts `index` as a batch of their own, prompt rows renumbered to positions in `rows`
    (for features encoded from `select(inputs, rows)`).

    Example:
        >>> r = Rollouts(rows=torch.tensor([0, 0, 1, 1]), prompt_ids=torch.zeros(4, 2),
        ...     prompt_mask=torch.ones(4, 2), completion_ids=torch.zeros(4, 3),
        ...     completion_mask=torch.ones(4, 3), truncated=torch.zeros(4, dtype=torch.bool))
        >>> rollouts_of_rows(r, torch.tensor([2, 3]), rows=[1]).rows
        tensor([0, 0])
    """
    position = {row: i for i, row in enumerate(rows)}
    return Rollouts(
        rows=torch.tensor([position[r] for r in rollouts.rows[index].tolist()]),
        prompt_ids=rollouts.prompt_ids[index],
        prompt_mask=rollouts.prompt_mask[index],
        completion_ids=rollouts.completion_ids[index],
        completion_mask=rollouts.completion_mask[index],
        truncated=rollouts.truncated[index],
        logprobs=None if rollouts.logprobs is None else rollouts.logprobs[index],
    )
