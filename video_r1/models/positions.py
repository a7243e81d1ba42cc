"""Qwen2.5-VL's 3D (mrope) positions as the released checkpoints were trained with.

Each token has a (time, height, width) position. Text tokens have the same value on all three
axes, counting up; a video's tokens start at the next position p and get
(p + int(k x second_per_grid_t x tokens_per_second), p + row, p + column) for temporal patch k,
so a video's time axis reaches far past its grid (video1.mp4 at 16 frames: 8 patches 2.93 s
apart, 2 tokens per second, time up to p + 41 on a 15-wide grid).

Where the text after a video (or image) continues is where transformers differs:
- the original code (transformers 4.x `get_rope_index`, which the published Video-R1 trainer
  ran and the Qwen2.5-VL checkpoints were trained with; vLLM does the same): at the largest
  position of the video on any axis, + 1;
- transformers 5 (5.19 to 5.24 at least): at p + max(h, w) / merge, the width of the grid,
  whatever the time axis reached; for video1.mp4 the text after the clip sits at 30 instead
  of 57 (54 at the 2.75 s of the issue's measurement), and log-probs of a completion moved by up to 6e-3 against vLLM's (project issue 61).
For images (one temporal patch, time p) and text alone both give the same positions; so do
Qwen2-VL (time axis = patch index) and Qwen3-VL (time as text timestamps): only Qwen2.5-VL
videos differ. `use_trained_positions` replaces the model's `get_rope_index` by
`qwen2_5_vl_rope_index`, so every forward that derives its own positions (prefill, SFT,
evaluation, `generate`) and the `rope_deltas` every decode step adds use the original ones.
"""

from __future__ import annotations

import itertools
import types
from typing import Any

import torch

TEXT, IMAGE, VIDEO = 0, 1, 2  # mm_token_type_ids values


def qwen2_5_vl_rope_index(
    input_ids: torch.Tensor,
    mm_token_type_ids: torch.Tensor,
    image_grid_thw: torch.Tensor | None = None,
    video_grid_thw: torch.Tensor | None = None,
    second_per_grid_ts: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    *,
    spatial_merge_size: int,
    tokens_per_second: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Position ids [3, B, L] and text offsets [B, 1] of Qwen2.5-VL prompts, the original way.

    input_ids / mm_token_type_ids / attention_mask: [B, L] (text 0, image 1, video 2; padding
    positions are left 0); image_grid_thw / video_grid_thw: [n, 3] patches (before merging)
    of the images / videos in order; second_per_grid_ts: [n videos] seconds per temporal patch
    (None: 1). Text after each image or video continues at its largest position + 1. The
    offset of a row is its largest position + 1 - its real token count: a token appended at
    real index i has position i + offset on all axes (what `rope_deltas` holds).

    Example (2 text tokens, a video of 3 x 4 x 4 patches 1.5 s apart, 2 text tokens):
        merge 2, 2 tokens per second: 12 video tokens at time 2 + (0, 3, 6), height and width
        2 + (0, 1); the text after is at 9 and 10 (transformers 5: 4 and 5); offset 11 - 16.
    """
    batch, length = input_ids.shape
    device = input_ids.device
    positions = torch.zeros(3, batch, length, dtype=torch.long, device=device)
    grids = {
        IMAGE: iter(image_grid_thw.tolist() if image_grid_thw is not None else []),
        VIDEO: iter(video_grid_thw.tolist() if video_grid_thw is not None else []),
    }
    seconds = iter(second_per_grid_ts if second_per_grid_ts is not None else [])
    deltas = []
    for row in range(batch):
        real = (
            attention_mask[row].bool()
            if attention_mask is not None
            else torch.ones(length, dtype=torch.bool, device=device)
        )
        pieces, start = [], 0
        for kind, run in itertools.groupby(mm_token_type_ids[row][real].tolist()):
            if kind == TEXT:
                count = len(list(run))
                pieces.append(torch.arange(count, device=device).expand(3, -1) + start)
                start += count
                continue
            t, h, w = next(grids[kind])
            # images: one temporal patch at time 0 (the original multiplies by 0 s)
            step = next(seconds, 1.0) if kind == VIDEO else 0
            piece = _grid_positions(
                t, h // spatial_merge_size, w // spatial_merge_size, step, tokens_per_second,
                device,
            ) + start  # fmt: skip
            pieces.append(piece)
            start = int(piece.max()) + 1  # the original; transformers 5: start + max(h, w) / merge
        if pieces:
            positions[:, row, real] = torch.cat(pieces, dim=1)
        deltas.append(start - int(real.sum()))
    return positions, torch.tensor(deltas, device=device).unsqueeze(1)


def _grid_positions(
    t: int, h: int, w: int, second_per_grid_t: Any, tokens_per_second: float, device: Any
) -> torch.Tensor:
    """(time, row, column) of a t x h x w grid of merged patches, [3, t*h*w], from 0.

    Time is int(k x second_per_grid_t x tokens_per_second), multiplied in that order and in
    second_per_grid_t's dtype, as the original did (the order can move a product that lands
    on an integer by one rounding step)."""
    time = torch.arange(t, device=device).view(-1, 1).expand(-1, h * w)
    if isinstance(second_per_grid_t, torch.Tensor):
        second_per_grid_t = second_per_grid_t.to(device)
    time = (time * second_per_grid_t * tokens_per_second).long().flatten()
    rows = torch.arange(h, device=device).view(1, -1, 1).expand(t, -1, w).flatten()
    columns = torch.arange(w, device=device).view(1, 1, -1).expand(t, h, -1).flatten()
    return torch.stack([time, rows, columns])


def _trained_rope_index(
    self: Any,
    input_ids: torch.Tensor,
    mm_token_type_ids: torch.Tensor | None = None,
    image_grid_thw: torch.Tensor | None = None,
    video_grid_thw: torch.Tensor | None = None,
    second_per_grid_ts: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`get_rope_index` of a Qwen2.5-VL base model (transformers 5's signature; `generate`
    passes its other model kwargs too), computed by `qwen2_5_vl_rope_index`."""
    if mm_token_type_ids is None:  # derived from the placeholders, as transformers 4 did
        config = self.config
        mm_token_type_ids = (input_ids == config.image_token_id).long() * IMAGE + (
            input_ids == config.video_token_id
        ).long() * VIDEO
    vision = self.config.vision_config
    return qwen2_5_vl_rope_index(
        input_ids,
        mm_token_type_ids,
        image_grid_thw,
        video_grid_thw,
        second_per_grid_ts,
        attention_mask,
        spatial_merge_size=vision.spatial_merge_size,
        tokens_per_second=vision.tokens_per_second,
    )


def use_trained_positions(model: torch.nn.Module) -> int:
    """Give every Qwen2.5-VL base model inside `model` the original `get_rope_index`
    (`qwen2_5_vl_rope_index`), in place, on the instance; returns how many were changed (0
    for Qwen2-VL and Qwen3-VL, whose transformers positions are the trained ones)."""
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

    bases = [m for m in model.modules() if isinstance(m, Qwen2_5_VLModel)]
    for base in bases:
        base.get_rope_index = types.MethodType(_trained_rope_index, base)
    return len(bases)
