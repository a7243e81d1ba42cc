"""Two exact rewrites of the Qwen-VL vision tower's slowest small operations.

Same weights and parameter names (checkpoints save and load unchanged), the same result up
to float rounding (tests/models/test_fast_vision.py: float64 on Qwen2-VL, Qwen2.5-VL and Qwen3-VL,
features and gradients); `use_fast_vision(model)` applies both, `load_model` does by default.

- The patch embedding. Every Qwen-VL embeds each (2 x 14 x 14 x 3) or (2 x 16 x 16 x 3)
  patch with an `nn.Conv3d` whose kernel equals its stride, on inputs that are one patch each:
  one dot product per output channel, `linear(x.flatten(1), W.flatten(1), b)`. As a
  convolution it is slow: on this project's CPU machine oneDNN's Conv3d is 2-4x slower
  forward and 5-10x slower backward than the matmul (28 ms of a 100 ms tiny tower on a
  16-frame clip); cuDNN's Conv3d for this shape is known to be slow too (vLLM embeds Qwen-VL
  patches with a linear layer for that reason). `PatchConv3d` stays an `nn.Conv3d` (peft and
  DeepSpeed treat it as before) and changes only the forward of one-patch inputs.
- The attention windows. With sdpa, transformers runs the tower's attention once per window
  (Qwen2.5-VL: ~64 windows of 64 patches per clip per layer) or per frame pair, each a tiny
  kernel call, then concatenates. `packed_window_attention` batches all windows of one size
  into one sdpa call. transformers hands a tower the window boundaries (`cu_seqlens`) only
  when its attention implementation's name contains "flash" (its varlen API), hence the name
  under which it is registered; it is used only where the tower would run sdpa.
"""

from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn.functional as F

# "flash" in the name: transformers then passes the window boundaries (cu_seq_lens_q)
PACKED_ATTENTION = "video_r1_packed_sdpa_flash_varlen"


class PatchConv3d(torch.nn.Conv3d):
    """An `nn.Conv3d` with kernel == stride that computes one-patch inputs as a matmul."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (torch's name)
        if tuple(input.shape[2:]) != tuple(self.kernel_size):
            return super().forward(input)
        out = F.linear(input.flatten(1), self.weight.flatten(1), self.bias)  # [N, C_out]
        return out.view(*out.shape, 1, 1, 1)


def is_patch_conv(module: torch.nn.Module) -> bool:
    """A plain Conv3d that cuts its input into non-overlapping patches (kernel == stride)."""
    return (
        type(module) is torch.nn.Conv3d
        and tuple(module.kernel_size) == tuple(module.stride)
        and tuple(module.padding) == (0, 0, 0)
        and tuple(module.dilation) == (1, 1, 1)
        and module.groups == 1
    )


def packed_window_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    scaling: float | None = None,
    dropout: float = 0.0,
    cu_seq_lens_q: torch.Tensor | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attention within each window [cu_seq_lens_q[i], cu_seq_lens_q[i+1]) of a packed
    sequence, one sdpa call per distinct window length (windows of one length that tile the
    sequence, as frames do in full-attention blocks, are views: no gather, no reorder).

    query/key/value: [1, H, S, D]. Returns ([1, S, H, D], None), as transformers' varlen
    flash attention does.
    """
    if attention_mask is not None or cu_seq_lens_q is None:
        raise ValueError("packed window attention takes window boundaries and no mask")
    bounds = cu_seq_lens_q.tolist()
    starts_of_length: dict[int, list[int]] = defaultdict(list)
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        starts_of_length[end - start].append(start)
    if len(starts_of_length) == 1 and bounds[0] == 0 and bounds[-1] == query.shape[2]:
        # equal windows tiling the sequence (frames, full-attention blocks): views, no gather
        (length,) = starts_of_length
        q, k, v = (t[0].unflatten(1, (-1, length)) for t in (query, key, value))  # [H, n, L, D]
        return _window_sdpa(q, k, v, dropout, scaling).unsqueeze(0), None
    pieces, order = [], []
    for length, starts in starts_of_length.items():
        index = torch.tensor(starts, device=query.device)[:, None] + torch.arange(
            length, device=query.device
        )  # [n, L] token positions of n windows of this length
        q, k, v = (t[0][:, index.flatten()].unflatten(1, index.shape) for t in (query, key, value))
        pieces.append(_window_sdpa(q, k, v, dropout, scaling))  # [n*L, H, D]
        order.append(index.flatten())
    packed = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
    positions = torch.cat(order)
    if not bool((positions[1:] > positions[:-1]).all()):
        packed = packed[torch.argsort(positions)]
    return packed.unsqueeze(0), None


def _window_sdpa(q, k, v, dropout: float, scaling: float | None) -> torch.Tensor:
    """Attention within windows: q/k/v [H, n, L, D] (n windows of L tokens) -> [n*L, H, D]."""
    out = F.scaled_dot_product_attention(  # [n, H, L, D]
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), dropout_p=dropout, scale=scaling
    )
    return out.transpose(1, 2).flatten(0, 1)


def use_fast_vision(model: torch.nn.Module) -> int:
    """Switch `model`'s patch-cutting Conv3d modules to `PatchConv3d` and, where its vision
    tower runs sdpa, its attention to `packed_window_attention`, in place. Returns the number
    of modules changed (the patch embeddings plus, when switched, the tower's config)."""
    from transformers import AttentionInterface

    convs = [m for m in model.modules() if is_patch_conv(m)]
    for module in convs:
        module.__class__ = PatchConv3d
    vision = getattr(model.config, "vision_config", None)
    if vision is None or vision._attn_implementation != "sdpa":
        return len(convs)
    AttentionInterface.register(PACKED_ATTENTION, packed_window_attention)
    vision._attn_implementation = PACKED_ATTENTION
    return len(convs) + 1
