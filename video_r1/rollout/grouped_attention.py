"""Split prompt / completion attention for the prefix-grouped layout (video_r1/rollout/grouped.py).

A grouped row is [prompt | c1 | ... | cG | padding]. Its dense block mask lets a completion
see the prompt and its own earlier tokens, but a dense kernel still computes every masked-out
pair (completion against another completion, prompt against completions): with a 1.1k-token
prompt and 12 x 64 completion tokens that is (1.1k + 768)^2 pairs per head, against the
1.1k^2 / 2 + 12 x 64 x 1.2k the layout needs. Here each layer's attention runs in two parts,
each on torch's fused kernels (on CPU the flash kernel, on CUDA flash or the memory-efficient
kernel), through transformers' attention interface:

- the prompt's queries against the prompt's keys, causal (`is_causal`, so kernels may skip
  the upper triangle) row by row past each row's left padding; in the text model's last
  layer only the last prompt token's query (the caller reads logits from there on);
- each completion's queries [n, H, Lm, D] (gathered, Lm the longest) against its row's prompt
  keys and its own keys: on CPU by the cascade's exact log-sum-exp merge
  (`cascade.merged_attention`: all of a row's completions against its prompt in one fused
  call, each against itself in another, fused backward), elsewhere as one sdpa call over the
  prompt keys copied per completion followed by its own, with a [n, 1, Lm, Lp + Lm] mask
  (prompt padding out, causal within the completion): CUDA's fused kernels that return the
  log-sum-exp the merge needs are not public API.

Their outputs are put back in the row's order (padding slots get zeros: no query reads them,
no logits are taken there). Gathering and concatenation are differentiable, so gradients reach
the prompt from every completion, as in the dense pass; under activation checkpointing the
layer's recomputation receives the same layout (it is a keyword of the layer call).

The implementation is registered as `GROUPED_ATTENTION` (an sdpa whose masks the model builds
as sdpa's) and a text model on sdpa is switched to it on its first grouped pass: without the
`grouped_attention` keyword (generation, any other forward) it is sdpa itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch

from video_r1.rollout.cascade import PrefixRows, has_fused_kernels, merged_attention

GROUPED_ATTENTION = "video_r1_grouped_sdpa"


@dataclass(frozen=True)
class GroupedAttention:
    """Where the n completions sit in the U grouped rows of length L (prompt Lp, then
    completions): what `grouped_attention_forward` needs besides the queries and keys.

    rows: each rollout's row [n]; positions: each completion token's index in its row
    [n, Lm] (past a completion's end: its last token, masked out); mask: [n, 1, Lm, Lp + Lm]
    the keys each completion query may see (its row's real prompt tokens, then its own
    tokens up to itself); output_index: [U, L - Lp] each slot after the prompt as an index
    into the n x Lm completion outputs (n x Lm for padding: a zero); prompt_starts: each row's
    first real prompt token (its left padding), as Python ints."""

    prompt_len: int
    rows: torch.Tensor
    positions: torch.Tensor
    mask: torch.Tensor | None
    output_index: torch.Tensor
    prompt_starts: tuple[int, ...]
    prefix_rows: PrefixRows
    last_layer: int | None = None
    # one entry per attention call that ran the split path: a model whose layers drop the
    # keyword would fall back to plain causal sdpa, completions seeing each other
    calls: list[int | None] = field(default_factory=list, compare=False)

    @classmethod
    def build(
        cls, prompt_mask: torch.Tensor, rows: list[int], starts: list[int], lengths: list[int],
        total: int, merged: bool | None = None, last_layer: int | None = None,
    ) -> GroupedAttention:  # fmt: skip
        """prompt_mask [U, Lp] (1 for real tokens); rows, starts, lengths: each completion's
        row, first slot in it and token count; total: the rows' length L; merged: the
        completions' attention as the cascade's log-sum-exp merge (None: where it has fused
        kernels, CPU) or masked sdpa over copied prompt keys; last_layer: the text model's
        last layer index, whose prompt queries but the last are skipped (the caller reads no
        output before the last prompt token's), None: none skipped."""
        count, prompt_len = prompt_mask.shape
        device = prompt_mask.device
        n, longest = len(rows), max(lengths)
        step = torch.arange(longest, device=device)
        start = torch.as_tensor(starts, device=device)[:, None]
        length = torch.as_tensor(lengths, device=device)[:, None]
        positions = start + torch.minimum(step[None, :], length - 1)  # [n, Lm]
        row_index = torch.as_tensor(rows, device=device)
        mask = None
        if merged is None:
            merged = has_fused_kernels(device)
        if not merged:  # the merge needs none
            own = (step[None, None, :] <= step[None, :, None]) & (step < length)[:, None, :]
            sees = prompt_mask.bool()[row_index][:, None, :].expand(n, longest, prompt_len)
            mask = torch.cat([sees, own], dim=2)[:, None]  # [n, 1, Lm, Lp + Lm]
        output_index = torch.full((count, total - prompt_len), n * longest, dtype=torch.long)
        for i, (row, first, size) in enumerate(zip(rows, starts, lengths, strict=True)):
            slots = slice(first - prompt_len, first - prompt_len + size)
            output_index[row, slots] = i * longest + torch.arange(size)
        padding = (prompt_len - prompt_mask.long().sum(dim=1)).tolist()
        return cls(
            prompt_len,
            row_index,
            positions,
            mask,
            output_index.to(device),
            tuple(padding),
            PrefixRows(prompt_mask, row_index),
            last_layer,
        )


def grouped_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    grouped_attention: GroupedAttention | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: query [U, H, L, D], key and value
    [U, Hkv, L, D] -> [U, L, H, D]. Without `grouped_attention`: sdpa as transformers runs it."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if grouped_attention is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    layout = grouped_attention
    if kwargs.get("sliding_window") is not None:
        raise ValueError("grouped attention supports full-attention layers only")
    if query.shape[2] != layout.prompt_len + layout.output_index.shape[1]:
        raise ValueError(
            f"grouped attention: a layout of {layout.prompt_len} prompt + "
            f"{layout.output_index.shape[1]} completion slots, queries of {query.shape[2]}"
        )
    attend = functools.partial(sdpa_attention_forward, module, dropout=dropout, scaling=scaling)
    prompt_len = layout.prompt_len
    # the prompt: causal past each row's left padding (padding slots: zeros, nothing reads
    # them). In the last layer only the last prompt token's query: the logits are read from
    # there on, so no other prompt position's output is (as last_layer.py does for the cache)
    last = module.layer_idx == layout.last_layer
    prompt_out = []
    for row, first in enumerate(layout.prompt_starts):
        part = (slice(row, row + 1), slice(None), slice(first, prompt_len))
        queries = query[row : row + 1, :, prompt_len - 1 : prompt_len] if last else query[part]
        out, _ = attend(queries, key[part], value[part], None, is_causal=not last)
        skipped = prompt_len - out.shape[1]
        if skipped:
            out = torch.cat([out.new_zeros(1, skipped, *out.shape[2:]), out], dim=1)
        prompt_out.append(out)
    # the completions: each its row's prompt keys, then its own
    rows, positions = layout.rows, layout.positions

    def completions(states: torch.Tensor) -> torch.Tensor:  # [U, h, L, D] -> [n, h, Lm, D]
        return states.transpose(1, 2)[rows[:, None], positions].transpose(1, 2)

    def with_prompt(states: torch.Tensor) -> torch.Tensor:  # -> [n, h, Lp + Lm, D]
        return torch.cat([states[rows, :, :prompt_len], completions(states)], dim=2)

    if layout.mask is None:  # CPU: the cascade's merge, fused kernels forward and backward
        prompt = [t[:, :, :prompt_len] for t in (key, value)]
        prefix = [t[group] for group, _ in layout.prefix_rows.groups for t in prompt]
        out = merged_attention(
            completions(query), completions(key), completions(value), layout.prefix_rows,
            prefix, scaling,
        )  # fmt: skip
    else:
        out, _ = attend(completions(query), with_prompt(key), with_prompt(value), layout.mask)
    layout.calls.append(getattr(module, "layer_idx", None))
    flat = out.flatten(0, 1)  # [n * Lm, H, D]
    flat = torch.cat([flat, flat.new_zeros(1, *flat.shape[1:])])
    return torch.cat([torch.cat(prompt_out), flat[layout.output_index]], dim=1), None


@functools.cache
def _register() -> None:
    # imported here: transformers' modeling utils import torchvision, which needs
    # video_r1.compat's shim first (done by model loading, before any grouped pass)
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(GROUPED_ATTENTION, grouped_attention_forward)
    # the masks of every other forward (generation's padded prompts) built as for sdpa
    AttentionMaskInterface.register(GROUPED_ATTENTION, sdpa_mask)


def use_grouped_attention(text_config) -> bool:
    """Switch a text model on sdpa to `GROUPED_ATTENTION` (in place; sdpa for every forward
    without a grouped layout). Returns whether its attention now runs the split path."""
    if text_config._attn_implementation == "sdpa":
        _register()
        text_config._attn_implementation = GROUPED_ATTENTION
    return text_config._attn_implementation == GROUPED_ATTENTION
